"""Export formats for ad and CRM platforms, and the destination interface files are delivered through.

Identifiers are normalized and SHA-256 hashed as each platform documents for its upload files:

* Meta custom audience (customer list): columns ``email, phone, fn, ln, country, extern_id``. Email trimmed and
  lower-cased; phone as the digits of its E.164 form (country code, no ``+``, no trunk prefix); first and last
  names lower-cased with punctuation and spaces removed; country as a lower-case ISO 3166-1 alpha-2 code; all
  hashed with SHA-256 (hex), except ``extern_id``.
* Google Ads Customer Match: columns ``Email, Phone, First Name, Last Name, Country, Zip``. Email trimmed and
  lower-cased (periods before the domain removed for gmail.com and googlemail.com); phone in E.164; names
  lower-cased with every space removed; those four hashed with SHA-256. Country (ISO alpha-2, upper case) and Zip
  (as text, leading zeros kept) stay in clear, and the address columns are only filled when all four of first
  name, last name, country and zip are known, as Google requires.
* LinkedIn matched audiences (contact list): columns ``email, firstname, lastname, jobtitle, employeecompany,
  country, googleaid``; the email SHA-256 hashed after trimming and lower-casing, the other columns in clear;
  at most 300,000 rows and 20 MB per file, so larger audiences go in several files.
* CRM: a plain CSV of lead ids, external ids and scores, with no personal data.

Phones are read by ``phonenumbers`` with the lead's country as the region, countries by ``pycountry`` (names in
any language it knows, codes, and UK for GB). A platform's minimum size counts only rows with a person identifier
it matches on (an email, a phone, a full name or address), and rows without one are left out. Every cell is
written so that spreadsheets read it as text, never as a formula (``domain/csvfiles.py``).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lookalike_assets.domain.csvfiles import SafeWriter
from lookalike_assets.domain.identifiers import country_code as iso_country
from lookalike_assets.domain.identifiers import normalize_email, normalize_phone

# Minimum audience sizes the platforms accept (configurable by the exporter).
MIN_SIZES: dict[str, int] = {"meta": 100, "google": 100, "linkedin": 300, "crm": 1}
# LinkedIn's documented limits per uploaded file; a larger export is split into parts.
LINKEDIN_MAX_ROWS = 300_000
LINKEDIN_MAX_BYTES = 20 * 1024 * 1024


class ExportError(RuntimeError):
    pass


class AudienceTooSmall(ExportError):
    pass


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def norm_email(email: str | None, *, google: bool = False) -> str | None:
    """Trimmed, lower-cased, syntactically valid (email-validator); for Google, dots before @gmail.com and
    @googlemail.com removed, as Customer Match asks."""
    e = normalize_email(email)
    if e is None:
        return None
    local, _, domain = e.rpartition("@")
    if google and domain in ("gmail.com", "googlemail.com"):
        local = local.replace(".", "")
    return f"{local}@{domain}"


def country_code(country: str | None) -> str | None:
    """ISO 3166-1 alpha-2 for a code or a name in any language pycountry knows (UK is GB)."""
    return iso_country(country)


def norm_phone_e164(phone: str | None, country: str | None = None) -> str | None:
    """E.164 by phonenumbers, a national number read with the lead's country as its region (Google)."""
    return normalize_phone(phone, country)


def norm_phone_digits(phone: str | None, country: str | None = None) -> str | None:
    """The E.164 digits without '+' (Meta: country code, no leading zeros or trunk prefix)."""
    e = norm_phone_e164(phone, country)
    return e[1:] if e else None


def norm_name_meta(name: str | None) -> str | None:
    """Lower case, no punctuation or spaces; letters beyond a-z kept in UTF-8, as Meta asks."""
    if not name:
        return None
    s = unicodedata.normalize("NFC", name).strip().lower()
    s = "".join(ch for ch in s if ch.isalpha())
    return s or None


def norm_name_google(name: str | None) -> str | None:
    """Lower case with every space removed (``Mary Ann`` -> ``maryann``), as Customer Match asks; punctuation
    and accented letters stay."""
    if not name:
        return None
    s = re.sub(r"\s+", "", unicodedata.normalize("NFC", name).strip().lower())
    return s or None


def norm_zip(value: str | None) -> str | None:
    """A postal code as text (leading zeros kept), trimmed; None when empty."""
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def _h(value: str | None) -> str:
    return sha256(value) if value else ""


@dataclass(frozen=True)
class ExportFormat:
    name: str
    columns: tuple[str, ...]

    def row(self, m: Mapping[str, Any]) -> list[str]:
        raise NotImplementedError

    def identifies(self, row: list[str]) -> bool:
        """Does the row carry a person identifier the platform matches on?"""
        raise NotImplementedError

    def left_out(self, m: Mapping[str, Any]) -> str | None:
        """What of this member the platform's columns cannot take, as a key counted over the export (None: all)."""
        return None

    def note(self, key: str, n: int, rows: int) -> str:
        """A sentence for ``n`` of ``rows`` members with ``left_out`` ``key``."""
        return f"{n} of {rows}: {key}"


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

    def identifies(self, row):  # an email, a phone, or a full name: a country alone matches nobody
        return bool(row[0] or row[1] or (row[2] and row[3]))


class GoogleFormat(ExportFormat):
    def row(self, m):
        cc = country_code(m.get("country"))
        zip_ = norm_zip(m.get("zip"))
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

    def identifies(self, row):  # an email, a phone, or the whole address
        return bool(row[0] or row[1] or row[2])

    def left_out(self, m):
        # Google matches a name only with its country and postal code: without the code, the name is not sent
        if norm_name_google(m.get("first_name")) and norm_name_google(m.get("last_name")) and \
                country_code(m.get("country")) and not norm_zip(m.get("zip")):
            return "no_zip"
        return None

    def note(self, key, n, rows):
        return (f"{n} of {rows} people have a name and a country but no postal code: Google matches a name only "
                "with its postal code, so their name and country are left empty (their email or phone still "
                "match); import a zip or postal code column to send them")


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

    def identifies(self, row):  # an email, or a name with the company or the title
        return bool(row[0] or (row[1] and row[2] and (row[3] or row[4])))


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

    def identifies(self, row):
        return True


FORMATS: dict[str, ExportFormat] = {
    "meta": MetaFormat("meta", ("email", "phone", "fn", "ln", "country", "extern_id")),
    "google": GoogleFormat("google", ("Email", "Phone", "First Name", "Last Name", "Country", "Zip")),
    "linkedin": LinkedInFormat("linkedin", ("email", "firstname", "lastname", "jobtitle", "employeecompany",
                                            "country", "googleaid")),
    "crm": CrmFormat("crm", ("lead_id", "external_id", "audience_id", "audience", "similarity_score",
                             "rank_score", "decile", "top_reasons")),
}
SPLITS: dict[str, tuple[int, int]] = {"linkedin": (LINKEDIN_MAX_ROWS, LINKEDIN_MAX_BYTES)}


@dataclass
class RenderedExport:
    format: str
    parts: list[bytes]  # one file, or several where the platform limits a file's rows or bytes
    rows: int
    skipped: int  # members with no person identifier this platform matches on
    notes: list[str] = field(default_factory=list)  # what the platform's columns could not take, and why

    @property
    def content(self) -> bytes:
        if len(self.parts) != 1:
            raise ExportError(f"the {self.format} export has {len(self.parts)} parts: use .parts")
        return self.parts[0]

    @property
    def sha256(self) -> str:
        h = hashlib.sha256()
        for p in self.parts:
            h.update(p)
        return h.hexdigest()

    def file_names(self) -> list[str]:
        if len(self.parts) == 1:
            return [f"{self.format}.csv"]
        return [f"{self.format}-part-{i:03d}-of-{len(self.parts):03d}.csv" for i in range(1, len(self.parts) + 1)]


def render(fmt_name: str, members: Iterable[Mapping[str, Any]], min_size: int | None = None,
           split: tuple[int, int] | None = None) -> RenderedExport:
    """The CSV file(s) a platform's upload accepts; members without a person identifier are left out. Raises
    AudienceTooSmall below the platform's minimum (counted over the rows that do identify someone). ``split``:
    (max rows, max bytes) per file, by default the platform's documented limits."""
    try:
        fmt = FORMATS[fmt_name]
    except KeyError:
        raise ExportError(f"unknown export format {fmt_name!r} (known: {', '.join(FORMATS)})") from None
    max_rows, max_bytes = split or SPLITS.get(fmt_name, (0, 0))
    header = _csv_line(fmt.columns)
    parts: list[bytes] = []
    lines: list[bytes] = []
    size = len(header)
    rows = skipped = 0
    gaps: Counter = Counter()
    for m in members:
        r = fmt.row(m)
        if not fmt.identifies(r):
            skipped += 1
            continue
        if (gap := fmt.left_out(m)) is not None:
            gaps[gap] += 1
        line = _csv_line(r)
        if lines and ((max_rows and len(lines) >= max_rows) or (max_bytes and size + len(line) > max_bytes)):
            parts.append(header + b"".join(lines))
            lines, size = [], len(header)
        lines.append(line)
        size += len(line)
        rows += 1
    parts.append(header + b"".join(lines))
    minimum = MIN_SIZES[fmt_name] if min_size is None else min_size
    if rows < minimum:
        raise AudienceTooSmall(f"{fmt_name} needs at least {minimum} matched people per audience; this export has "
                               f"{rows} ({skipped} member(s) without a person identifier it matches on)")
    return RenderedExport(fmt_name, parts, rows, skipped, [fmt.note(k, n, rows) for k, n in sorted(gaps.items())])


def _csv_line(cells) -> bytes:
    buf = io.StringIO()
    SafeWriter(buf).writerow(cells)
    return buf.getvalue().encode("utf-8")


# ---------------------------------------------------------------------------------------------------------
# Destinations


class Destination(Protocol):
    """Where export files go. Implement ``deliver`` for another target (SFTP, an API upload, a bucket)."""

    name: str

    def deliver(self, path: Sequence[str], content: bytes) -> str:
        """Store ``content`` under the relative ``path`` parts; return where it went. Raise on failure."""


def write_atomically(target: Path, content: bytes) -> None:
    """``content`` into ``target`` as a whole or not at all: a temporary file beside it, then a rename."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        write_atomically(target, content)
        return str(target)
