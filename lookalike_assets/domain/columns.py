"""What each column of an imported file is, inferred from its name and its values the way a careful analyst
would: the id, personal identifiers (email, phone, names, postal codes, addresses, links), the lead fields
lookalike knows (company, title, seniority, industry, company size, country, region, activity), free text to
embed, dates, numbers and categories.

Identifiers and personal data are never similarity or model features. Every decision carries its reason, so a
dry run can show it and a person can override it with a mapping.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lookalike_assets.domain import identifiers as ids

# What a column can be. "id": the upsert key; "personal": personal data kept for exports only (email, phone,
# names, zip); "field": a dedicated lead column; "text"/"categorical"/"numeric": imported attributes that are
# features; "date": an imported date (kept, not a feature); "identifier": id-like values (never a feature, not
# imported); "ignored": not imported.
Role = Literal["id", "personal", "field", "text", "categorical", "numeric", "date", "identifier", "ignored"]

# Dedicated lead columns and how each is typed.
LEAD_TEXT_FIELDS = ("company", "industry", "country", "region", "title", "seniority", "bio", "property_type")
LEAD_INT_FIELDS = ("company_size", "email_opens", "web_visits")
LEAD_DATE_FIELDS = ("last_activity_at",)
PERSONAL_FIELDS = ("email", "phone", "first_name", "last_name", "full_name", "zip")
LEAD_FIELDS = (*LEAD_TEXT_FIELDS, *LEAD_INT_FIELDS, *LEAD_DATE_FIELDS)

# Names that say what a column is (compared after normalization: lower case, words joined by "_").
NAMES: dict[str, tuple[str, ...]] = {
    "id": ("id", "external_id", "externalid", "lead_id", "crm_id", "contact_id", "customer_id", "record_id",
           "person_id", "user_id", "account_id", "uuid", "guid", "hubspot_id", "salesforce_id", "sfdc_id"),
    "email": ("email", "e_mail", "email_address", "mail", "work_email", "business_email", "contact_email"),
    "phone": ("phone", "phone_number", "telephone", "tel", "mobile", "mobile_phone", "cell", "cell_phone",
              "work_phone", "phonenumber", "msisdn"),
    "first_name": ("first_name", "firstname", "first", "given_name", "fname", "forename"),
    "last_name": ("last_name", "lastname", "last", "surname", "family_name", "lname"),
    "full_name": ("name", "full_name", "fullname", "contact_name", "person_name", "lead_name", "display_name"),
    "zip": ("zip", "zipcode", "zip_code", "postal_code", "postcode", "post_code", "postal", "plz", "cep"),
    "company": ("company", "company_name", "organization", "organisation", "org", "employer", "account",
                "account_name", "business_name"),
    "title": ("title", "job_title", "jobtitle", "position", "job_position", "role", "job_role", "designation",
              "occupation"),
    "seniority": ("seniority", "seniority_level", "job_level", "management_level"),
    "industry": ("industry", "sector", "vertical", "industry_name"),
    "company_size": ("company_size", "employees", "employee_count", "num_employees", "number_of_employees",
                     "headcount", "staff", "staff_count", "company_employees", "size"),
    "country": ("country", "country_name", "country_code", "nation"),
    "region": ("region", "state", "province", "county", "state_province"),
    "property_type": ("property_type",),
    "email_opens": ("email_opens", "opens", "email_open_count"),
    "web_visits": ("web_visits", "visits", "website_visits", "page_visits", "sessions"),
    "last_activity_at": ("last_activity_at", "last_activity", "last_active", "last_seen", "last_contacted",
                         "last_touch", "last_engagement", "last_activity_date"),
    "bio": ("bio", "biography", "about", "summary", "description", "profile"),
}
# Personal or identifying data that is not imported at all (exports do not need it).
IDENTIFYING = ("address", "street", "street_address", "address_line", "address_1", "address_2", "ip", "ip_address",
               "url", "website", "linkedin", "linkedin_url", "twitter", "facebook", "ssn", "passport",
               "date_of_birth", "dob", "birthday", "birth_date", "iban", "credit_card", "password")
FREE_TEXT_HINTS = ("notes", "note", "comment", "comments", "remarks", "message", "text", "feedback", "details")

SAMPLE = 2000


def normalize_name(name: str) -> str:
    """``"Job Title"``, ``"jobTitle"`` and ``"job-title"`` all become ``"job_title"``."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name).strip())
    return re.sub(r"[^0-9a-z]+", "_", s.lower()).strip("_")


@dataclass
class ColumnProfile:
    """What a sample of a column's values looks like."""

    present: int
    distinct: int
    mean_length: float
    mean_words: float
    emails: float
    phones: float
    numbers: float
    number_style: str
    dates: float
    booleans: float
    countries: float
    leading_zeros: float
    fixed_width_digits: bool
    examples: list[str] = field(default_factory=list)

    @property
    def distinct_ratio(self) -> float:
        return self.distinct / self.present if self.present else 0.0


def profile(values: Sequence[Any]) -> ColumnProfile:
    vals = [str(v).strip() for v in values if v is not None and str(v).strip() != ""][:SAMPLE]
    n = len(vals)
    if not n:
        return ColumnProfile(0, 0, 0.0, 0.0, 0, 0, 0, "dot", 0, 0, 0, 0, False)
    style = ids.number_style(vals)

    def share(pred) -> float:
        return sum(1 for v in vals if pred(v)) / n

    def numeric(v: str) -> bool:
        try:
            return ids.parse_number(v, style) is not None
        except ids.AmbiguousNumber:
            return False

    digits = [v for v in vals if v.isdigit()]
    lengths = {len(v) for v in digits}
    return ColumnProfile(
        present=n, distinct=len(set(vals)),
        mean_length=statistics.fmean(len(v) for v in vals), mean_words=statistics.fmean(len(v.split()) for v in vals),
        emails=share(ids.is_email) if any("@" in v for v in vals[:200]) else 0.0,
        phones=share(ids.looks_like_phone), numbers=share(numeric), number_style=style,
        dates=share(lambda v: not numeric(v) and ids.parse_datetime(v) is not None),
        booleans=share(ids.is_boolean),
        countries=share(lambda v: ids.country_code(v) is not None) if n and statistics.fmean(len(v) for v in vals) < 40 else 0.0,
        leading_zeros=share(lambda v: len(v) > 1 and v.isdigit() and v[0] == "0"),
        fixed_width_digits=len(digits) == n and len(lengths) == 1 and n >= 5,
        examples=list(dict.fromkeys(vals))[:3],
    )


@dataclass
class ColumnPlan:
    """How one file column is imported."""

    column: str
    role: Role
    target: str | None = None  # lead field ("title", "email", ...) or attribute key
    reason: str = ""

    @property
    def is_feature(self) -> bool:
        """Does the column feed the similarity vector or the model?"""
        if self.role in ("text", "categorical", "numeric"):
            return True
        return self.role == "field" and self.target in LEAD_TEXT_FIELDS + LEAD_INT_FIELDS

    @property
    def kind(self) -> str | None:
        """categorical / numeric / text for features."""
        if self.role in ("text", "categorical", "numeric"):
            return self.role
        if self.role == "field":
            if self.target in LEAD_INT_FIELDS:
                return "numeric"
            if self.target in ("bio",):
                return "text"
            if self.target in LEAD_TEXT_FIELDS:
                return "categorical"
        return None


def _name_role(norm: str) -> str | None:
    for role, names in NAMES.items():
        if norm in names:
            return role
    return None


def infer_column(name: str, values: Sequence[Any], *, taken: set[str]) -> ColumnPlan:
    """The plan for one column, from its name and a sample of its values. ``taken``: lead fields already given
    to another column (the first column of each kind wins; later ones are kept as attributes or ignored)."""
    norm = normalize_name(name)
    p = profile(values)
    by_name = _name_role(norm)

    def field_plan(target: str, why: str) -> ColumnPlan:
        if target in taken:
            return ColumnPlan(name, "ignored", None, f"a second {target} column ({why}); the first one is used")
        taken.add(target)
        role: Role = "personal" if target in PERSONAL_FIELDS else "field"
        return ColumnPlan(name, role, target, why)

    if p.present == 0:
        return ColumnPlan(name, "ignored", None, "empty in every row")
    if norm in IDENTIFYING or any(norm.endswith("_" + k) or norm.startswith(k + "_") for k in ("url", "ip", "address")):
        return ColumnPlan(name, "ignored", None, "personal or identifying data that lookalike does not need")
    if by_name == "email" or p.emails >= 0.9:
        return field_plan("email", "email addresses" if p.emails >= 0.5 else "named like an email column")
    if by_name == "phone" or (p.phones >= 0.9 and p.numbers < 0.5 and p.dates < 0.5):
        return field_plan("phone", "named like a phone column" if by_name == "phone" else "phone numbers")
    if by_name in ("first_name", "last_name"):
        return field_plan(by_name, "named like a person's name")
    if by_name == "full_name":
        return field_plan("full_name", "a person's full name (split into first and last name)")
    if by_name == "zip" or (p.fixed_width_digits and p.leading_zeros > 0):
        return field_plan("zip", "postal codes, kept as text" if by_name == "zip"
                          else "digit codes with leading zeros, kept as text")
    is_id_name = by_name == "id" or norm.endswith("_id") or norm.endswith("id") and len(norm) <= 6
    # a column named like the id is the id even with repeated values (those rows are rejected as duplicates);
    # other "*_id" columns are the id only when their values are unique
    if (by_name == "id" or is_id_name and p.distinct_ratio >= 0.98) and "id" not in taken:
        taken.add("id")
        return ColumnPlan(name, "id", None, f"named like an id, {p.distinct_ratio:.0%} distinct values")
    if is_id_name and p.distinct_ratio >= 0.98:
        if "id" in taken:
            return ColumnPlan(name, "identifier", None, "another id column: not imported, never a feature")
        taken.add("id")
        return ColumnPlan(name, "id", None, f"named like an id, {p.distinct_ratio:.0%} distinct values")
    if is_id_name:
        return ColumnPlan(name, "identifier", None, f"named like an id ({p.distinct_ratio:.0%} distinct): "
                          "not imported, never a feature")
    if by_name in ("last_activity_at",) and p.dates >= 0.8:
        return field_plan("last_activity_at", "dates of the last activity")
    if by_name in LEAD_INT_FIELDS and p.numbers >= 0.95:
        return field_plan(by_name, f"named like {by_name}, numbers")
    # a column named like a lead text field that holds numbers ("Seniority" in years) is a number, not that field
    numbers_named_as_text = by_name in ("seniority", "title", "industry", "property_type", "company") and \
        p.numbers >= 0.95
    if by_name in LEAD_TEXT_FIELDS and not numbers_named_as_text and \
            (by_name != "country" or p.countries >= 0.5 or p.mean_length < 40):
        return field_plan(by_name, f"named like {by_name}")
    if p.dates >= 0.9 and p.numbers < 0.5:
        return ColumnPlan(name, "date", normalize_name(name), "dates: kept, not a feature")
    if p.numbers >= 0.95 and p.leading_zeros == 0:
        if p.distinct_ratio >= 0.999 and p.present >= 200 and p.fixed_width_digits:
            return ColumnPlan(name, "identifier", None, "unique fixed-width numbers: an identifier, never a feature")
        return ColumnPlan(name, "numeric", normalize_name(name), "numbers"
                          + (" with decimal commas" if p.number_style == "comma" else ""))
    if p.leading_zeros > 0 and p.numbers >= 0.95:
        return ColumnPlan(name, "identifier", None, "digit codes with leading zeros: an identifier, never a feature")
    if norm in FREE_TEXT_HINTS or p.mean_words >= 6 or p.mean_length >= 40:
        return ColumnPlan(name, "text", normalize_name(name), "free text: embedded by the text encoder")
    if p.booleans >= 0.95:
        return ColumnPlan(name, "categorical", normalize_name(name), "yes/no values")
    if p.countries >= 0.9 and p.distinct >= 3 and "country" not in taken:
        return field_plan("country", "country names or codes")
    if p.distinct_ratio >= 0.9 and p.present >= 50:
        return ColumnPlan(name, "identifier", None, f"{p.distinct_ratio:.0%} distinct short values: identifier-like "
                          "(names, codes), never a feature")
    return ColumnPlan(name, "categorical", normalize_name(name), f"{p.distinct} distinct values")


def plan_file(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], *,
              forced: Mapping[str, ColumnPlan] | None = None) -> list[ColumnPlan]:
    """A plan for every column. ``forced`` plans (from a mapping) are used as given and claim their targets first.
    Columns are considered in the order of their normalized names, so the plan does not depend on the file's
    column order."""
    forced = dict(forced or {})
    taken = {p.target for p in forced.values() if p.target and p.role in ("field", "personal")}
    taken |= {"id"} if any(p.role == "id" for p in forced.values()) else set()
    out: dict[str, ColumnPlan] = dict(forced)
    # names that say what they are first, then the rest: a column named 'email' wins over one full of emails
    rest = [c for c in columns if c not in forced]
    rest.sort(key=lambda c: (_name_role(normalize_name(c)) is None, normalize_name(c), c))
    for c in rest:
        out[c] = infer_column(c, [r.get(c) for r in rows], taken=taken)
    return [out[c] for c in columns]


def resolve_lead_keys(given: Mapping[str, Any], attributes: set[str]) -> tuple[dict[str, Any], list[str]]:
    """A lead given by a caller, in lookalike's names: lead fields as they are (``title``), the tenant's own column
    names as its import read them (``job_title`` is ``title``, ``employees`` is ``company_size``, ``Demo
    Requested`` is the attribute ``demo_requested``), imported columns at the top level or under ``attributes``.
    Returns the lead (attributes under ``attributes``) and the keys that name nothing the tenant has."""
    out: dict[str, Any] = {}
    attrs: dict[str, Any] = {}
    unknown: list[str] = []
    identity = {"external_id", "email", "phone", "first_name", "last_name", "full_name", "zip"}

    def place(key: str, value: Any, nested: bool) -> None:
        norm = normalize_name(key)
        if key in LEAD_FIELDS or key in identity:
            out[key] = value
        elif norm in attributes:
            attrs[norm] = value
        elif (role := _name_role(norm)) in LEAD_FIELDS or role in identity:
            out[role] = value
        elif role == "id":
            out["external_id"] = value
        else:
            unknown.append(f"attributes.{key}" if nested else key)

    for k, v in given.items():
        if k == "attributes" and isinstance(v, Mapping):
            for ak, av in v.items():
                place(str(ak), av, True)
        else:
            place(str(k), v, False)
    if attrs:
        out["attributes"] = attrs
    return out, unknown

