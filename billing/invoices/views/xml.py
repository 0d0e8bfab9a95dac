"""What the user and staff e-invoice XML endpoints share: the profile query and the response."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from billing.invoices import einvoice
from vbwd.fields import StrictChoiceField

XML_RESPONSE = {
    (200, "application/xml"): OpenApiResponse(
        response=OpenApiTypes.BINARY,
        description="UN/CEFACT CII XML (EN 16931), Content-Disposition: attachment; "
        'filename="<number>.xml" (Factur-X / ZUGFeRD) or "<number>-xrechnung.xml"',
    )
}
INCOMPLETE = (
    "409: the document lacks a field the profile requires; `error` names each one and "
    "`missing` lists them."
)


class ProfileField(StrictChoiceField):
    """A profile in any case; absent or empty means the default, EN 16931."""

    def to_internal_value(self, data) -> str:
        if data == "":
            return einvoice.ProfileChoice.EN16931
        return super().to_internal_value(data)


class EInvoiceQuerySerializer(serializers.Serializer):
    profile = ProfileField(
        einvoice.ProfileChoice,
        required=False,
        allow_blank=True,
        default=einvoice.ProfileChoice.EN16931,
        help_text="en16931 (Factur-X / ZUGFeRD, the default when absent or empty) or "
        "xrechnung (XRechnung 3.0)",
        error_messages={"invalid_choice": "Unknown profile: {input} (en16931 or xrechnung)"},
    )


def profile_from(query_params) -> einvoice.Profile:
    query = EInvoiceQuerySerializer(data=query_params)
    query.is_valid(raise_exception=True)
    return einvoice.PROFILES[query.validated_data["profile"]]


def xml_response(document, number: str, profile: einvoice.Profile) -> HttpResponse:
    """The document's CII XML in ``profile`` as a download."""
    xml = einvoice.document_xml(document, profile)
    suffix = "-xrechnung" if profile.xrechnung else ""
    response = HttpResponse(xml, content_type="application/xml")
    response["Content-Disposition"] = f'attachment; filename="{number}{suffix}.xml"'
    return response
