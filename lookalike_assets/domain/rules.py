"""The audience rule language (``lookalike_audience.rules``), validated and evaluated over a candidate pool.

Example::

    {
      "filters": [
        {"field": "industry", "op": "in", "values": ["software", "fintech"]},
        {"field": "country", "op": "not_in", "values": ["brazil"]},
        {"field": "company_size", "op": "between", "min": 50, "max": 5000},
        {"field": "bio", "op": "present"},
        {"field": "web_visits", "op": "gte", "value": 2},
        {"field": "attributes.plan", "op": "eq", "value": "enterprise"}
      ],
      "min_similarity": 0.55,
      "reach": {"max_percent": 5},
      "exclude": {"seeds": true, "customers": true, "audiences": ["Engaged lookalikes"]},
      "auto_publish": true,
      "destinations": ["meta", "google", "linkedin", {"platform": "crm", "per_segment": true}],
      "segments": {"k_max": 8},
      "holdout": {"percent": 10},
      "auto_tune": false
    }

Only known fields and operators are accepted; anything else is refused with an error that names it. Rules are
evaluated in Python over the pool's rows, so values never reach SQL: quotes, semicolons and odd unicode are
just values.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

FieldType = Literal["text", "number", "datetime"]

# Fields a rule may name, with their type. Imported columns are named "attributes.<column>".
LEAD_FIELDS: dict[str, FieldType] = {
    "industry": "text",
    "company": "text",
    "company_size": "number",
    "country": "text",
    "region": "text",
    "title": "text",
    "seniority": "text",
    "bio": "text",
    "property_type": "text",
    "email_opens": "number",
    "web_visits": "number",
    "last_activity_at": "datetime",
    "email": "text",
    "phone": "text",
}
CANDIDATE_FIELDS: dict[str, FieldType] = {"similarity_score": "number", "decile": "number", "rank_score": "number"}
# Personal identifiers can be tested for presence only: a rule must not become a way to look people up.
PRESENCE_ONLY = {"email", "phone"}

TEXT_OPS = {"in", "not_in", "eq", "ne", "contains", "present", "absent"}
NUMBER_OPS = {"in", "not_in", "eq", "ne", "gt", "gte", "lt", "lte", "between", "present", "absent"}
# within_last / not_within_last: relative to when the audience is refreshed, with an ISO 8601 duration ("P30D")
DATETIME_OPS = {"gt", "gte", "lt", "lte", "between", "present", "absent", "within_last", "not_within_last"}
RELATIVE_OPS = {"within_last", "not_within_last"}
ALL_OPS = sorted(TEXT_OPS | NUMBER_OPS | DATETIME_OPS)
DESTINATIONS = ("meta", "google", "linkedin", "crm")
MAX_LIST = 1000

Scalar = str | int | float | bool


class RuleError(ValueError):
    """Rules that cannot be used; the message names every problem and where it is."""


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(min_length=1, max_length=200)
    op: str
    values: list[Scalar] | None = Field(default=None, max_length=MAX_LIST)
    value: Scalar | None = None
    min: float | str | None = None
    max: float | str | None = None

    @field_validator("op")
    @classmethod
    def _known_op(cls, op: str) -> str:
        if op not in ALL_OPS:
            raise ValueError(f"unknown operator {op!r} (known: {', '.join(ALL_OPS)})")
        return op

    @model_validator(mode="after")
    def _operands(self) -> Filter:
        op = self.op
        if op in ("in", "not_in"):
            if not self.values:
                raise ValueError(f"operator {op!r} needs a non-empty 'values' list")
            if self.value is not None or self.min is not None or self.max is not None:
                raise ValueError(f"operator {op!r} takes only 'values'")
        elif op == "between":
            if self.min is None and self.max is None:
                raise ValueError("operator 'between' needs 'min', 'max' or both")
            if self.values is not None or self.value is not None:
                raise ValueError("operator 'between' takes only 'min' and 'max'")
        elif op in ("present", "absent"):
            if any(v is not None for v in (self.values, self.value, self.min, self.max)):
                raise ValueError(f"operator {op!r} takes no value")
        else:
            if self.value is None:
                raise ValueError(f"operator {op!r} needs a 'value'")
            if self.values is not None or self.min is not None or self.max is not None:
                raise ValueError(f"operator {op!r} takes only 'value'")
        return self


class Reach(BaseModel):
    """Audience size cap: an absolute count, a percentage of the tenant's eligible leads (as ad platforms'
    1-10 % lookalike sizes), or both (the smaller wins)."""

    model_config = ConfigDict(extra="forbid")

    max_size: int | None = Field(default=None, ge=1, le=10_000_000)
    max_percent: float | None = Field(default=None, gt=0, le=100)

    @model_validator(mode="after")
    def _one(self) -> Reach:
        if self.max_size is None and self.max_percent is None:
            raise ValueError("reach needs 'max_size', 'max_percent' or both")
        return self

    def cap(self, eligible: int) -> int:
        caps = []
        if self.max_size is not None:
            caps.append(self.max_size)
        if self.max_percent is not None:
            caps.append(math.floor(eligible * self.max_percent / 100.0))
        return max(min(caps), 0)


class Exclude(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seeds: bool = Field(default=True, description="Every live seed of the tenant, not only the audience's.")
    customers: bool = Field(default=False, description="Leads with a 'won' seed or a deal_closed conversion.")
    suppression_lists: Literal[True] = Field(default=True, description="Always applied; cannot be turned off.")
    audiences: list[str] = Field(default_factory=list, max_length=50,
                                 description="Members of these audiences (names or ids) are left out.")


class DestinationSpec(BaseModel):
    """A destination written as an object: its platform, and whether each segment also gets its own file."""

    model_config = ConfigDict(extra="forbid")

    platform: Literal["meta", "google", "linkedin", "crm"]
    per_segment: bool = False


class NamedDestination(BaseModel):
    """A destination of the tenant's by its name (``lookalike destinations add NAME``): the audience is synced
    there (adds and removes) rather than written as a file."""

    model_config = ConfigDict(extra="forbid")

    destination: str = Field(min_length=1, max_length=100)


def _destination_kind(value: Any) -> str:
    if isinstance(value, (str, DestinationSpec, NamedDestination)):
        return {str: "format", DestinationSpec: "spec", NamedDestination: "named"}.get(type(value), "format")
    return "named" if isinstance(value, Mapping) and "destination" in value else "spec"


# A destination in the rules: a file format by its name ("meta"), a format with options ({"platform": "crm",
# "per_segment": true}), or one of the tenant's destinations by its name ({"destination": "Meta main"}).
Destination = Annotated[
    Annotated[Literal["meta", "google", "linkedin", "crm"], Tag("format")]
    | Annotated[DestinationSpec, Tag("spec")]
    | Annotated[NamedDestination, Tag("named")],
    Discriminator(_destination_kind),
]


class Segments(BaseModel):
    """How ``audience_segments`` splits the audience once it is published: into k (``k_min``..``k_max``)
    segments, each between ``min_percent`` and ``max_percent`` of the tenant's scored leads where the audience is
    big enough for that, else between ``min_share`` and ``max_share`` of the audience; never below ``min_size``
    members."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    k_min: int = Field(default=2, ge=1, le=50)
    k_max: int = Field(default=10, ge=1, le=50)
    min_percent: float = Field(default=5.0, gt=0, le=100)
    max_percent: float = Field(default=10.0, gt=0, le=100)
    min_share: float = Field(default=0.1, gt=0, le=1)
    max_share: float = Field(default=0.5, gt=0, le=1)
    min_size: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Segments:
        for lo, hi in (("k_min", "k_max"), ("min_percent", "max_percent"), ("min_share", "max_share")):
            if getattr(self, lo) > getattr(self, hi):
                raise ValueError(f"{lo} ({getattr(self, lo)}) is greater than {hi} ({getattr(self, hi)})")
        return self


class Holdout(BaseModel):
    """A share of the audience's members kept out of every export (the ``control`` arm, chosen by a stable hash
    of tenant, audience and lead) to measure what targeting the rest (``treatment``) causes."""

    model_config = ConfigDict(extra="forbid")

    percent: float = Field(default=0.0, ge=0, le=50, description="Share of members held out, 0 (off) to 50.")


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filters: list[Filter] = Field(default_factory=list, max_length=100)
    min_similarity: float | None = Field(default=None, ge=-1, le=1)
    reach: Reach | None = None
    exclude: Exclude = Field(default_factory=Exclude)
    auto_publish: bool = False
    destinations: list[Destination] = Field(default_factory=lambda: ["crm"])
    segments: Segments = Field(default_factory=Segments)
    holdout: Holdout = Field(default_factory=Holdout)
    auto_tune: bool = Field(default=False, description="Apply the tuning recommendation's reach cap at each refresh.")

    def destination_specs(self) -> list[DestinationSpec]:
        """Each destination once (the first mention wins), as objects."""
        out: dict[str, DestinationSpec] = {}
        for d in self.destinations:
            if isinstance(d, NamedDestination):
                continue
            spec = d if isinstance(d, DestinationSpec) else DestinationSpec(platform=d)
            out.setdefault(spec.platform, spec)
        return list(out.values())

    def named_destinations(self) -> list[str]:
        """The tenant's destinations this audience is synced to, by name, each once."""
        return list(dict.fromkeys(d.destination for d in self.destinations if isinstance(d, NamedDestination)))


def format_errors(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        # union members' tags ("DestinationSpec", "literal[...]") are pydantic's, not places in the rules
        path = [p for p in e["loc"] if not (isinstance(p, str) and (p in ("DestinationSpec", "NamedDestination",
                                                                          "format", "spec", "named")
                                                                    or p.startswith("literal[")))]
        loc = "rules" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown key {e['loc'][-1]!r}"
        elif e["type"] in ("literal_error", "model_type") and "destinations" in map(str, e["loc"]):
            if not isinstance(e["input"], str):
                msg = ('a destination is a file format\'s name ("meta"), an object with its "platform", or '
                       '{"destination": "<name of one of your destinations>"}')
            else:
                msg = f"unknown destination {e['input']!r} (known: {', '.join(DESTINATIONS)})"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def field_type(name: str, attribute_types: Mapping[str, FieldType]) -> FieldType | None:
    if name in LEAD_FIELDS:
        return LEAD_FIELDS[name]
    if name in CANDIDATE_FIELDS:
        return CANDIDATE_FIELDS[name]
    if name.startswith("attributes."):
        return attribute_types.get(name.removeprefix("attributes."))
    return None


def parse_rules(raw: Mapping[str, Any] | None, attribute_types: Mapping[str, FieldType] | None = None) -> Rules:
    """Validate ``raw`` against the language and the tenant's known fields; raise RuleError naming each problem.

    ``attribute_types``: the tenant's imported columns (``attributes.<name>``) and their types.
    """
    attribute_types = attribute_types or {}
    if raw is not None and not isinstance(raw, Mapping):
        raise RuleError(f"rules must be a JSON object, got {type(raw).__name__}")
    try:
        rules = Rules.model_validate(dict(raw or {}))
    except ValidationError as exc:
        raise RuleError(format_errors(exc)) from None
    problems = []
    for i, f in enumerate(rules.filters):
        where = f"rules.filters[{i}]"
        ftype = field_type(f.field, attribute_types)
        if ftype is None:
            known = sorted(LEAD_FIELDS) + sorted(CANDIDATE_FIELDS) + [f"attributes.{a}" for a in sorted(attribute_types)]
            problems.append(f"{where}.field: unknown field {f.field!r} (known: {', '.join(known)})")
            continue
        allowed = {"text": TEXT_OPS, "number": NUMBER_OPS, "datetime": DATETIME_OPS}[ftype]
        if f.field in PRESENCE_ONLY:
            allowed = {"present", "absent"}
        if f.op not in allowed:
            problems.append(f"{where}.op: operator {f.op!r} does not apply to {ftype} field {f.field!r} "
                            f"(use one of: {', '.join(sorted(allowed))})")
            continue
        try:
            _operands(f, ftype)
        except (TypeError, ValueError) as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise RuleError("; ".join(problems))
    return rules


# ---------------------------------------------------------------------------------------------------------
# Values


def norm_text(v: Any) -> str | None:
    if v is None:
        return None
    s = unicodedata.normalize("NFKC", str(v)).strip().casefold()
    return s or None


def to_number(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(float(v)) else None
    try:
        f = float(str(v).strip().replace(",", ""))
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def to_datetime(v: Any) -> datetime | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=timezone.utc)
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day, tzinfo=timezone.utc)
    try:
        d = datetime.fromisoformat(str(v).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def _convert(v: Any, ftype: FieldType, what: str):
    conv = {"text": norm_text, "number": to_number, "datetime": to_datetime}[ftype]
    out = conv(v)
    if out is None:
        raise ValueError(f"{what} {v!r} is not a valid {ftype}")
    return out


DURATION = TypeAdapter(timedelta)


def parse_duration(v: Any) -> timedelta:
    """An ISO 8601 duration (``P30D``, ``P2W``, ``PT12H``), positive."""
    if not isinstance(v, str) or not v.strip().lstrip("-").upper().startswith("P"):
        raise ValueError(f"value {v!r} is not an ISO 8601 duration such as 'P30D'")
    try:
        d = DURATION.validate_python(v.strip())
    except ValidationError:
        raise ValueError(f"value {v!r} is not an ISO 8601 duration such as 'P30D'") from None
    if d <= timedelta(0):
        raise ValueError(f"duration {v!r} must be positive")
    return d


def _operands(f: Filter, ftype: FieldType, now: datetime | None = None) -> tuple:
    if f.op in RELATIVE_OPS:
        return ((now or datetime.now(timezone.utc)) - parse_duration(f.value),)
    if f.op in ("in", "not_in"):
        return (frozenset(_convert(v, ftype, "value") for v in f.values or []),)
    if f.op == "between":
        lo = _convert(f.min, ftype, "min") if f.min is not None else None
        hi = _convert(f.max, ftype, "max") if f.max is not None else None
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"min {f.min!r} is greater than max {f.max!r}")
        return lo, hi
    if f.op in ("present", "absent"):
        return ()
    return (_convert(f.value, ftype, "value"),)


def _present(v: Any) -> bool:
    return v is not None and not (isinstance(v, str) and not v.strip())


@dataclass(frozen=True)
class CompiledFilter:
    field: str
    op: str
    ftype: FieldType
    operands: tuple

    def matches(self, row: Mapping[str, Any]) -> bool:
        raw = lookup(row, self.field)
        if self.op == "present":
            return _present(raw)
        if self.op == "absent":
            return not _present(raw)
        conv = {"text": norm_text, "number": to_number, "datetime": to_datetime}[self.ftype]
        v = conv(raw)
        if v is None:
            # a missing value is not in a list, differs from anything, and was not active lately
            return self.op in ("not_in", "ne", "not_within_last")
        op, o = self.op, self.operands
        if op == "within_last":
            return v >= o[0]
        if op == "not_within_last":
            return v < o[0]
        if op == "in":
            return v in o[0]
        if op == "not_in":
            return v not in o[0]
        if op == "eq":
            return v == o[0]
        if op == "ne":
            return v != o[0]
        if op == "contains":
            return o[0] in v
        if op == "gt":
            return v > o[0]
        if op == "gte":
            return v >= o[0]
        if op == "lt":
            return v < o[0]
        if op == "lte":
            return v <= o[0]
        if op == "between":
            lo, hi = o
            return (lo is None or v >= lo) and (hi is None or v <= hi)
        raise AssertionError(op)  # pragma: no cover

    def describe(self) -> str:
        return f"{self.field} {self.op}"


def lookup(row: Mapping[str, Any], name: str) -> Any:
    if name.startswith("attributes."):
        return (row.get("attributes") or {}).get(name.removeprefix("attributes."))
    return row.get(name)


def compile_filters(rules: Rules, attribute_types: Mapping[str, FieldType] | None = None,
                    now: datetime | None = None) -> list[CompiledFilter]:
    """Filters ready to test rows; relative dates (``within_last``) are fixed at ``now`` (default: this moment, the
    refresh)."""
    attribute_types = attribute_types or {}
    now = now or datetime.now(timezone.utc)
    out = []
    for f in rules.filters:
        ftype = field_type(f.field, attribute_types)
        assert ftype is not None  # parse_rules checked it
        out.append(CompiledFilter(f.field, f.op, ftype, _operands(f, ftype, now)))
    return out


# ---------------------------------------------------------------------------------------------------------
# Applying rules to a pool


@dataclass
class MembershipPlan:
    members: list[Any]  # lead ids, best first
    considered: int
    cap: int | None
    dropped: Counter = field(default_factory=Counter)
    reach_curve: list[dict[str, float]] = field(default_factory=list)
    scored_by: str = "similarity"  # what the reach curve's thresholds are: "ranking model score" or "similarity"


def score_of(row: Mapping[str, Any]) -> float:
    """What an audience is cut by: the learned ranking's score where the tenant has a model, else similarity."""
    rank = row.get("rank_score")
    return float(rank) if rank is not None else float(row["similarity_score"])


def apply_rules(
    rules: Rules,
    pool: Sequence[Mapping[str, Any]],
    *,
    tenant_eligible: int,
    excluded: Mapping[str, set] | None = None,
    attribute_types: Mapping[str, FieldType] | None = None,
    curve_points: int = 20,
) -> MembershipPlan:
    """Members of an audience (lead ids): pool rows (dicts with lead_id, similarity_score, rank_score and lead
    fields) that pass every filter and exclusion, best first by ``score_of``, cut to the reach cap. The reach
    curve is over the same score.

    ``excluded``: reason -> lead ids to leave out (seeds, customers, suppressed, other audiences' members).
    """
    filters = compile_filters(rules, attribute_types)
    excluded = excluded or {}
    kept = []
    dropped: Counter = Counter()
    for row in pool:
        reason = next((r for r, ids in excluded.items() if row["lead_id"] in ids), None)
        if reason is not None:
            dropped[f"excluded: {reason}"] += 1
            continue
        if rules.min_similarity is not None and row["similarity_score"] < rules.min_similarity:
            dropped["min_similarity"] += 1
            continue
        failed = next((f for f in filters if not f.matches(row)), None)
        if failed is not None:
            dropped[f"filter: {failed.describe()}"] += 1
            continue
        kept.append(row)
    kept.sort(key=lambda r: (-score_of(r), str(r["lead_id"])))
    cap = rules.reach.cap(tenant_eligible) if rules.reach else None
    if cap is not None and len(kept) > cap:
        dropped["reach cap"] += len(kept) - cap
        members = kept[:cap]
    else:
        members = kept
    return MembershipPlan(
        members=[r["lead_id"] for r in members], considered=len(pool), cap=cap, dropped=dropped,
        reach_curve=reach_curve([score_of(r) for r in kept], curve_points),
        scored_by=SCORED_BY[any(r.get("rank_score") is not None for r in kept)],
    )


# What the score an audience is cut by is, in words: the learned ranking's score, or likeness to the seeds
SCORED_BY = {True: "ranking model score", False: "similarity"}


def reach_curve(scores: Iterable[float], points: int = 20) -> list[dict[str, float]]:
    """Audience size at each threshold of the score it is cut by, from the highest score down to the lowest, and
    the size as a share of every candidate that passes the rules ("the best 10 %")."""
    s = sorted((float(x) for x in scores), reverse=True)
    if not s:
        return []
    hi, lo = s[0], s[-1]
    if hi == lo:
        return [{"threshold": round(hi, 4), "size": len(s), "share": 1.0}]
    out = []
    j = 0
    for k in range(points + 1):
        t = hi - (hi - lo) * k / points
        while j < len(s) and s[j] >= t - 1e-12:
            j += 1
        out.append({"threshold": round(t, 4), "size": j, "share": round(j / len(s), 4)})
    return out


def overlap(members: set, others: Mapping[str, set]) -> dict[str, dict[str, float]]:
    """Shared members and Jaccard index with each other audience (by lead)."""
    out = {}
    for name, other in others.items():
        shared = len(members & other)
        union = len(members | other)
        out[name] = {"shared": shared, "jaccard": round(shared / union, 4) if union else 0.0}
    return out


def exclusion_order(names: Mapping[str, list[str]]) -> list[str]:
    """Audiences in an order where each comes after the audiences whose members it excludes.

    ``names``: audience -> audiences it excludes. Raises RuleError on a cycle, naming it.
    """
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycle = path[path.index(n):] + [n]
            raise RuleError(f"audiences exclude each other in a cycle: {' -> '.join(cycle)}")
        state[n] = 1
        for m in names.get(n, []):
            if m in names:
                visit(m, path + [n])
        state[n] = 2
        order.append(n)

    for n in names:
        visit(n, [])
    return order


def named_destinations_of(raw: Mapping[str, Any] | None) -> list[str]:
    """The names of the tenant's destinations an audience's rules sync it to."""
    dests = (raw or {}).get("destinations", ["crm"])
    if not isinstance(dests, list):
        raise RuleError("rules.destinations: must be a list of names or objects")
    try:
        return Rules.model_validate({"destinations": dests}).named_destinations()
    except ValidationError as exc:
        raise RuleError(format_errors(exc)) from None


def destinations_of(raw: Mapping[str, Any] | None) -> list[DestinationSpec]:
    """Just the export destinations of an audience's rules (exports need nothing else), each once."""
    dests = (raw or {}).get("destinations", ["crm"])
    if not isinstance(dests, list):
        raise RuleError("rules.destinations: must be a list of names or objects")
    try:
        return Rules.model_validate({"destinations": dests}).destination_specs()
    except ValidationError as exc:
        raise RuleError(format_errors(exc)) from None
