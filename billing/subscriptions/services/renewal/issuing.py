"""Renewal invoices.

A recurring subscription that is ACTIVE, not cancelled and not paused gets its renewal invoice
``renewal_lead_days`` before ``expires_at``:

- the new period starts at ``expires_at`` and ends one billing period later on the subscription's
  anchor day (Jan 31 → Feb 28 → Mar 31); the invoice's due date is the end of the current period
  (the grace period covers lateness);
- one SUBSCRIPTION line for the pending plan of a scheduled downgrade, else the plan, at its
  current price and in its currency;
- one ADD_ON line per ACTIVE recurring add-on subscription bound to the subscription whose own
  period runs out before the end of the new period (an add-on with a longer period than the plan
  is billed on the renewal in which it ends), extending it by its own period from its own end;
  its price converted into the plan's currency at the current rates;
- the subscription's payment method when it is still available, else the default method; tax
  for the buyer's billing details now. No payment fee line: checkout alone adds one;
- while the subscription keeps a recurring discount, a DISCOUNT line after each line its coupon
  covers; each renewal issued counts ``discount_periods_remaining`` down, and at zero (or when
  the coupon covers no line of the renewal any more, after a downgrade) the discount ends.

A zero total (a free plan) is captured at once, like at checkout. Paying a renewal extends the
subscription from the old end and grants the plan's tokens again (the SUBSCRIPTION line handler).

At most one live renewal exists per (subscription, period start) — a database constraint — and
none is issued while another renewal of the subscription is still open (after a staff extension
that open invoice renews from the new end). The scheduled job also leaves alone a period whose
renewal was voided (a voided renewal lets the subscription run into PAST_DUE / EXPIRED); an
explicit ``renewal_invoice_issue`` (reactivation, downgrade, cancelled downgrade) issues anew.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from audit.models import ActorType
from audit.services import audit_batch, audit_record
from billing.catalog.models import BillingPeriod, Currency, PaymentMethod, Plan
from billing.catalog.periods import period_end, period_label
from billing.catalog.pricing import convert
from billing.catalog.selectors import currencies_by_code
from billing.catalog.services.payment_methods import payment_method_is_available
from billing.coupons.discounts import with_discounts
from billing.coupons.models import DISCOUNT_LINE, Coupon
from billing.invoices.models import OPEN_STATUSES, Invoice, InvoiceStatus, InvoiceType, LineType
from billing.invoices.services import (
    BUYER_DETAIL_FIELDS,
    InvoiceSpec,
    LineDraft,
    buyer_snapshot_of,
    invoice_capture_zero,
    invoices_issue_bulk,
)
from billing.invoices.services.issuing import buyer_snapshot
from billing.invoices.tax import TaxTreatment, tax_treatment
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.services.renewal.batches import AnyOf, logger
from platform_settings.selectors import platform_settings_get

JOB_NAME = "renewals_issue_due"
EXPLICIT_LABEL = "renewal_invoice_issue"
DEFAULT_BATCH_SIZE = 1000

RELATED = ("user", "user__details", "plan", "pending_plan")
# What issuing reads of a plan; the job reads these and the buyer's billing details as values.
_PLAN_FIELDS = ("name", "price", "currency", "billing_period")
_DUE_FIELDS = (
    "pk", "user_id", "user__email", "plan_id", "pending_plan_id", "payment_method",
    "current_period_start", "expires_at", "anchor_day", "charge_attempts",
    "discount_coupon_id", "discount_periods_remaining",
    *(f"user__details__{name}" for name in BUYER_DETAIL_FIELDS),
    *(f"plan__{name}" for name in _PLAN_FIELDS),
    *(f"pending_plan__{name}" for name in _PLAN_FIELDS),
)  # fmt: skip


def _span(start: datetime.datetime, end: datetime.datetime) -> str:
    return f"{start:%Y-%m-%d} – {end:%Y-%m-%d}"


def anchor_day(subscription: Subscription) -> int:
    """The day of month the subscription's periods keep: ``anchor_day`` when stored, else the
    later day of the current period's start and end (a start on the 31st clamped to Feb 28 ends
    on Mar 31, so the larger day is the anchor)."""
    if subscription.anchor_day:
        return subscription.anchor_day
    start = subscription.current_period_start or subscription.expires_at
    return max(start.day, subscription.expires_at.day)


def renewal_period(subscription: Subscription) -> tuple[datetime.datetime, datetime.datetime]:
    """(start, end) of the period the next renewal bills: from ``expires_at``, one period of the
    plan it renews to (the pending plan of a scheduled downgrade)."""
    plan = subscription.pending_plan or subscription.plan
    start = subscription.expires_at
    return start, period_end(start, plan.billing_period, anchor_day=anchor_day(subscription))


def open_renewal_invoice(subscription: Subscription) -> Invoice | None:
    """The subscription's unpaid (PENDING / OVERDUE) renewal invoice, the latest period first."""
    return (
        Invoice.objects.filter(
            subscription_id=subscription.pk,
            invoice_type=InvoiceType.RENEWAL,
            status__in=OPEN_STATUSES,
        )
        .order_by("-period_start", "-invoiced_at")
        .first()
    )


def _renewal_blocking_q(*, voided_blocks: bool) -> Exists:
    """An open renewal of the outer subscription, or a live one (with ``voided_blocks``: any)
    for the period starting at its ``expires_at``."""
    same_period = Q(period_start=OuterRef("expires_at"))
    if not voided_blocks:
        same_period &= ~Q(status=InvoiceStatus.CANCELLED)
    return Exists(
        Invoice.objects.filter(
            subscription_id=OuterRef("pk"), invoice_type=InvoiceType.RENEWAL
        ).filter(same_period | Q(status__in=OPEN_STATUSES))
    )


def renewal_candidates(*, horizon: datetime.datetime) -> QuerySet[Subscription]:
    """ACTIVE, not cancelled, recurring subscriptions whose period ends by ``horizon`` (now +
    lead days), whether or not their renewal exists yet."""
    return Subscription.objects.filter(
        status=SubscriptionStatus.ACTIVE,
        cancelled_at__isnull=True,
        expires_at__isnull=False,
        expires_at__lte=horizon,
    ).exclude(plan__billing_period=BillingPeriod.ONE_TIME)


def due_for_renewal(*, horizon: datetime.datetime) -> QuerySet[Subscription]:
    """The renewal candidates that have no renewal for the coming period yet (the scheduled
    job's selection)."""
    return renewal_candidates(horizon=horizon).filter(~_renewal_blocking_q(voided_blocks=True))


@dataclass
class _Catalog:
    """What one batch of renewals reads once: currencies and payment methods."""

    currencies: dict[str, Currency]
    methods: dict[str, PaymentMethod]
    default_method: PaymentMethod | None

    @classmethod
    def load(cls) -> _Catalog:
        methods = {method.code: method for method in PaymentMethod.objects.all()}
        default = next((method for method in methods.values() if method.is_default), None)
        return cls(currencies=currencies_by_code(), methods=methods, default_method=default)

    def method_for(self, code: str | None) -> PaymentMethod | None:
        method = self.methods.get(code) if code else None
        if method is not None and payment_method_is_available(method):
            return method
        return self.default_method

    def price_in(self, amount, code: str, currency: Currency):
        source = self.currencies[code]
        return convert(
            amount,
            from_rate=source.exchange_rate,
            to_rate=currency.exchange_rate,
            places=currency.decimal_places,
        )


def _addon_draft(item: AddOnSubscription, catalog: _Catalog, currency: Currency) -> LineDraft:
    addon = item.addon
    start = item.expires_at
    anchor = item.starts_at.day if item.starts_at else None
    end = period_end(start, addon.billing_period, anchor_day=anchor)
    label = period_label(addon.billing_period)
    return LineDraft(
        type=LineType.ADD_ON,
        description=f"{addon.name} ({label}) {_span(start, end)}",
        unit_price=catalog.price_in(addon.price, addon.currency, currency),
        item_id=item.pk,
        catalog_item_id=addon.pk,
        period_start=start,
        period_end=end,
    )


class _Discounts:
    """The recurring discounts of one batch: their coupons (one query) and the tax treatment
    per buyer (the discount is taken off the net the invoice will show)."""

    def __init__(self, subscriptions: list):
        ids = {sub.discount_coupon_id for sub in subscriptions if _discounted(sub)}
        self.coupons = Coupon.objects.in_bulk(ids) if ids else {}
        self.treatments: dict[tuple, TaxTreatment] = {}
        self.on = timezone.now().date()
        self.seller_country = None

    def coupon_for(self, subscription) -> Coupon | None:
        if not _discounted(subscription):
            return None
        return self.coupons.get(subscription.discount_coupon_id)

    def treatment_for(self, buyer: dict) -> TaxTreatment:
        key = (buyer["country"], buyer["vat_id"])
        treatment = self.treatments.get(key)
        if treatment is None:
            if self.seller_country is None:
                self.seller_country = platform_settings_get().address_country or "DE"
            treatment = self.treatments[key] = tax_treatment(
                buyer_country=buyer["country"],
                buyer_vat_id=buyer["vat_id"],
                seller_country=self.seller_country,
                on=self.on,
            )
        return treatment


def _discounted(subscription) -> bool:
    remaining = subscription.discount_periods_remaining
    return subscription.discount_coupon_id is not None and (remaining is None or remaining > 0)


def _renewal_spec(
    subscription: Subscription,
    addons: list[AddOnSubscription],
    catalog: _Catalog,
    *,
    actor_label: str,
    discounts: _Discounts | None = None,
) -> InvoiceSpec:
    plan: Plan = subscription.pending_plan or subscription.plan
    currency = catalog.currencies[plan.currency]
    start, end = renewal_period(subscription)
    label = period_label(plan.billing_period)
    drafts = [
        LineDraft(
            type=LineType.SUBSCRIPTION,
            description=f"{plan.name} ({label}) {_span(start, end)}",
            unit_price=plan.price,
            item_id=subscription.pk,
            catalog_item_id=plan.pk,
            period_start=start,
            period_end=end,
        )
    ]
    drafts += [
        _addon_draft(item, catalog, currency)
        for item in addons
        if item.expires_at is not None and item.expires_at <= end
    ]
    coupon = discounts.coupon_for(subscription) if discounts is not None else None
    treatment = None
    if coupon is not None:
        buyer = getattr(subscription, "buyer", None) or buyer_snapshot(subscription.user)
        treatment = discounts.treatment_for(buyer)
        drafts = with_discounts(drafts, coupon, treatment=treatment, places=currency.decimal_places)
    return InvoiceSpec(
        user=subscription.user,
        buyer=getattr(subscription, "buyer", None),
        invoice_type=InvoiceType.RENEWAL,
        currency=currency,
        drafts=drafts,
        payment_method=catalog.method_for(subscription.payment_method),
        subscription_id=subscription.pk,
        tarif_plan_id=plan.pk,
        due_date=subscription.expires_at,
        period_start=start,
        period_end=end,
        treatment=treatment,
        actor_type=ActorType.SYSTEM,
        actor_label=actor_label,
    )


def _bound_addons(subscriptions: list[Subscription]) -> dict:
    """subscription id -> its ACTIVE recurring add-on subscriptions, oldest first (one query)."""
    rows = (
        AddOnSubscription.objects.select_related("addon")
        .filter(
            AnyOf("subscription_id", [subscription.pk for subscription in subscriptions]),
            status=AddOnSubscriptionStatus.ACTIVE,
            cancelled_at__isnull=True,
            expires_at__isnull=False,
        )
        .exclude(addon__billing_period=BillingPeriod.ONE_TIME)
        .order_by("created_at", "pk")
    )
    by_subscription: dict = {}
    for row in rows:
        by_subscription.setdefault(row.subscription_id, []).append(row)
    return by_subscription


def issue_renewals(
    subscriptions: list[Subscription], *, now: datetime.datetime, actor_label: str
) -> list[Invoice]:
    """Issues the renewal invoice of each subscription (rows locked by the caller, with
    ``RELATED`` loaded) in the caller's transaction, at a constant number of queries; zero
    totals are captured at once. The caller has checked that each one is due."""
    if not subscriptions:
        return []
    catalog = _Catalog.load()
    addons = _bound_addons(subscriptions)
    discounts = _Discounts(subscriptions)
    specs = [
        _renewal_spec(
            subscription,
            addons.get(subscription.pk, []),
            catalog,
            actor_label=actor_label,
            discounts=discounts,
        )
        for subscription in subscriptions
    ]
    invoices = invoices_issue_bulk(specs, now=now)
    if discounts.coupons:
        _discount_periods_count_down(subscriptions, specs, discounts)
    # Charges counted for the previous renewal no longer apply.
    tried = [subscription.pk for subscription in subscriptions if subscription.charge_attempts]
    if tried:
        Subscription.objects.filter(pk__in=tried).update(charge_attempts=0)
    for invoice in invoices:
        if invoice.total_amount == 0:
            invoice_capture_zero(invoice_id=invoice.pk, actor_type=ActorType.SYSTEM)
    return invoices


def _discount_periods_count_down(subscriptions: list, specs: list, discounts: _Discounts) -> None:
    """Each discounted renewal uses up one period of its subscription's discount; a discount at
    zero, or whose coupon no longer covers a line of the renewal, ends (audited)."""
    counted, ended = [], []
    for subscription, spec in zip(subscriptions, specs, strict=True):
        coupon = discounts.coupon_for(subscription)
        if coupon is None:
            continue
        remaining = subscription.discount_periods_remaining
        discounted = any(draft.type == DISCOUNT_LINE for draft in spec.drafts)
        if not discounted or remaining == 1:
            ended.append((subscription, coupon))
        elif remaining is not None:
            counted.append(subscription.pk)
    if counted:
        Subscription.objects.filter(pk__in=counted).update(
            discount_periods_remaining=F("discount_periods_remaining") - 1
        )
    if ended:
        Subscription.objects.filter(pk__in=[sub.pk for sub, _coupon in ended]).update(
            discount_coupon=None, discount_periods_remaining=None, discount_started_at=None
        )
        with audit_batch():
            for subscription, coupon in ended:
                audit_record(
                    action="subscription.discount_ended",
                    object_type="subscription",
                    object_id=subscription.pk,
                    subject_user_id=subscription.user.pk,
                    summary=f"Discount {coupon.code} ended with the renewal",
                    actor_type=ActorType.SYSTEM,
                    before={"discount_coupon": coupon.code},
                    after={"discount_coupon": None},
                )


def _without_renewal(subscriptions: list) -> list:
    """Those of ``subscriptions`` (rows, or anything with ``pk`` and ``expires_at``) without a
    renewal that blocks a new one (the job's rule: an open renewal, or any renewal of the coming
    period). One indexed query; run after locking, it also sees renewals that another run
    committed after the rows were selected."""
    if not subscriptions:
        return []
    rows = set(
        Invoice.objects.filter(
            AnyOf("subscription_id", [subscription.pk for subscription in subscriptions]),
            invoice_type__in=(InvoiceType.RENEWAL, InvoiceType.CHECKOUT),
        ).values_list("subscription_id", "period_start", "status", "invoice_type")
    )
    taken = {row[:3] for row in rows if row[3] == InvoiceType.RENEWAL}
    # An open renewal blocks a new one; so does a trial whose own (CHECKOUT) invoice is still
    # unpaid, e.g. extended by staff: paying that invoice starts the first period.
    open_for = {
        subscription_id
        for subscription_id, _start, status, _type in rows
        if status in OPEN_STATUSES
    }
    periods = {(subscription_id, start) for subscription_id, start, _status in taken}
    return [
        subscription
        for subscription in subscriptions
        if subscription.pk not in open_for
        and (subscription.pk, subscription.expires_at) not in periods
    ]


@dataclass(frozen=True)
class _Candidate:
    pk: object
    expires_at: datetime.datetime


@dataclass(slots=True)
class _DueSubscription:
    """What issuing reads of a subscription the job renews (the attributes of the same name of
    ``Subscription``), read as values: one plan object per plan of the batch, a user with only
    its email, and the buyer snapshot from the billing details."""

    pk: object
    user: User
    plan: Plan
    pending_plan: Plan | None
    payment_method: str | None
    current_period_start: datetime.datetime | None
    expires_at: datetime.datetime
    anchor_day: int | None
    charge_attempts: int
    discount_coupon_id: object
    discount_periods_remaining: int | None
    buyer: dict


def _due_subscriptions(rows) -> list[_DueSubscription]:
    """``_DUE_FIELDS`` value rows as ``_DueSubscription``s."""
    plans: dict = {}
    plan_fields = ["id", *_PLAN_FIELDS]

    def plan_of(plan_id, values):
        if plan_id is None:
            return None
        plan = plans.get(plan_id)
        if plan is None:
            plan = plans[plan_id] = Plan.from_db(None, plan_fields, (plan_id, *values))
        return plan

    details_at = 12
    plan_at = details_at + len(BUYER_DETAIL_FIELDS)
    pending_at = plan_at + len(_PLAN_FIELDS)
    due = []
    for row in rows:
        (pk, user_id, email, plan_id, pending_plan_id, method, period_start, expires_at, anchor,
         attempts, discount_coupon_id, discount_periods) = row[:details_at]  # fmt: skip
        details = dict(zip(BUYER_DETAIL_FIELDS, row[details_at:plan_at], strict=True))
        due.append(
            _DueSubscription(
                pk=pk,
                user=User.from_db(None, ["id", "email"], (user_id, email)),
                plan=plan_of(plan_id, row[plan_at:pending_at]),
                pending_plan=plan_of(pending_plan_id, row[pending_at:]),
                payment_method=method,
                current_period_start=period_start,
                expires_at=expires_at,
                anchor_day=anchor,
                charge_attempts=attempts,
                discount_coupon_id=discount_coupon_id,
                discount_periods_remaining=discount_periods,
                buyer=buyer_snapshot_of(email=email, details=details),
            )
        )
    return due


def _lookups_by_index() -> None:
    """Tells PostgreSQL's planner, for the rest of the current transaction, to look rows up by
    their indexes. A run inserts invoices far faster than autovacuum refreshes the invoice
    table's statistics; with statistics that describe a nearly empty table, the planner reads
    the whole table for each batch's lookup of renewals by subscription (tens of milliseconds
    per batch once it holds 100,000 invoices) instead of the few index entries it needs. Every
    query of a batch is an index lookup, so the setting changes no other plan."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")


def _claim_due(candidates: QuerySet, *, after, batch_size: int) -> tuple[object, list]:
    """The next ``batch_size`` candidates after ``after`` (keyset on the primary key), those
    without a renewal locked (``SKIP LOCKED``) with what issuing reads (as values, not model
    instances), and checked again once locked. Returns (the last candidate seen, the locked
    subscriptions to renew). Deciding on renewals by one indexed lookup per batch, instead of an
    anti-join in the locking query, keeps the plan cheap however stale the invoice table's
    statistics are during a run."""
    _lookups_by_index()
    rows = candidates.order_by("pk")
    if after is not None:
        rows = rows.filter(pk__gt=after)
    seen = [_Candidate(pk, end) for pk, end in rows.values_list("pk", "expires_at")[:batch_size]]
    if not seen:
        return None, []
    unrenewed = [candidate.pk for candidate in _without_renewal(seen)]
    if not unrenewed:
        return seen[-1].pk, []
    locked = _due_subscriptions(
        candidates.select_for_update(skip_locked=True, of=("self",))
        .filter(AnyOf("pk", unrenewed))
        .order_by("pk")
        .values_list(*_DUE_FIELDS)
    )
    return seen[-1].pk, _without_renewal(locked)


def renewal_is_due(subscription: Subscription, *, now: datetime.datetime) -> bool:
    """ACTIVE, not cancelled, recurring, and its period ends within the renewal lead time."""
    if subscription.status != SubscriptionStatus.ACTIVE or subscription.cancelled_at is not None:
        return False
    if subscription.expires_at is None or not subscription.is_recurring:
        return False
    lead = datetime.timedelta(days=platform_settings_get().renewal_lead_days)
    return subscription.expires_at <= now + lead


def renewal_invoice_issue(
    *, subscription_id, now: datetime.datetime | None = None
) -> Invoice | None:
    """Issues the renewal invoice of the coming period when the subscription is due for one
    (ACTIVE, recurring, inside the renewal lead time) and neither a live renewal for that period
    nor another open renewal exists; otherwise returns None. Locks the subscription; runs in the
    caller's transaction when there is one; idempotent."""
    now = now or timezone.now()
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related(*RELATED)
            .filter(pk=subscription_id)
            .first()
        )
        if subscription is None or not renewal_is_due(subscription, now=now):
            return None
        blocked = (
            Subscription.objects.filter(pk=subscription.pk)
            .filter(_renewal_blocking_q(voided_blocks=False))
            .exists()
        ) or Invoice.objects.filter(
            subscription_id=subscription.pk,
            invoice_type=InvoiceType.CHECKOUT,
            status__in=OPEN_STATUSES,
        ).exists()
        if blocked:
            return None
        return issue_renewals([subscription], now=now, actor_label=EXPLICIT_LABEL)[0]


def renewals_issue_due(
    *, batch_size: int = DEFAULT_BATCH_SIZE, now: datetime.datetime | None = None
) -> int:
    """Issues the renewal invoice of every subscription due for one (see the module docstring),
    a batch of invoices per transaction with consecutive numbers; concurrent runs share the
    subscriptions and never bill a period twice. Returns how many invoices were issued."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    horizon = now + datetime.timedelta(days=platform_settings_get().renewal_lead_days)
    candidates = renewal_candidates(horizon=horizon)
    issued = 0
    after = None
    while True:
        batch: list[Subscription] = []
        try:
            with transaction.atomic():
                last, batch = _claim_due(candidates, after=after, batch_size=batch_size)
                if last is None:
                    return issued
                after = last
                issued += len(issue_renewals(batch, now=now, actor_label=JOB_NAME))
        except IntegrityError:
            # Another issuer committed one of these renewals between the check and the insert:
            # the batch rolled back whole (its numbers too); issue its subscriptions one by one.
            logger.info("%s: batch after %s retried one by one", JOB_NAME, after)
            for subscription in batch:
                issued += _issue_one(subscription.pk, now=now)


def _issue_one(subscription_id, *, now: datetime.datetime) -> int:
    horizon = now + datetime.timedelta(days=platform_settings_get().renewal_lead_days)
    try:
        with transaction.atomic():
            subscription = (
                due_for_renewal(horizon=horizon)
                .select_for_update(of=("self",))
                .select_related(*RELATED)
                .filter(pk=subscription_id)
                .first()
            )
            if subscription is None or not _without_renewal([subscription]):
                return 0
            return len(issue_renewals([subscription], now=now, actor_label=JOB_NAME))
    except IntegrityError:  # issued by another run meanwhile
        return 0
