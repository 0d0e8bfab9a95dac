"""The hybrid PDF: the human-readable PDF with its EN 16931 XML embedded (Factur-X / ZUGFeRD).

factur-x attaches the XML as ``factur-x.xml`` with the relationship ``Alternative`` (the XML
carries the same invoice as the page), lists it in the document's associated files and writes
the XMP metadata that names the Factur-X profile (EN 16931), with the PDF/A-3 identification.
The XML was checked against the schema when it was written, so it is not checked again here.

PDF/A-3 also asks for an output intent naming the colour space the page's colours mean: the
document gets one with an sRGB ICC profile (built by Little CMS through Pillow, nothing read
from elsewhere), added to the plain PDF as an incremental update before the XML is embedded, and
the catalog names the document's language.
"""

from __future__ import annotations

import functools
import os
import tempfile
from io import BytesIO

import facturx
from PIL import ImageCms
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, StreamObject
from pypdf.generic import TextStringObject as Text

from billing.invoices.einvoice.model import EInvoice

FACTURX_VERSION = facturx.__version__
AF_RELATIONSHIP = "alternative"
LEVEL = "en16931"


SRGB = "sRGB IEC61966-2.1"


def hybrid_pdf(pdf: bytes, xml: bytes, model: EInvoice, *, language: str | None = None) -> bytes:
    """``pdf`` with ``xml`` (the model's EN 16931 CII XML) embedded as a Factur-X hybrid;
    ``language`` (``de``) is the language the page is written in."""
    pdf = with_output_intent(pdf)
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
            lang=language,
        )
        with open(path, "rb") as written:
            return written.read()


@functools.cache
def srgb_profile() -> bytes:
    """An sRGB ICC profile (Little CMS's built-in sRGB)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def with_output_intent(pdf: bytes) -> bytes:
    """``pdf`` with a PDF/A output intent for sRGB, appended as an incremental update (the
    original bytes are kept; a document that has one already is returned as it is)."""
    reader = PdfReader(BytesIO(pdf))
    if "/OutputIntents" in reader.trailer["/Root"]:
        return pdf
    writer = PdfWriter(reader, incremental=True)
    profile = StreamObject()
    profile.set_data(srgb_profile())
    profile[NameObject("/N")] = NumberObject(3)
    intent = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/OutputIntent"),
            NameObject("/S"): NameObject("/GTS_PDFA1"),
            NameObject("/OutputConditionIdentifier"): Text(SRGB),
            NameObject("/Info"): Text(SRGB),
            NameObject("/RegistryName"): Text("http://www.color.org"),
            NameObject("/DestOutputProfile"): writer._add_object(profile.flate_encode()),
        }
    )
    writer.root_object[NameObject("/OutputIntents")] = ArrayObject([writer._add_object(intent)])
    out = BytesIO()
    writer.write(out)
    return out.getvalue()
