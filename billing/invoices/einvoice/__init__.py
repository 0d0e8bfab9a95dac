"""Structured e-invoices (EN 16931): the semantic model of an issued invoice or credit note, its
CII XML in the Factur-X / ZUGFeRD (EN 16931) and XRechnung profiles, and the hybrid PDF that
carries the XML inside the human-readable PDF."""

from billing.invoices.einvoice.cii import (
    EN16931,
    PROFILES,
    XRECHNUNG,
    Profile,
    ProfileChoice,
    cii_xml,
    parties_missing,
)
from billing.invoices.einvoice.hybrid import hybrid_pdf
from billing.invoices.einvoice.model import (
    EInvoice,
    EInvoiceIncomplete,
    einvoice_model,
    einvoice_parties,
)

__all__ = [
    "EN16931",
    "PROFILES",
    "XRECHNUNG",
    "EInvoice",
    "EInvoiceIncomplete",
    "Profile",
    "ProfileChoice",
    "cii_xml",
    "document_xml",
    "einvoice_model",
    "einvoice_parties",
    "hybrid_pdf",
    "parties_missing",
]


def document_xml(document, profile: Profile = EN16931) -> bytes:
    """The CII XML of an issued invoice or credit note in ``profile``; raises
    ``EInvoiceIncomplete`` naming what the document lacks for it."""
    return cii_xml(einvoice_model(document), profile)
