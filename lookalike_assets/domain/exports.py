"""Export formats for ad and CRM platforms, and the destination interface files are delivered through.

Identifiers are normalized and SHA-256 hashed as each platform documents for its upload files:

* Meta custom audience (customer list): columns ``email, phone, fn, ln, country, extern_id``. Email trimmed and
  lower-cased; phone digits only with the country code, no ``+`` or leading zeros; first and last names
  lower-cased with punctuation and spaces removed; country as a lower-case ISO 3166-1 alpha-2 code; all hashed
  with SHA-256 (hex), except ``extern_id``.
* Google Ads Customer Match: columns ``Email, Phone, First Name, Last Name, Country, Zip``. Email trimmed and
  lower-cased (periods before the domain removed for gmail.com and googlemail.com); phone in E.164
  (``+`` and country code); names trimmed and lower-cased; those four hashed with SHA-256. Country (ISO
  alpha-2, upper case) and Zip stay in clear, and the address columns are only filled when all four of
  first name, last name, country and zip are known, as Google requires.
* LinkedIn matched audiences (contact list): columns ``email, firstname, lastname, jobtitle, employeecompany,
  country, googleaid``; the email SHA-256 hashed after trimming and lower-casing, the other columns in clear.
* CRM: a plain CSV of lead ids, external ids and scores, with no personal data.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# Minimum audience sizes the platforms accept (configurable by the exporter).
MIN_SIZES: dict[str, int] = {"meta": 100, "google": 100, "linkedin": 300, "crm": 1}

COUNTRY_CODES: dict[str, str] = {
    "united states": "US", "usa": "US", "us": "US", "united kingdom": "GB", "uk": "GB", "great britain": "GB",
    "germany": "DE", "france": "FR", "spain": "ES", "netherlands": "NL", "poland": "PL", "brazil": "BR",
    "india": "IN", "canada": "CA", "australia": "AU", "italy": "IT", "portugal": "PT", "ireland": "IE",
    "mexico": "MX", "japan": "JP", "sweden": "SE", "denmark": "DK", "norway": "NO", "finland": "FI",
    "switzerland": "CH", "austria": "AT", "belgium": "BE",
}
DIAL_CODES: dict[str, str] = {"US": "1", "CA": "1", "GB": "44", "DE": "49", "FR": "33", "ES": "34", "NL": "31",
                              "PL": "48", "BR": "55", "IN": "91", "AU": "61", "IT": "39", "PT": "351", "IE": "353"}


class ExportError(RuntimeError):
    pass


class AudienceTooSmall(ExportError):
    pass


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def norm_email(email: str | None, *, google: bool = False) -> str | None:
    if not email:
        return None
    e = email.strip().lower()
    if "@" not in e:
        return None
    local, _, domain = e.rpartition("@")
    if google and domain in ("gmail.com", "googlemail.com"):
        local = local.replace(".", "")
    return f"{local}@{domain}"


def country_code(country: str | None) -> str | None:
    if not country:
        return None
    c = country.strip().lower()
    if len(c) == 2 and c.isalpha():
        return c.upper()
    return COUNTRY_CODES.get(c)


def norm_phone_digits(phone: str | None, country: str | None = None) -> str | None:
    """Digits with the country code, no '+', no leading zeros (Meta)."""
    if not phone:
        return None
    p = phone.strip()
    digits = re.sub(r"\D", "", p)
    if not digits:
        return None
    if p.startswith("+") or p.startswith("00"):
        digits = digits.lstrip("0")
    else:
        code = DIAL_CODES.get(country_code(country) or "", "")
        digits = digits.lstrip("0")
        if code and not digits.startswith(code):
            digits = code + digits
    return digits or None


def norm_phone_e164(phone: str | None, country: str | None = None) -> str | None:
    d = norm_phone_digits(phone, country)
    return f"+{d}" if d else None


def norm_name_meta(name: str | None) -> str | None:
    """Lower case, no punctuation or spaces; letters beyond a-z kept in UTF-8, as Meta asks."""
    if not name:
        return None
    s = unicodedata.normalize("NFC", name).strip().lower()
    s = "".join(ch for ch in s if ch.isalpha())
    return s or None


def norm_name_google(name: str | None) -> str | None:
    if not name:
        return None
    s = unicodedata.normalize("NFC", name).strip().lower()
    return s or None


def _h(value: str | None) -> str:
    return sha256(value) if value else ""


@dataclass(frozen=True)
class ExportFormat:
    name: str
    columns: tuple[str, ...]

    def row(self, m: Mapping[str, Any]) -> list[str]:
        raise NotImplementedError


class MetaFormat(ExportFormat):
    def row(self, m):
        cc = country_code(m.get("country"))
        return [
            _h(norm_email(m.get("email"))),
            _h(norm_phone_digits(m.get("phone"), m.get("country"))),
            _h(norm_name_meta(m.get("first_name"))),
            _h(norm_name_meta(m.get("last_name"))),
            _h(cc.lower() if cc else None),
            str(m.get("external_id") or ""),
        ]


class GoogleFormat(ExportFormat):
    def row(self, m):
        cc = country_code(m.get("country"))
        zip_ = (m.get("zip") or "").strip()
        fn, ln = norm_name_google(m.get("first_name")), norm_name_google(m.get("last_name"))
        address = bool(fn and ln and cc and zip_)
        return [
            _h(norm_email(m.get("email"), google=True)),
            _h(norm_phone_e164(m.get("phone"), m.get("country"))),
            _h(fn) if address else "",
            _h(ln) if address else "",
            cc if address else "",
            zip_ if address else "",
        ]


class LinkedInFormat(ExportFormat):
    def row(self, m):
        cc = country_code(m.get("country"))
        return [
            _h(norm_email(m.get("email"))),
            (m.get("first_name") or "").strip(),
            (m.get("last_name") or "").strip(),
            (m.get("title") or "").strip(),
            (m.get("company") or "").strip(),
            cc or "",
            "",
        ]


class CrmFormat(ExportFormat):
    def row(self, m):
        reasons = m.get("reasons") or {}
        top = sorted(reasons.items(), key=lambda kv: -kv[1])[:3]
        return [
            str(m["lead_id"]), str(m.get("external_id") or ""), str(m["audience_id"]), str(m.get("audience") or ""),
            f"{float(m['similarity_score']):.6f}",
            "" if m.get("rank_score") is None else f"{float(m['rank_score']):.6f}",
            str(m.get("decile") or ""),
            "; ".join(f"{k}={v:.3f}" for k, v in top),
        ]


FORMATS: dict[str, ExportFormat] = {
    "meta": MetaFormat("meta", ("email", "phone", "fn", "ln", "country", "extern_id")),
    "google": GoogleFormat("google", ("Email", "Phone", "First Name", "Last Name", "Country", "Zip")),
    "linkedin": LinkedInFormat("linkedin", ("email", "firstname", "lastname", "jobtitle", "employeecompany",
                                            "country", "googleaid")),
    "crm": CrmFormat("crm", ("lead_id", "external_id", "audience_id", "audience", "similarity_score",
                             "rank_score", "decile", "top_reasons")),
}


@dataclass
class RenderedExport:
    format: str
    content: bytes
    rows: int
    skipped: int  # members with no usable identifier for this platform

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def render(fmt_name: str, members: Iterable[Mapping[str, Any]], min_size: int | None = None) -> RenderedExport:
    """The CSV a platform's upload accepts; rows without any identifier are left out. Raises
    AudienceTooSmall below the platform's minimum."""
    try:
        fmt = FORMATS[fmt_name]
    except KeyError:
        raise ExportError(f"unknown export format {fmt_name!r} (known: {', '.join(FORMATS)})") from None
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(fmt.columns)
    rows = skipped = 0
    ident_cols = {"meta": 5, "google": 2, "linkedin": 1, "crm": 1}[fmt_name]
    for m in members:
        r = fmt.row(m)
        if not any(r[:ident_cols]):
            skipped += 1
            continue
        w.writerow(r)
        rows += 1
    minimum = MIN_SIZES[fmt_name] if min_size is None else min_size
    if rows < minimum:
        raise AudienceTooSmall(f"{fmt_name} needs at least {minimum} matched people per audience; this export "
                               f"has {rows} ({skipped} member(s) without a usable identifier)")
    return RenderedExport(fmt_name, buf.getvalue().encode("utf-8"), rows, skipped)


# ---------------------------------------------------------------------------------------------------------
# Destinations


class Destination(Protocol):
    """Where export files go. Implement ``deliver`` for another target (SFTP, an API upload, a bucket)."""

    name: str

    def deliver(self, path: Sequence[str], content: bytes) -> str:
        """Store ``content`` under the relative ``path`` parts; return where it went. Raise on failure."""


class LocalFolderDestination:
    """Files under a local (or mounted) folder, written atomically (temporary file, then rename)."""

    name = "local"

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def deliver(self, path: Sequence[str], content: bytes) -> str:
        for part in path:
            if not part or part in (".", "..") or "/" in part or "\\" in part:
                raise ExportError(f"unsafe path part {part!r}")
        target = self.root.joinpath(*path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(target)
