from django.db import models

DEFAULT_TERMS_CONTENT = (
    "These terms govern the use of the service. The operator has not published its own terms "
    "yet; until it does, contact the operator for the conditions that apply."
)


def default_retry_days() -> list[int]:
    return [1, 3, 5]


class PlatformSettings(models.Model):
    """The single row of business settings (primary key 1), edited by staff.

    Changing a format or a number of days affects only invoices and periods created afterwards.
    """

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    provider_name = models.CharField(max_length=255, blank=True, default="")
    company_name = models.CharField(max_length=255, blank=True, default="")
    contact_email = models.CharField(max_length=255, blank=True, default="")
    company_email = models.CharField(max_length=255, blank=True, default="")
    website_url = models.CharField(max_length=500, blank=True, default="")
    other_links = models.TextField(blank=True, default="")
    address_street = models.CharField(max_length=255, blank=True, default="")
    address_city = models.CharField(max_length=100, blank=True, default="")
    address_postal_code = models.CharField(max_length=20, blank=True, default="")
    # Seller country for tax, ISO alpha-2.
    address_country = models.CharField(max_length=2, default="DE")
    vat_id = models.CharField(max_length=50, blank=True, default="")
    # The seller's contact for e-invoices (XRechnung requires a name, a telephone and an email).
    company_contact_name = models.CharField(max_length=255, blank=True, default="")
    company_phone = models.CharField(max_length=50, blank=True, default="")
    # Legal registration (commercial register entry such as "HRB 12345, Amtsgericht Berlin").
    company_register_id = models.CharField(max_length=100, blank=True, default="")
    bank_account_holder = models.CharField(max_length=255, blank=True, default="")
    bank_name = models.CharField(max_length=255, blank=True, default="")
    bank_iban = models.CharField(max_length=34, blank=True, default="")
    bank_bic = models.CharField(max_length=11, blank=True, default="")
    terms_title = models.CharField(max_length=255, default="Terms and Conditions")
    terms_content = models.TextField(default=DEFAULT_TERMS_CONTENT)  # Markdown
    invoice_number_format = models.CharField(max_length=100, default="INV-{year}-{sequence:06d}")
    credit_note_number_format = models.CharField(max_length=100, default="CN-{year}-{sequence:06d}")
    payment_terms_days = models.PositiveSmallIntegerField(default=14)  # 0..365
    grace_period_days = models.PositiveSmallIntegerField(default=7)  # 0..90
    renewal_lead_days = models.PositiveSmallIntegerField(default=3)  # 0..30
    max_pause_days = models.PositiveSmallIntegerField(default=90)  # 1..365
    # Days after a failed charge on which it is retried, ascending, each <= grace_period_days.
    payment_retry_days = models.JSONField(default=default_retry_days)
    invoice_footer = models.TextField(blank=True, default="")
    # Invoice and credit-note PDFs carry their EN 16931 XML (Factur-X / ZUGFeRD hybrid).
    einvoice_hybrid_pdf = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "platform settings"
        verbose_name_plural = "platform settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="platform_settings_singleton")
        ]

    def __str__(self) -> str:
        return "Platform settings"
