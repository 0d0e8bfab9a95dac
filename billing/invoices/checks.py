"""``manage.py check`` tells which PDF settings cannot be honoured: a default language without a
PDF catalog, a logo that is not a readable local PNG or JPEG file."""

from django.conf import settings
from django.core.checks import Warning, register


@register()
def pdf_settings_check(app_configs=None, **kwargs):
    from billing.invoices.pdf import PDF_LANGUAGES, pdf_language, seller_logo

    problems = []
    default = settings.VBWD_DEFAULT_LANGUAGE
    if pdf_language(default) != (default or "").split("-")[0].lower():
        problems.append(
            Warning(
                f"VBWD_DEFAULT_LANGUAGE {default!r} has no PDF catalog: invoices for buyers "
                "without a language of their own are written in English.",
                hint=f"Use one of {', '.join(PDF_LANGUAGES)}.",
                id="invoices.W001",
            )
        )
    if settings.VBWD_INVOICE_LOGO and seller_logo() is None:
        problems.append(
            Warning(
                f"VBWD_INVOICE_LOGO {settings.VBWD_INVOICE_LOGO!r} is not a readable PNG or JPEG "
                "file of at most 1 MiB: invoices are printed without a logo.",
                id="invoices.W002",
            )
        )
    return problems
