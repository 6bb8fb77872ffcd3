"""Identifiers and values people type: emails, phone numbers, countries, numbers and dates, by maintained
libraries (email-validator, phonenumbers, pycountry and its translations, dateutil), never by hand-made tables.

Every parser returns ``None`` for a value it cannot read; callers turn that into a row-level reason.
"""

from __future__ import annotations

import gettext
import math
import re
import unicodedata
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any

# ---------------------------------------------------------------------------------------------------------
# Email


def normalize_email(value: Any) -> str | None:
    """The address trimmed and lower-cased when it is a syntactically valid email (RFC 5322 as email-validator
    checks it, without a DNS lookup); None otherwise."""
    from email_validator import EmailNotValidError, validate_email

    if value is None:
        return None
    s = str(value).strip()
    if not s or len(s) > 320:
        return None
    try:
        v = validate_email(s, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None
    return v.normalized.lower()


def is_email(value: Any) -> bool:
    return normalize_email(value) is not None


# ---------------------------------------------------------------------------------------------------------
# Countries

# Names in common use that are not ISO 3166 names or codes (ISO's code for the United Kingdom is GB; the EU
# writes Greece as EL). Everything else comes from pycountry: codes, names, official and common names, and
# their translations in every language pycountry ships.
_ALIASES = {"uk": "GB", "u.k.": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "northern ireland": "GB",
            "great britain": "GB", "britain": "GB", "el": "GR", "usa": "US", "u.s.a.": "US", "u.s.": "US",
            "america": "US", "united states of america": "US", "holland": "NL"}


def _fold(s: str) -> str:
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii") if s else s
    return re.sub(r"\s+", " ", s.strip().lower())


@lru_cache(maxsize=1)
def _country_index() -> dict[str, str]:
    import pycountry

    index: dict[str, str] = {}
    languages = sorted(d for d in _listdir(pycountry.LOCALES_DIR))
    translations = []
    for lang in languages:
        try:
            translations.append(gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang]))
        except OSError:
            continue
    for c in pycountry.countries:
        names = {c.name, getattr(c, "official_name", None), getattr(c, "common_name", None)}
        for n in list(names):
            if n:
                names |= {t.gettext(n) for t in translations}
        for n in names:
            if n:
                index.setdefault(_fold(n), c.alpha_2)
        index[c.alpha_2.lower()] = c.alpha_2
        index[c.alpha_3.lower()] = c.alpha_2
    for k, v in _ALIASES.items():
        index[k] = v
    return index


def _listdir(path) -> list[str]:
    import os

    return os.listdir(path) if os.path.isdir(path) else []


def country_code(value: Any) -> str | None:
    """ISO 3166-1 alpha-2 (upper case) for a code or a name in any language pycountry knows; None otherwise."""
    if value is None:
        return None
    s = _fold(str(value))
    if not s:
        return None
    return _country_index().get(s) or _country_index().get(s.replace(".", ""))


# ---------------------------------------------------------------------------------------------------------
# Phones


def normalize_phone(value: Any, country: Any = None) -> str | None:
    """E.164 (``+4930123456``) by phonenumbers, reading a national number with the lead's country as its region;
    None when the number is not a possible number there."""
    import phonenumbers

    if value is None:
        return None
    s = str(value).strip()
    if not s or not re.search(r"\d", s):
        return None
    region = country_code(country) if country is not None else None
    if s.startswith("00"):
        s = "+" + s[2:]
    try:
        p = phonenumbers.parse(s, None if s.startswith("+") else (region or "ZZ"))
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(p):
        return None
    return phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.E164)


_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]{7,24}$")


def looks_like_phone(value: Any) -> bool:
    """Written like a phone number: an international prefix or separators, 7 to 15 digits."""
    s = str(value).strip()
    digits = re.sub(r"\D", "", s)
    return bool(_PHONE_LIKE.match(s)) and 7 <= len(digits) <= 15 and (s.startswith("+") or bool(re.search(r"[\s()\-./]", s)))


# ---------------------------------------------------------------------------------------------------------
# Numbers

NumberStyle = str  # "dot" (1,234.5), "comma" (1.234,5)

_DOT = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?([eE][+-]?\d+)?$")
_COMMA = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$")
_PLAIN = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class AmbiguousNumber(ValueError):
    pass


def parse_number(value: Any, style: NumberStyle = "dot") -> float | None:
    """A finite number from a cell. ``style`` says how the column writes decimals: "dot" (1,234.5: commas group
    thousands) or "comma" (1.234,5). A comma where a dot column has decimals ("1,5") is ambiguous and raises
    AmbiguousNumber rather than becoming 15. Booleans are not numbers."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    s = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if not s:
        return None
    if style == "comma":
        if not _COMMA.match(s):
            return None
        s = s.replace(".", "").replace(",", ".")
    else:
        if not _DOT.match(s):
            if re.match(r"^[+-]?\d+,\d{1,2}$|^[+-]?\d+,\d{4,}$", s):
                raise AmbiguousNumber(f"{value!r} has a decimal comma in a column that writes decimals with a dot")
            return None
        s = s.replace(",", "")
    try:
        f = float(s)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def number_style(values: list[str]) -> NumberStyle:
    """How a column writes its decimals, from its values: "comma" when decimal commas are the evidence.

    "1.234" and "1,234" say nothing alone (a decimal or a thousands separator); "80.18", "17.7", "0.5123" and
    "1,234,567" say dots are decimals, "80,18" and "1.234.567" say commas are. The unambiguous values decide;
    only when there are none do the ambiguous ones (read as thousands separators: "1.234" is the comma style)."""
    comma = dot = 0
    loose_comma = loose_dot = 0
    for v in values:
        s = str(v).strip()
        if re.match(r"^[+-]?\d+,(\d{1,2}|\d{4,})$|^[+-]?\d{1,3}(\.\d{3}){2,}(,\d+)?$|^[+-]?\d{1,3}(\.\d{3})+,\d+$|"
                    r"^[+-]?\d{4,},\d+$", s):
            comma += 1
        elif re.match(r"^[+-]?\d*\.(\d{1,2}|\d{4,})$|^[+-]?\d{1,3}(,\d{3}){2,}(\.\d+)?$|^[+-]?\d{1,3}(,\d{3})+\.\d+$|"
                      r"^[+-]?\d{4,}\.\d+$|^[+-]?0\.\d+$", s):
            dot += 1
        elif re.match(r"^[+-]?\d{1,3}\.\d{3}$", s):
            loose_comma += 1
        elif re.match(r"^[+-]?\d{1,3},\d{3}$", s):
            loose_dot += 1
    if comma or dot:
        return "comma" if comma > dot else "dot"
    return "comma" if loose_comma > loose_dot else "dot"


# ---------------------------------------------------------------------------------------------------------
# Dates

_DATE_HINT = re.compile(r"\d{4}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}")


def parse_datetime(value: Any, *, dayfirst: bool = False) -> datetime | None:
    """A timezone-aware datetime (UTC when the value has no zone) from ISO 8601 or a common written date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    s = str(value).strip()
    if not s or not _DATE_HINT.search(s) or len(s) > 40:
        return None
    try:
        d = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        from dateutil import parser as dparser

        try:
            d = dparser.parse(s, dayfirst=dayfirst)
        except (ValueError, OverflowError):
            return None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


_BOOLEANS = {"true", "false", "yes", "no", "y", "n", "t", "f"}


def is_boolean(value: Any) -> bool:
    return isinstance(value, bool) or str(value).strip().lower() in _BOOLEANS
