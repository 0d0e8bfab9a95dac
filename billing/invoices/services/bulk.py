"""Issuing many invoices at once (renewal runs): the same invoices ``invoice_issue`` writes, at a
constant number of queries per call.

Tax per line (one tax treatment per buyer country and VAT id, one seller snapshot), the
invoices, lines and audit entries and the values of their rows are computed first; then one
transaction allocates a block of consecutive numbers with one locked update of the counter row,
writes the numbers into the prepared rows and inserts invoices, lines and audit entries with one
COPY each. The counter row stays locked until the caller's transaction ends, so the series stays
gapless and concurrent issuers queue only for the inserts; everything before the allocation runs
in parallel.
"""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import audit_entry_build
from billing.catalog.models import Currency, PaymentMethod
from billing.invoices.models import Invoice, InvoiceLine
from billing.invoices.pdf_store import pdfs_store_on_commit
from billing.invoices.services.issuing import (
    LineDraft,
    build_lines,
    buyer_snapshot,
    issued_audit,
    issued_summary,
    pending_invoice,
    seller_snapshot,
)
from billing.invoices.services.numbering import INVOICE_SERIES, number_allocate
from billing.invoices.signals import invoice_issued
from billing.invoices.tax import TaxTreatment, tax_treatment
from platform_settings.selectors import platform_settings_get
from plugins.signals import send_all_on_commit


@dataclass
class InvoiceSpec:
    """One invoice for ``invoices_issue_bulk``; the fields mean what ``invoice_issue``'s
    arguments of the same name mean. ``user`` should come with ``details`` loaded."""

    user: Any
    invoice_type: str
    currency: Currency
    drafts: list[LineDraft]
    payment_method: PaymentMethod | None = None
    subscription_id: Any = None
    tarif_plan_id: Any = None
    due_date: datetime.datetime | None = None
    period_start: datetime.datetime | None = None
    period_end: datetime.datetime | None = None
    treatment: TaxTreatment | None = None
    actor: Any = None
    actor_type: str | None = None
    actor_label: str | None = None
    # The buyer snapshot when the caller read the billing details itself (else from ``user``).
    buyer: dict | None = None


class _Treatments:
    """Tax treatments of one batch, one per (buyer country, VAT id)."""

    def __init__(self, *, on: datetime.date):
        self.on = on
        self.seller_country = platform_settings_get().address_country or "DE"
        self.cache: dict[tuple, TaxTreatment] = {}

    def for_buyer(self, buyer: dict) -> TaxTreatment:
        key = (buyer["country"], buyer["vat_id"])
        treatment = self.cache.get(key)
        if treatment is None:
            treatment = tax_treatment(
                buyer_country=buyer["country"],
                buyer_vat_id=buyer["vat_id"],
                seller_country=self.seller_country,
                on=self.on,
            )
            self.cache[key] = treatment
        return treatment


def _column_values(model: type[models.Model]):
    """Per concrete field: (column, function from an instance to the value COPY writes)."""
    now = timezone.now()
    columns = []
    for model_field in model._meta.concrete_fields:
        attname = model_field.attname
        if getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):

            def value(instance, attname=attname):
                setattr(instance, attname, now)
                return now

        elif isinstance(model_field, models.JSONField):
            # Consecutive rows often share one object (a batch's seller snapshot): it is encoded
            # once (the object is held, so its identity cannot be reused meanwhile).
            last: list = [None, None]

            def value(instance, attname=attname, encoder=model_field.encoder, last=last):
                data = getattr(instance, attname)
                if data is None:
                    return None
                if data is not last[0]:
                    last[:] = [data, json.dumps(data, cls=encoder)]
                return last[1]

        else:

            def value(instance, attname=attname):
                return getattr(instance, attname)

        columns.append((model_field.column, value))
    return columns


@dataclass
class CopyRows:
    """The rows of one COPY into ``model``'s table, their values taken from the instances in
    Python ahead of time, so that the statement itself only streams them."""

    model: type[models.Model]
    instances: list[models.Model]
    columns: list[str]
    rows: list[list]

    def column(self, name: str) -> int:
        """The position of column ``name`` in each row (to fill it in later)."""
        return self.columns.index(name)


def rows_prepare(model: type[models.Model], instances: list[models.Model]) -> CopyRows:
    """The COPY rows of new ``instances`` of ``model`` (every concrete field set in Python:
    primary keys, defaults; ``auto_now`` fields are set to now)."""
    columns = _column_values(model)
    rows = []
    if connection.vendor == "postgresql":  # elsewhere bulk_create reads the instances
        rows = [[value(instance) for _column, value in columns] for instance in instances]
    return CopyRows(
        model=model,
        instances=instances,
        columns=[column for column, _value in columns],
        rows=rows,
    )


def rows_copy(prepared: CopyRows) -> None:
    """Inserts prepared rows in the current transaction: one COPY on PostgreSQL, whose values
    psycopg adapts in C, else ``bulk_create`` of the instances. A batch of renewals spends most
    of its time here otherwise."""
    model, instances = prepared.model, prepared.instances
    if not instances:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(instances)
        return
    quote = connection.ops.quote_name
    statement = (
        f"COPY {quote(model._meta.db_table)} "
        f"({', '.join(quote(column) for column in prepared.columns)}) FROM STDIN"
    )
    started = time.monotonic()
    # Django's error classes (IntegrityError …) as for any query: callers catch those.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(statement) as copy,
    ):
        write_row = copy.write_row
        for row in prepared.rows:
            write_row(row)
    if connection.queries_logged:  # counted like any query (debug, query-count tests)
        connection.queries_log.append(
            {
                "sql": f"{statement} -- {len(instances)} rows",
                "time": f"{time.monotonic() - started:.3f}",
            }
        )
    for instance in instances:
        instance._state.adding = False
        instance._state.db = connection.alias


def rows_insert(model: type[models.Model], instances: list[models.Model]) -> None:
    """Inserts new ``instances`` of ``model`` (every concrete field set in Python) in the
    current transaction, with one COPY on PostgreSQL (see ``rows_copy``)."""
    if instances:
        rows_copy(rows_prepare(model, instances))


def invoices_issue_bulk(
    specs: list[InvoiceSpec], *, now: datetime.datetime | None = None
) -> list[Invoice]:
    """Issues one PENDING invoice per spec, numbered consecutively in the order given, with
    taxed lines, snapshots and one audit entry each, in one transaction (the caller's, if any);
    ``invoice_issued`` is sent per invoice after commit. Queries: a constant handful (tax rates
    per distinct buyer country), whatever the number of specs."""
    if not specs:
        return []
    now = now or timezone.now()
    settings = platform_settings_get()
    seller = seller_snapshot()
    treatments = _Treatments(on=now.date())
    terms = datetime.timedelta(days=settings.payment_terms_days)

    # Everything but the numbers is built before the counter row is locked, so that concurrent
    # issuers hold it only for the inserts.
    invoices: list[Invoice] = []
    all_lines: list[InvoiceLine] = []
    entries = []
    amounts_cache: dict = {}  # the same plan at the same price is taxed once per batch
    for spec in specs:
        if not spec.drafts:
            raise ValueError("An invoice needs at least one line")
        buyer = spec.buyer if spec.buyer is not None else buyer_snapshot(spec.user)
        treatment = spec.treatment or treatments.for_buyer(buyer)
        lines = build_lines(
            spec.drafts,
            treatment=treatment,
            places=spec.currency.decimal_places,
            amounts_cache=amounts_cache,
        )
        total = sum((line.gross_amount for line in lines), Decimal(0))
        if total < 0:
            raise ValueError("An invoice total cannot be negative")
        invoice = pending_invoice(
            number="",
            invoice_type=spec.invoice_type,
            user=spec.user,
            currency=spec.currency,
            lines=lines,
            total=total,
            treatment=treatment,
            payment_method=spec.payment_method,
            subscription_id=spec.subscription_id,
            tarif_plan_id=spec.tarif_plan_id,
            period_start=spec.period_start,
            period_end=spec.period_end,
            buyer=buyer,
            seller=seller,
            now=now,
            due_date=spec.due_date or now + terms,
        )
        for line in lines:
            line.invoice = invoice
        all_lines.extend(lines)
        invoices.append(invoice)
        # Built by audit_entry_build exactly as audit_record writes them; the summary, which
        # names the number, is written once the number is known.
        entries.append(
            audit_entry_build(
                **issued_audit(
                    invoice,
                    user=spec.user,
                    actor=spec.actor,
                    actor_type=spec.actor_type,
                    actor_label=spec.actor_label,
                )
            )
        )
    invoice_rows = rows_prepare(Invoice, invoices)
    line_rows = rows_prepare(InvoiceLine, all_lines)
    entry_rows = rows_prepare(AuditEntry, entries)
    number_at = invoice_rows.column("invoice_number")
    summary_at = entry_rows.column("summary")

    def as_loaded():
        # As if loaded: the immutability guard of a later save() compares with these.
        for invoice in invoices:
            invoice._loaded = {attname: getattr(invoice, attname) for attname in attnames}
            invoice._prefetched_objects_cache = {}

    attnames = [model_field.attname for model_field in Invoice._meta.concrete_fields]
    as_loaded()

    # No savepoint of its own: a failed insert rolls back the caller's whole transaction.
    with transaction.atomic(savepoint=False):
        # Numbers last: the counter row stays locked from here to the commit.
        numbers = number_allocate(series=INVOICE_SERIES, year=now.year, count=len(invoices))
        for index, (number, invoice, entry, spec) in enumerate(
            zip(numbers, invoices, entries, specs, strict=True)
        ):
            invoice.invoice_number = invoice._loaded["invoice_number"] = number
            entry.summary = issued_summary(invoice, user=spec.user)[:500]
            if invoice_rows.rows:
                invoice_rows.rows[index][number_at] = number
                entry_rows.rows[index][summary_at] = entry.summary
        rows_copy(invoice_rows)
        rows_copy(line_rows)
        rows_copy(entry_rows)
        if not invoice_rows.rows:  # bulk_create (not PostgreSQL) set the timestamps itself
            as_loaded()

        send_all_on_commit(
            Invoice, [(invoice_issued, {"invoice": invoice}) for invoice in invoices]
        )
        pdfs_store_on_commit(invoice_ids=[invoice.pk for invoice in invoices])
    return invoices
