"""The UN/CEFACT Cross Industry Invoice (CII) XML of the EN 16931 model, in two profiles.

- ``en16931``: Factur-X / ZUGFeRD, profile EN 16931 ("COMFORT"): the XML embedded in the PDF.
- ``xrechnung``: XRechnung 3.0 (CII syntax), the German standard for invoices to public
  buyers; stricter about contact data and the buyer reference (Leitweg-ID).

Before anything is written the model is checked for the fields its profile requires; a missing
one raises ``EInvoiceIncomplete`` naming each field, so an invalid file is never handed out.
The XML is written with drafthorse and checked against the Factur-X EN 16931 schema.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.db import models
from drafthorse.models.accounting import ApplicableTradeTax
from drafthorse.models.document import Document
from drafthorse.models.note import IncludedNote
from drafthorse.models.party import TaxRegistration
from drafthorse.models.payment import PaymentMeans, PaymentTerms
from drafthorse.models.tradelines import LineItem
from lxml import etree

from billing.invoices.einvoice.model import (
    CREDIT_TRANSFER,
    REVERSE_CHARGE,
    SEPA_CREDIT_TRANSFER,
    EInvoice,
    EInvoiceIncomplete,
    Party,
)

UNIT_ONE = "C62"  # UN/ECE rec. 20: one (a piece, a service)
PEPPOL_BILLING = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"


@dataclass(frozen=True)
class Profile:
    key: str
    name: str
    guideline: str
    xrechnung: bool


EN16931 = Profile(
    key="en16931",
    name="a Factur-X / ZUGFeRD (EN 16931) e-invoice",
    guideline="urn:cen.eu:en16931:2017",
    xrechnung=False,
)
XRECHNUNG = Profile(
    key="xrechnung",
    name="an XRechnung e-invoice",
    guideline="urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0",
    xrechnung=True,
)
PROFILES = {profile.key: profile for profile in (EN16931, XRECHNUNG)}


class ProfileChoice(models.TextChoices):
    EN16931 = EN16931.key, "Factur-X / ZUGFeRD (EN 16931)"
    XRECHNUNG = XRECHNUNG.key, "XRechnung 3.0"


SCHEMA_PATH = (
    Path(__import__("facturx").__file__).resolve().parent
    / "xsd_and_schematron"
    / "facturx-en16931"
    / "Factur-X_EN16931.xsd"
)

SELLER_SETTING = "platform setting"
BUYER_DETAILS = "the buyer's billing details"


def parties_missing(seller: Party, buyer: Party) -> list[str]:
    """What every profile requires of the seller and the buyer that they do not carry."""
    missing = []
    if not seller.name:
        missing.append(f"seller legal name ({SELLER_SETTING} company_name)")
    if not seller.country:
        missing.append(f"seller country ({SELLER_SETTING} address_country)")
    if not seller.vat_id:
        missing.append(f"seller VAT id ({SELLER_SETTING} vat_id)")
    elif not seller.vat_id[:2].isalpha():
        missing.append(f"seller VAT id starting with its country code ({SELLER_SETTING} vat_id)")
    if not buyer.name:
        missing.append(f"buyer name ({BUYER_DETAILS}: name or company)")
    if not buyer.country:
        missing.append(f"buyer country ({BUYER_DETAILS}: country)")
    return missing


def missing_fields(model: EInvoice, profile: Profile) -> list[str]:
    """What ``profile`` requires that the document does not carry, each named with where it is
    kept."""
    seller, buyer = model.seller, model.buyer
    missing = parties_missing(seller, buyer)

    def need(value, label: str) -> None:
        if not value:
            missing.append(label)

    if any(row.category == REVERSE_CHARGE for row in model.tax_subtotals):
        need(buyer.vat_id, f"buyer VAT id for the reverse charge ({BUYER_DETAILS}: tax_number)")
    payment = model.payment
    if payment is not None and payment.means_code in (SEPA_CREDIT_TRANSFER, CREDIT_TRANSFER):
        need(payment.iban, f"seller IBAN for the bank transfer ({SELLER_SETTING} bank_iban)")
    if profile.xrechnung:
        need(
            model.buyer_reference,
            f"buyer reference / Leitweg-ID ({BUYER_DETAILS}: buyer_reference)",
        )
        need(seller.city, f"seller city ({SELLER_SETTING} address_city)")
        need(seller.postal_code, f"seller postal code ({SELLER_SETTING} address_postal_code)")
        need(
            seller.contact_name,
            f"seller contact name ({SELLER_SETTING} company_contact_name)",
        )
        need(seller.phone, f"seller telephone ({SELLER_SETTING} company_phone)")
        need(seller.email, f"seller email ({SELLER_SETTING} company_email)")
        need(buyer.city, f"buyer city ({BUYER_DETAILS}: city)")
        need(buyer.postal_code, f"buyer postal code ({BUYER_DETAILS}: postal_code)")
        need(buyer.email, "buyer email (the buyer's account email)")
    return missing


def cii_xml(model: EInvoice, profile: Profile = EN16931, *, validate: bool = True) -> bytes:
    """The CII XML of ``model`` in ``profile``, UTF-8. Raises ``EInvoiceIncomplete`` when a
    field the profile requires is missing; ``validate`` checks the result against the schema
    (an error there is a defect, not missing data)."""
    missing = missing_fields(model, profile)
    if missing:
        raise EInvoiceIncomplete(model.number, profile.name, missing)
    xml = _document(model, profile).serialize(schema=None)
    if validate:
        schema_validate(xml)
    return xml


@functools.cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))


def schema_validate(xml: bytes) -> None:
    """Raises ``ValueError`` with the schema's first complaint when ``xml`` is not valid."""
    schema = _schema()
    root = etree.fromstring(xml)
    if not schema.validate(root):
        raise ValueError(f"E-invoice XML does not match the schema: {schema.error_log.last_error}")


# --- writing ------------------------------------------------------------------------------------


def _document(model: EInvoice, profile: Profile) -> Document:
    doc = Document()
    doc.context.guideline_parameter.id = profile.guideline
    if profile.xrechnung:
        doc.context.business_parameter.id = PEPPOL_BILLING
    doc.header.id = model.number
    doc.header.type_code = model.type_code
    doc.header.issue_date_time = model.issue_date
    for text in model.notes:
        note = IncludedNote()
        note.content = text
        doc.header.notes.add(note)

    agreement = doc.trade.agreement
    if model.buyer_reference:
        agreement.buyer_reference = model.buyer_reference
    _party(agreement.seller, model.seller, seller=True)
    _party(agreement.buyer, model.buyer, seller=False)

    doc.trade.delivery.event.occurrence = model.issue_date
    _lines(doc, model)
    _settlement(doc.trade.settlement, model)
    return doc


def _lines(doc: Document, model: EInvoice) -> None:
    places = model.places
    for line in model.lines:
        item = LineItem()
        item.document.line_id = line.line_id
        item.product.name = line.name
        item.agreement.net.amount = _amount(line.net_price, places)
        item.delivery.billed_quantity = (line.quantity, UNIT_ONE)
        item.settlement.trade_tax.type_code = "VAT"
        item.settlement.trade_tax.category_code = line.tax_category
        item.settlement.trade_tax.rate_applicable_percent = _rate(line.tax_rate)
        if line.period_start and line.period_end:
            _period(item.settlement.period, line.period_start, line.period_end)
        item.settlement.monetary_summation.total_amount = _amount(line.net_amount, places)
        doc.trade.items.add(item)


def _settlement(settlement, model: EInvoice) -> None:
    places = model.places
    settlement.currency_code = model.currency
    payment = model.payment
    if payment is not None:
        settlement.payment_reference = payment.reference
        means = PaymentMeans()
        means.type_code = payment.means_code
        if payment.means_text:
            means.information.add(payment.means_text)
        if payment.iban:
            means.payee_account.iban = payment.iban
            if payment.account_name:
                means.payee_account.account_name = payment.account_name
        if payment.bic:
            means.payee_institution.bic = payment.bic
        settlement.payment_means.add(means)
    for row in model.tax_subtotals:
        tax = ApplicableTradeTax()
        tax.calculated_amount = _amount(row.tax, places)
        tax.type_code = "VAT"
        if row.exemption_reason:
            tax.exemption_reason = row.exemption_reason
        tax.basis_amount = _amount(row.basis, places)
        tax.category_code = row.category
        if row.exemption_code:
            tax.exemption_reason_code = row.exemption_code
        tax.rate_applicable_percent = _rate(row.rate)
        settlement.trade_tax.add(tax)
    if model.period_start and model.period_end:
        _period(settlement.period, model.period_start, model.period_end)
    if model.payment_terms or model.due_date:
        terms = PaymentTerms()
        if model.payment_terms:
            terms.description = model.payment_terms
        if model.due_date:
            terms.due = model.due_date
        settlement.terms.add(terms)
    totals = settlement.monetary_summation
    totals.line_total = _amount(model.line_total, places)
    totals.charge_total = _amount(Decimal(0), places)
    totals.allowance_total = _amount(Decimal(0), places)
    totals.tax_basis_total = _amount(model.tax_basis_total, places)
    totals.tax_total = (_amount(model.tax_total, places), model.currency)
    totals.grand_total = _amount(model.grand_total, places)
    totals.prepaid_total = _amount(model.paid_amount, places)
    totals.due_amount = _amount(model.payable_amount, places)
    if model.preceding_invoice:
        reference = settlement.invoice_referenced_document
        reference.issuer_assigned_id = model.preceding_invoice
        if model.preceding_invoice_date:
            reference.issue_date_time = model.preceding_invoice_date


def _party(target, party: Party, *, seller: bool) -> None:
    target.name = party.name
    if seller and party.legal_id:
        target.legal_organization.id = party.legal_id
    if party.contact_name or party.phone or (seller and party.email):
        if party.contact_name:
            target.contact.person_name = party.contact_name
        if party.phone:
            target.contact.telephone.number = party.phone
        if seller and party.email:
            target.contact.email.address = party.email
    address = target.address
    if party.postal_code:
        address.postcode = party.postal_code
    if party.street:
        address.line_one = party.street
    if party.street_2:
        address.line_two = party.street_2
    if party.city:
        address.city_name = party.city
    address.country_id = party.country
    if party.subdivision:
        address.country_subdivision = party.subdivision
    if party.email:
        target.electronic_address.uri_ID = ("EM", party.email)
    if party.vat_id and party.vat_id[:2].isalpha():
        target.tax_registrations.add(TaxRegistration(id=("VA", party.vat_id)))


def _period(period, start, end) -> None:
    period.start = start
    period.end = end


def _amount(value: Decimal, places: int) -> Decimal:
    return Decimal(value).quantize(Decimal(1).scaleb(-places))


def _rate(rate: Decimal) -> Decimal:
    return Decimal(rate).quantize(Decimal("0.01"))
