"""The hybrid PDF: the human-readable PDF with its EN 16931 XML embedded (Factur-X / ZUGFeRD).

factur-x attaches the XML as ``factur-x.xml`` with the relationship ``Alternative`` (the XML
carries the same invoice as the page), lists it in the document's associated files and writes
the XMP metadata that names the Factur-X profile (EN 16931), with the PDF/A-3 identification.
The XML was checked against the schema when it was written, so it is not checked again here.
"""

from __future__ import annotations

import os
import tempfile
from io import BytesIO

import facturx

from billing.invoices.einvoice.model import EInvoice

FACTURX_VERSION = facturx.__version__
AF_RELATIONSHIP = "alternative"
LEVEL = "en16931"


def hybrid_pdf(pdf: bytes, xml: bytes, model: EInvoice) -> bytes:
    """``pdf`` with ``xml`` (the model's EN 16931 CII XML) embedded as a Factur-X hybrid."""
    kind = "Credit note" if model.is_credit_note else "Invoice"
    seller = model.seller.name or ""
    metadata = {
        "author": seller,
        "keywords": f"Factur-X, {kind}",
        "title": f"{seller}: {kind} {model.number}",
        "subject": f"Factur-X {kind.lower()} {model.number} dated "
        f"{model.issue_date.isoformat()} issued by {seller}",
    }
    # Written to a file of its own: generate_from_binary hands the same file object to the
    # reader and the writer, which appends the new document after the original one.
    with tempfile.TemporaryDirectory(prefix="facturx-") as folder:
        path = os.path.join(folder, "hybrid.pdf")
        facturx.generate_from_file(
            BytesIO(pdf),
            xml,
            flavor="factur-x",
            level=LEVEL,
            check_xsd=False,
            pdf_metadata=metadata,
            afrelationship=AF_RELATIONSHIP,
            output_pdf_file=path,
        )
        with open(path, "rb") as written:
            return written.read()
