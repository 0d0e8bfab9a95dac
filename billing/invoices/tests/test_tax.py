"""Tax of invoice lines (docs/concepts/tax.md): rates by buyer country and issue date, inclusive
prices, EU reverse charge, rounding per line."""

import datetime
from decimal import Decimal

import pytest

from billing.invoices.tax import (
    line_amounts,
    tax_treatment,
    vat_id_is_valid_for,
)
from billing.invoices.tests.factories import (
    buyer,
    custom_draft,
    de_vat,
    issue_invoice,
    tax_rate,
)

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 3, 15)
D = Decimal


def _amounts(result):
    return (result.unit_price, result.amount, result.tax_rate, result.tax_amount,
            result.gross_amount)  # fmt: skip


def _treatment(country, vat_id=None, *, on=TODAY, seller="DE"):
    return tax_treatment(buyer_country=country, buyer_vat_id=vat_id, seller_country=seller, on=on)


# line_amounts ----------------------------------------------------------------------------------


def test_exclusive_19_percent_on_9_99():
    result = line_amounts(D("9.99"), 1, rate=D("19.00"), price_includes_tax=False, places=2)
    assert _amounts(result) == (D("9.99"), D("9.99"), D("19.00"), D("1.90"), D("11.89"))


def test_inclusive_20_percent_on_29_99_contains_5_00_tax():
    result = line_amounts(D("29.99"), 1, rate=D("20.00"), price_includes_tax=True, places=2)
    assert _amounts(result) == (D("24.99"), D("24.99"), D("20.00"), D("5.00"), D("29.99"))


def test_a_quantity_is_taxed_once_on_the_line_total():
    result = line_amounts(D("0.05"), 3, rate=D("19.00"), price_includes_tax=False, places=2)
    assert _amounts(result) == (D("0.05"), D("0.15"), D("19.00"), D("0.03"), D("0.18"))


def test_zero_places_round_half_up():
    result = line_amounts(D("1250"), 1, rate=D("10.00"), price_includes_tax=False, places=0)
    assert (result.tax_amount, result.gross_amount) == (D("125"), D("1375"))
    result = line_amounts(D("5"), 1, rate=D("10.00"), price_includes_tax=False, places=0)
    assert (result.tax_amount, result.gross_amount) == (D("1"), D("6"))  # 0.5 rounds up


def test_an_inclusive_price_under_reverse_charge_keeps_only_its_net_part():
    result = line_amounts(
        D("29.99"),
        1,
        rate=D("0.00"),
        price_includes_tax=True,
        places=2,
        included_rate=D("20.00"),
    )
    assert _amounts(result) == (D("24.99"), D("24.99"), D("0.00"), D("0.00"), D("24.99"))


# Treatment by country, VAT id and date ---------------------------------------------------------


def test_a_german_buyer_pays_german_vat():
    de_vat()
    treatment = _treatment("DE")
    assert (treatment.country, treatment.rate, treatment.name) == ("DE", D("19.00"), "MwSt.")
    assert treatment.reverse_charge is False
    assert treatment.prices_include_tax is False


def test_without_a_billing_country_the_sellers_country_applies():
    de_vat()
    assert _treatment(None).rate == D("19.00")
    assert _treatment(None).country == "DE"


def test_an_eu_business_buyer_with_a_valid_vat_id_gets_the_reverse_charge():
    de_vat()
    tax_rate("AT", "20.00", name="USt.")
    treatment = _treatment("AT", "ATU13585627")
    assert treatment.reverse_charge is True
    assert treatment.rate == D("0.00")
    assert treatment.name == "Reverse charge"


def test_a_vat_id_written_with_spaces_and_lower_case_is_accepted():
    assert vat_id_is_valid_for("atu 1358 5627", "AT") is True


@pytest.mark.parametrize(
    "vat_id",
    ["ATU13585628", "ATU1358562", "DE136695976", "U13585627", "", None, "not a vat id"],
)
def test_an_invalid_or_foreign_vat_id_pays_the_buyer_countrys_normal_rate(vat_id):
    de_vat()
    tax_rate("AT", "20.00", name="USt.")
    treatment = _treatment("AT", vat_id)
    assert treatment.reverse_charge is False
    assert (treatment.rate, treatment.name) == (D("20.00"), "USt.")


def test_a_buyer_in_the_sellers_own_country_never_gets_the_reverse_charge():
    de_vat()
    treatment = _treatment("DE", "DE136695976")
    assert treatment.reverse_charge is False
    assert treatment.rate == D("19.00")


def test_a_non_eu_buyer_without_a_rate_pays_no_tax_and_no_reverse_charge():
    de_vat()
    treatment = _treatment("US", "ATU13585627")
    assert (treatment.rate, treatment.name, treatment.reverse_charge) == (D("0.00"), None, False)


def test_a_non_eu_country_is_never_reverse_charged_even_with_a_valid_looking_id():
    tax_rate("CH", "8.10", name="MWST")
    treatment = _treatment("CH", "CHE-116.281.710 MWST")
    assert (treatment.rate, treatment.reverse_charge) == (D("8.10"), False)


def test_greek_vat_ids_carry_the_el_prefix():
    de_vat()
    tax_rate("GR", "24.00", name="ΦΠΑ")
    assert vat_id_is_valid_for("EL094259216", "GR") is True
    assert vat_id_is_valid_for("EL094259217", "GR") is False
    assert vat_id_is_valid_for("EL094259216", "AT") is False
    treatment = _treatment("GR", "EL094259216")
    assert (treatment.rate, treatment.reverse_charge) == (D("0.00"), True)
    assert _treatment("GR", "EL094259217").rate == D("24.00")


def test_the_rate_valid_on_the_issue_date_applies():
    tax_rate(
        "DE", "19.00", valid_from=datetime.date(2020, 1, 1), valid_to=datetime.date(2020, 6, 30)
    )
    tax_rate(
        "DE", "16.00", valid_from=datetime.date(2020, 7, 1), valid_to=datetime.date(2020, 12, 31)
    )
    tax_rate("DE", "19.00", valid_from=datetime.date(2021, 1, 1), code="VAT_DE_2021")

    assert _treatment("DE", on=datetime.date(2020, 6, 30)).rate == D("19.00")
    assert _treatment("DE", on=datetime.date(2020, 7, 1)).rate == D("16.00")
    assert _treatment("DE", on=datetime.date(2020, 12, 31)).rate == D("16.00")
    assert _treatment("DE", on=datetime.date(2021, 1, 1)).rate == D("19.00")
    assert _treatment("DE", on=datetime.date(2019, 12, 31)).rate == D("0.00")


def test_an_inactive_rate_is_ignored():
    rate = tax_rate("DE", "19.00")
    rate.is_active = False
    rate.save()
    assert _treatment("DE").rate == D("0.00")


# On issued invoices ----------------------------------------------------------------------------


def test_an_invoice_issued_mid_year_uses_the_rate_valid_that_day():
    tax_rate(
        "DE", "19.00", valid_from=datetime.date(2020, 1, 1), valid_to=datetime.date(2020, 6, 30)
    )
    tax_rate(
        "DE", "16.00", valid_from=datetime.date(2020, 7, 1), valid_to=datetime.date(2020, 12, 31)
    )
    user = buyer()
    july = datetime.datetime(2020, 8, 3, 10, 0, tzinfo=datetime.UTC)
    june = datetime.datetime(2020, 6, 30, 23, 0, tzinfo=datetime.UTC)

    summer = issue_invoice(user, [custom_draft("10.00")], now=july)
    spring = issue_invoice(user, [custom_draft("10.00")], now=june)

    assert (summer.tax_amount, summer.total_amount) == (D("1.60"), D("11.60"))
    assert summer.lines.get().tax_rate == D("16.00")
    assert summer.invoice_number == "INV-2020-000001"
    assert (spring.tax_amount, spring.total_amount) == (D("1.90"), D("11.90"))


def test_tax_is_rounded_per_line_and_totals_are_sums_of_the_lines():
    de_vat()
    invoice = issue_invoice(buyer(), [custom_draft("0.05") for _ in range(3)])

    lines = list(invoice.lines.order_by("position"))
    assert [line.tax_amount for line in lines] == [D("0.01")] * 3
    assert [line.gross_amount for line in lines] == [D("0.06")] * 3
    assert (invoice.subtotal, invoice.tax_amount, invoice.total_amount) == (
        D("0.15"),
        D("0.03"),
        D("0.18"),
    )


def test_an_exclusive_german_invoice():
    de_vat()
    invoice = issue_invoice(buyer(), [custom_draft("9.99")])
    line = invoice.lines.get()
    assert (line.unit_price, line.amount, line.tax_rate, line.tax_name) == (
        D("9.99"),
        D("9.99"),
        D("19.00"),
        "MwSt.",
    )
    assert (line.tax_amount, line.gross_amount) == (D("1.90"), D("11.89"))
    assert (invoice.subtotal, invoice.tax_amount, invoice.total_amount) == (
        D("9.99"),
        D("1.90"),
        D("11.89"),
    )
    assert invoice.reverse_charge is False


def test_an_inclusive_austrian_invoice_for_a_private_buyer():
    tax_rate("AT", "20.00", name="USt.", is_inclusive=True)
    invoice = issue_invoice(buyer(country="AT", city="Wien"), [custom_draft("29.99")])
    line = invoice.lines.get()
    assert (line.amount, line.tax_amount, line.gross_amount) == (D("24.99"), D("5.00"), D("29.99"))
    assert (invoice.subtotal, invoice.tax_amount, invoice.total_amount) == (
        D("24.99"),
        D("5.00"),
        D("29.99"),
    )


def test_a_reverse_charged_invoice_says_so_and_drops_the_included_tax():
    tax_rate("AT", "20.00", name="USt.", is_inclusive=True)
    company = buyer(country="AT", company="Muster GmbH", tax_number="ATU13585627")
    invoice = issue_invoice(company, [custom_draft("29.99")])
    line = invoice.lines.get()
    assert invoice.reverse_charge is True
    assert (line.tax_rate, line.tax_name) == (D("0.00"), "Reverse charge")
    assert (invoice.subtotal, invoice.tax_amount, invoice.total_amount) == (
        D("24.99"),
        D("0.00"),
        D("24.99"),
    )
    assert invoice.billing_address["vat_id"] == "ATU13585627"


def test_a_forced_line_rate_wins_over_the_buyers_rate():
    de_vat()
    invoice = issue_invoice(
        buyer(), [custom_draft("10.00", tax_rate=D("7.00"), tax_name="ermäßigt")]
    )
    line = invoice.lines.get()
    assert (line.tax_rate, line.tax_name, line.tax_amount) == (D("7.00"), "ermäßigt", D("0.70"))


def test_an_inclusive_price_with_a_quantity_splits_each_unit():
    amounts = line_amounts(
        Decimal("10.00"), 3, rate=Decimal("19.00"), price_includes_tax=True, places=2
    )

    assert (amounts.unit_price, amounts.amount, amounts.tax_amount, amounts.gross_amount) == (
        Decimal("8.40"),
        Decimal("25.20"),
        Decimal("4.80"),
        Decimal("30.00"),
    )
