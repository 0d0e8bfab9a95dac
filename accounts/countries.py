"""Which country codes a user's billing details may name.

The catalog owns the Country table and registers its lookup here when it is installed
(``set_country_lookup``), since accounts may not import it. Until then the ISO-3166-1 alpha-2
list below is the set of known codes.
"""

from collections.abc import Callable

_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
    BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
    GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
    KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
    MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
    TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM
    ZW
"""
ISO_3166_ALPHA_2 = frozenset(_CODES.split())

# English names of the countries the catalog seeds, for inputs that name a country.
COUNTRY_NAMES = {
    "DE": "Germany", "AT": "Austria", "CH": "Switzerland", "US": "United States",
    "GB": "United Kingdom", "FR": "France", "IT": "Italy", "ES": "Spain", "NL": "Netherlands",
    "BE": "Belgium", "PL": "Poland", "CZ": "Czech Republic", "SE": "Sweden", "NO": "Norway",
    "DK": "Denmark", "FI": "Finland", "PT": "Portugal", "IE": "Ireland", "LU": "Luxembourg",
    "GR": "Greece", "HU": "Hungary", "RO": "Romania", "BG": "Bulgaria", "HR": "Croatia",
    "SK": "Slovakia", "SI": "Slovenia", "LT": "Lithuania", "LV": "Latvia", "EE": "Estonia",
    "CY": "Cyprus", "MT": "Malta", "CA": "Canada", "AU": "Australia", "NZ": "New Zealand",
    "JP": "Japan", "SG": "Singapore",
}  # fmt: skip
_CODES_BY_NAME = {name.casefold(): code for code, name in COUNTRY_NAMES.items()}

_lookup: Callable[[str], bool] = ISO_3166_ALPHA_2.__contains__
_name_lookup: Callable[[str], str | None] = lambda name: _CODES_BY_NAME.get(name.casefold())  # noqa: E731


def set_country_lookup(
    lookup: Callable[[str], bool], name_lookup: Callable[[str], str | None] | None = None
) -> None:
    """Replaces the known-country checks (the catalog passes its Country table lookups)."""
    global _lookup, _name_lookup
    _lookup = lookup
    if name_lookup is not None:
        _name_lookup = name_lookup


def is_known_country(code: str) -> bool:
    return _lookup(code.upper())


def country_code_for(text: str) -> str | None:
    """The alpha-2 code for a code (any case) or a known country's name; None if unknown."""
    value = (text or "").strip()
    if len(value) == 2 and value.isalpha():
        return value.upper() if is_known_country(value) else None
    return _name_lookup(value) if value else None
