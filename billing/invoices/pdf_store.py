"""Invoice and credit-note PDFs rendered once and served from storage.

An issued document's PDF is rendered after the transaction that issues it commits (the
``store_document_pdfs`` task, queued with ``transaction.on_commit`` when
``VBWD_PDF_PRERENDER`` is on) and kept in Django's default storage (a ``FileSystemStorage``
under ``MEDIA_ROOT`` unless configured otherwise). A download serves the stored file; when there
is none yet (the task has not run, or what the document prints has changed) the download renders
it, stores it and serves it, and every later download reads it.

What the key covers. Most of a document is fixed at issue (its number, lines, amounts and the
buyer and seller snapshots), but not all of it:

- an invoice's stamp (PAID / REFUNDED / VOID / FAILED / OVERDUE) and its date, the "Paid on"
  row, the refunded amount and the amount due change as the invoice is paid, refunded, voided or
  goes overdue;
- a document is written in its owner's language as saved now (or the one asked for), and an
  open invoice prints its payment method's instructions in it, from the catalog as it is now; a
  settled one prints none;
- the footer comes from the platform settings as they are now, the logo from the file
  ``VBWD_INVOICE_LOGO`` names (inline in the HTML), and country names from the countries table;
- a credit note gains a REVERSED stamp when its refund is reversed.

All of these are read when the document is asked for, so the stored file is keyed by the
document's id, ``TEMPLATE_VERSION`` and a digest of the HTML the template produces from the
current context: ``invoice-pdf/<invoice id>/<version>-<html digest>.pdf``. Building that HTML
costs the context's few queries and a template render (a millisecond or two); the costly part,
laying it out as PDF, runs only for HTML never stored before. Whatever a document prints is
therefore part of its key: a paid invoice, another locale, an edited footer or an edited
template each get their own file on first request, and a file stored before is never served
for a document that would now print something else. Superseded files are ignored (never
read again); removing them is a matter of deleting the folder of a document.

``TEMPLATE_VERSION`` is a digest of the two templates and the font files, so a new deployment
with a changed layout or font renders anew even where the HTML stayed the same.

E-invoices. While the platform setting ``einvoice_hybrid_pdf`` is on (the default), the stored
file is the hybrid PDF: the document's EN 16931 XML (Factur-X / ZUGFeRD) embedded in it. Its
name then also carries a digest of that XML and of the embedding library's version,
``<version>-<html digest>-x<xml digest>.pdf``, so a plain PDF stored while the setting was off is
never served as a hybrid (nor the other way round), and an XML that now reads differently gets
its own file. A document that lacks a field its e-invoice requires (see
``billing.invoices.einvoice``) is served as the plain PDF; the XML route names what is missing.

Two first requests at once both render, and each writes the whole file under a temporary name in
the same folder and renames it into place (an atomic replace on POSIX file systems): a reader
sees either no file or a complete one, never a half-written one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import prefetch_related_objects

from billing.invoices import einvoice, pdf
from billing.invoices.einvoice.hybrid import FACTURX_VERSION
from billing.invoices.models import CreditNote, Invoice
from platform_settings.selectors import platform_settings_get

logger = logging.getLogger(__name__)

TEMPLATE_DIR = Path(settings.BASE_DIR) / "templates"
INVOICE_FOLDER = "invoice-pdf"
CREDIT_NOTE_FOLDER = "credit-note-pdf"


def _template_version() -> str:
    """A digest of everything besides the HTML that shapes the PDF: the two templates (the HTML
    digest covers them too, but a template may change how xhtml2pdf lays out the same text) and
    the font files."""
    digest = hashlib.sha256()
    files = [TEMPLATE_DIR / pdf.INVOICE_TEMPLATE, TEMPLATE_DIR / pdf.CREDIT_NOTE_TEMPLATE]
    files += [pdf.FONT_DIR / name for name in sorted(pdf.FONT_FILES.values())]
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


TEMPLATE_VERSION = _template_version()


def _name(folder: str, document_id, html: str, xml: bytes | None = None) -> str:
    html_digest = hashlib.sha256(html.encode()).hexdigest()[:32]
    if xml is None:
        return f"{folder}/{document_id}/{TEMPLATE_VERSION}-{html_digest}.pdf"
    xml_digest = hashlib.sha256(FACTURX_VERSION.encode() + b"\0" + xml).hexdigest()[:16]
    return f"{folder}/{document_id}/{TEMPLATE_VERSION}-{html_digest}-x{xml_digest}.pdf"


def _einvoice(document) -> tuple[einvoice.EInvoice, bytes] | None:
    """The model and EN 16931 XML to embed: None while the hybrid setting is off or when the
    document lacks a field the e-invoice requires (it is then served as the plain PDF)."""
    if not platform_settings_get().einvoice_hybrid_pdf:
        return None
    # What the snapshots lack is known without a query.
    if einvoice.parties_missing(*einvoice.einvoice_parties(document)):
        return None
    model = einvoice.einvoice_model(document)
    try:
        return model, einvoice.cii_xml(model, einvoice.EN16931, validate=False)
    except einvoice.EInvoiceIncomplete as incomplete:
        logger.info("%s is served without its e-invoice: %s", model.number, incomplete.message)
        return None


def invoice_pdf_html(invoice: Invoice, *, locale: str | None = None) -> str:
    return pdf.invoice_pdf_html(invoice, locale=locale)[0]


def credit_note_pdf_html(credit_note: CreditNote) -> str:
    return pdf.credit_note_pdf_html(credit_note)[0]


def stored_hybrid_pdf(document: Invoice | CreditNote) -> bytes:
    """The invoice's or credit note's hybrid PDF (its EN 16931 XML embedded) whatever the
    platform setting says: the stored file, or rendered and stored. Raises
    ``einvoice.EInvoiceIncomplete`` naming each field the e-invoice lacks."""
    if isinstance(document, Invoice):
        prefetch_related_objects([document], "lines")
        folder, (html, language) = INVOICE_FOLDER, pdf.invoice_pdf_html(document)
    else:
        folder, (html, language) = CREDIT_NOTE_FOLDER, pdf.credit_note_pdf_html(document)
    model = einvoice.einvoice_model(document)
    xml = einvoice.cii_xml(model, einvoice.EN16931, validate=False)
    return _stored(folder, document, html, language, (model, xml))


def stored_invoice_pdf(invoice: Invoice, *, locale: str | None = None) -> bytes:
    """The invoice's PDF as it reads now (the hybrid while the setting is on): the stored file,
    or rendered and stored."""
    # The lines are read once, for the page and for the e-invoice.
    prefetch_related_objects([invoice], "lines")
    html, language = pdf.invoice_pdf_html(invoice, locale=locale)
    return _stored(INVOICE_FOLDER, invoice, html, language, _einvoice(invoice))


def stored_credit_note_pdf(credit_note: CreditNote) -> bytes:
    """The credit note's PDF as it reads now (the hybrid while the setting is on): the stored
    file, or rendered and stored."""
    html, language = pdf.credit_note_pdf_html(credit_note)
    return _stored(CREDIT_NOTE_FOLDER, credit_note, html, language, _einvoice(credit_note))


def _stored(
    folder: str, document, html: str, language: str, embedded: tuple | None = None
) -> bytes:
    """The stored PDF of ``html`` (with ``embedded``, the e-invoice model and XML, when given)."""
    name = _name(folder, document.pk, html, embedded[1] if embedded else None)
    content = _read(name)
    if content is not None:
        return content
    content = pdf.html_to_pdf(html)
    if embedded is not None:
        model, xml = embedded
        einvoice.cii.schema_validate(xml)
        content = einvoice.hybrid_pdf(content, xml, model, language=language)
    _write(name, content)
    return content


def _read(name: str) -> bytes | None:
    try:
        with default_storage.open(name, "rb") as stored:
            content = stored.read()
    except FileNotFoundError:
        return None
    # A file is only ever renamed into place complete; an empty one is not a PDF.
    return content or None


def _write(name: str, content: bytes) -> None:
    """Puts ``content`` at ``name``, replacing whatever is there, atomically where the storage is
    a local file system; a storage without local paths gets ``save`` (object stores write an
    object whole)."""
    try:
        path = Path(default_storage.path(name))
    except NotImplementedError:
        if not default_storage.exists(name):
            default_storage.save(name, ContentFile(content))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- rendering after issue ----------------------------------------------------------------------


def pdfs_store_on_commit(*, invoice_ids=(), credit_note_ids=()) -> None:
    """Queues ``store_document_pdfs`` for these documents once the current transaction commits
    (nothing when it rolls back, nothing when ``VBWD_PDF_PRERENDER`` is off)."""
    if not settings.VBWD_PDF_PRERENDER:
        return
    invoices = [str(pk) for pk in invoice_ids]
    credit_notes = [str(pk) for pk in credit_note_ids]
    if not invoices and not credit_notes:
        return
    from billing.invoices.tasks import store_document_pdfs

    transaction.on_commit(lambda: store_document_pdfs.delay(invoices, credit_notes), robust=True)


def pdfs_store(invoice_ids, credit_note_ids) -> int:
    """Renders and stores the PDFs of these invoices and credit notes as they read now (a file
    already stored is kept). Returns how many documents were found."""
    found = 0
    for invoice in Invoice.objects.filter(pk__in=list(invoice_ids)).order_by("pk"):
        stored_invoice_pdf(invoice)
        found += 1
    notes = CreditNote.objects.select_related("invoice").filter(pk__in=list(credit_note_ids))
    for credit_note in notes.order_by("pk"):
        stored_credit_note_pdf(credit_note)
        found += 1
    return found
