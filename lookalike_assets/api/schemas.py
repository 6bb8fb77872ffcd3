"""The API's request and response bodies: every route answers one of these models, so the OpenAPI schema says
what comes back and a client generated from it is typed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from lookalike_assets.domain.exports import FORMATS
from lookalike_assets.domain.rules import Rules, format_errors


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _strict_rules(value: Any) -> Any:
    """Rules as the schema says, strictly (``"auto_tune": 0`` is not a boolean), every problem named."""
    if isinstance(value, dict):
        try:
            return Rules.model_validate(value, strict=True)
        except ValidationError as exc:
            raise ValueError(format_errors(exc)) from None
    return value


# An audience's rules in a request body: the domain's Rules (so the OpenAPI documents them), validated strictly
RulesIn = Annotated[Rules, BeforeValidator(_strict_rules)]


def given_rules(body: BaseModel) -> dict | None:
    """A body's ``rules`` as the client wrote them (what is stored), checked against ``Rules`` on the way in:
    fields it did not give are not filled with defaults."""
    return body.model_dump(mode="json", exclude_unset=True).get("rules")


# "Not blank", spelled so that the schema's regex (ECMA-262, what clients and the fuzzer read) and the server's
# (pydantic's Rust engine) agree on every character: their \S differ on some control and Unicode spaces.
NOT_BLANK = r"[^\x00-\x20\x7f]"


# An identifier as the database stores it: text without NUL characters (PostgreSQL's text cannot hold one).
Ident = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]


class SeedIn(Strict):
    lead_ids: list[Ident] = Field(min_length=1, max_length=10_000,
                                                                                 description="lead ids or external ids")
    label: Literal["won", "meeting", "replied", "scored", "manual"] = "manual"
    weight: float | None = Field(default=None, gt=0, le=100)


class SeedOut(BaseModel):
    seed_ids: list[str]
    not_found: list[str]
    already: list[str]


class AudienceIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    seed_ids: list[str] | None = Field(default=None, max_length=10_000)
    seed_set: dict | None = None
    rules: RulesIn | None = Field(default=None, description="filters, reach, exclusions, destinations, ...")
    description: str | None = Field(default=None, max_length=2000)


class DraftIn(Strict):
    description: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK,
                             description="the audience in words, e.g. 'CFOs at fintechs in Germany, top 5%'")
    create: bool = Field(default=False, description="create the draft audience (otherwise only propose it)")
    partial: bool = Field(default=False, description="with create: create it even if some words were not understood")
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NOT_BLANK,
                             description="the audience's name (default: the description)")


class DraftPart(BaseModel):
    phrase: str = Field(description="the words this part was read from")
    field: str
    op: str
    value: Any
    how: str = Field(description="how it was matched: exact, country, fuzzy, meaning, number, date, ...")
    confidence: float


class DraftOut(BaseModel):
    description: str
    rules: dict
    seed_set: dict
    seed_reason: str = Field(description="why this seed set")
    parts: list[DraftPart]
    not_understood: list[str] = Field(description="words that match no field or value well enough to guess")
    notes: list[str]
    audience_id: str | None = Field(default=None, description="the draft audience, when create was asked")
    job_id: str | None = None


class AudienceCreated(BaseModel):
    audience_id: str
    size_estimate: int | None
    job_id: str
    ignored_seed_ids: list[str] = Field(default_factory=list, description="seed ids that are not seeds of this "
                                        "tenant: reported, never stored")


class AudienceEdit(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    seed_set: dict | None = None
    rules: RulesIn | None = None


class AudienceListItem(BaseModel):
    audience_id: str
    name: str
    description: str | None
    status: str
    size_estimate: int | None
    seeds: int | None
    refreshed_at: str | None
    skipped: str | None
    top_decile_conversion_rate: float | None
    holdout_lift: dict | None
    exports: list[dict]


class EstimateIn(Strict):
    rules: RulesIn = Field(default_factory=Rules, description="draft rules, as an audience's `rules`")


class EstimateOut(BaseModel):
    eligible: int = Field(description="the tenant's embedded leads")
    matching: int = Field(description="leads the filters let through (estimated from a fixed sample)")
    size: int = Field(description="what the reach cap leaves, before seeds, exclusions and suppression")
    sample: int
    conversion_rate: float | None = Field(description="the rate the tenant's audiences converted at that size")
    notes: list[str]


class JobOut(BaseModel):
    job_id: str
    kind: Literal["audience", "export"]
    status: Literal["pending", "running", "completed", "failed"]
    run_id: str | None = None
    audience_id: str | None = None
    members: int | None = Field(default=None, description="the audience's members now")
    platform: str | None = Field(default=None, description="an export job's platform")
    exported_rows: int | None = Field(default=None, description="rows an export job wrote")
    export_status: str | None = Field(default=None, description="succeeded, skipped (below the platform's "
                                      "minimum) or failed")
    detail: str | None = None


class DestinationOptions(Strict):
    ad_account: str | None = Field(default=None, max_length=100, description="Meta: act_<id>; LinkedIn: the "
                                   "sponsored account's number.")
    url: str | None = Field(default=None, max_length=2000, description="Webhook: where batches are POSTed.")
    bucket: str | None = Field(default=None, max_length=255, description="S3.")
    prefix: str | None = Field(default=None, max_length=500, description="S3: the key prefix.")
    endpoint_url: str | None = Field(default=None, max_length=2000, description="S3: an S3-compatible service.")
    region: str | None = Field(default=None, max_length=50, description="S3.")
    customer_id: str | None = Field(default=None, max_length=20, description="Google Ads: 123-456-7890.")
    login_customer_id: str | None = Field(default=None, max_length=20, description="Google Ads: a manager account.")
    api_base_url: str | None = Field(default=None, max_length=2000, description="Another address of the "
                                     "platform's API (a proxy); part of this destination only.")


class DestinationCredentials(Strict):
    access_token: str | None = Field(default=None, max_length=4000, description="Meta, LinkedIn.")
    signing_secret: str | None = Field(default=None, max_length=4000, description="Webhook.")
    access_key_id: str | None = Field(default=None, max_length=200, description="S3.")
    secret_access_key: str | None = Field(default=None, max_length=4000, description="S3.")
    developer_token: str | None = Field(default=None, max_length=200, description="Google Ads.")
    client_id: str | None = Field(default=None, max_length=500, description="Google Ads: the OAuth client.")
    client_secret: str | None = Field(default=None, max_length=500, description="Google Ads: the OAuth client.")
    refresh_token: str | None = Field(default=None, max_length=2000, description="Google Ads: OAuth.")


class DestinationIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    platform: Literal["meta", "google", "linkedin", "webhook", "s3"]
    options: DestinationOptions = Field(default_factory=DestinationOptions)
    credentials: DestinationCredentials = Field(description="Sealed at once; never returned by any endpoint.")


class DestinationEdit(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    options: DestinationOptions | None = None
    credentials: DestinationCredentials | None = Field(default=None, description="All of them, replacing the old.")
    resume: bool = Field(default=False, description="Resume a destination paused after failed syncs.")


class DestinationOut(BaseModel):
    destination_id: str
    name: str
    platform: str
    options: dict
    status: str
    paused_reason: str | None = None
    last_sync: dict | None = None


class ColumnOut(BaseModel):
    """What an imported column means, as audiences in words read it."""

    column: str = Field(description="The column as rules name it without 'attributes.' (mnt_wines).")
    field: str = Field(description="The rule field (attributes.mnt_wines).")
    label: str
    description: str
    unit: str | None
    unit_words: str
    scale: float
    synonyms: list[str]
    kind: str
    corrected: bool = Field(description="A person corrected it (else inferred from the name and values).")


class ColumnEdit(Strict):
    """A correction: only what is given changes."""

    label: str | None = Field(default=None, min_length=1, max_length=200, pattern=NOT_BLANK)
    description: str | None = Field(default=None, min_length=1, max_length=200, pattern=NOT_BLANK)
    unit: Literal["count", "count per month", "currency", "currency per month", "days", "weeks", "months", "years",
                  "minutes", "year", "percent", "ratio", "flag", "yes/no", "number"] | None = None
    scale: float | None = Field(default=None, gt=0, le=1e12,
                                description="What one stored unit is worth in the unit (1000: in thousands).")
    synonyms: list[Annotated[str, Field(min_length=1, max_length=80, pattern=NOT_BLANK)]] | None = Field(
        default=None, max_length=50)
    kind: Literal["number", "flag", "count", "yes/no", "category", "free text", "date"] | None = None


class LeadFound(BaseModel):
    lead_id: str
    external_id: str
    name: str | None
    company: str | None
    title: str | None
    industry: str | None
    country: str | None
    is_seed: bool


class ExportIn(Strict):
    platform: Literal[tuple(FORMATS)]  # type: ignore[valid-type]


class ExportCreated(BaseModel):
    export_job_id: str


class FeedbackIn(Strict):
    candidate_id: uuid.UUID
    event_type: str = Field(min_length=1, max_length=50)
    value: float | None = None
    metadata: dict | None = None
    event_id: str = Field(min_length=1, max_length=200)
    occurred_at: datetime | None = None


class LeadIn(BaseModel):
    """A lead: ``external_id`` (the key an upsert goes by) and any of the tenant's fields or new attributes."""
    model_config = ConfigDict(extra="allow")
    external_id: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)


class LeadsIn(Strict):
    leads: list[LeadIn] = Field(min_length=1, max_length=5_000)


class ScoreIn(Strict):
    attributes: dict = Field(min_length=1, description="the lead's fields (title, industry, ..., imported attributes), "
                                         "optionally external_id and email for the duplicate check")


class SeedItem(BaseModel):
    seed_id: str
    external_id: str | None
    label: str
    weight: float | None
    source: str | None
    created_at: str


class Member(BaseModel):
    candidate_id: str
    lead_id: str
    external_id: str | None
    similarity_score: float | None
    rank_score: float | None
    decile: int | None
    reasons: dict | None = Field(description="what made the lead similar, by block")
    segment_no: int | None
    arm: str | None = Field(description="treatment or control (held out of every export)")


class AudienceDetail(BaseModel):
    audience_id: str
    name: str
    description: str | None
    status: str
    size_estimate: int | None
    seed_set: dict | None
    rules: dict | None = Field(description="as given (see `Rules`)")
    membership: dict = Field(description="the last build: size, refreshed_at, pool, skipped, holdout, ...")
    segments: list[dict]
    segmentation: dict
    holdout: dict
    incrementality: dict | None
    recommendation: dict | None = Field(description="the reach cap the tuning recommends, with its reason")
    recommendation_note: str | None
    syncs: list[dict] = Field(description="the last syncs to the tenant's destinations")
    members: list[Member]
    next_cursor: str | None


class StatusChange(BaseModel):
    audience_id: str
    status: Literal["draft", "published", "retired"]
    changed: bool = Field(description="false when it had that status already")


class FeedbackRecorded(BaseModel):
    recorded: int
    duplicates: int


class Performance(BaseModel):
    audience_id: str
    name: str
    metrics: dict = Field(description="size, conversions and rates against the tenant's base rate, last export")
    by_similarity_bucket: list[dict] = Field(description="conversion by similarity decile (10 = the best tenth)")
    holdout: dict
    incrementality: dict | None = Field(description="treatment against control: lift with its 95 % interval")


class SimilarLead(BaseModel):
    lead_id: str
    external_id: str | None
    similarity_score: float
    reasons: dict[str, float] = Field(description="the similarity broken down by block")


class Score(BaseModel):
    s_look: float | None = Field(description="similarity to the closest audience's seeds")
    audience_id: str | None
    audience: str | None = Field(description="the audience the lead looks most like")
    s_novel: float | None = Field(description="how unlike the tenant's customers the lead is")
    contrast: float | None
    rank_score: float | None = Field(description="the learned ranking model's score")
    decile: int | None = Field(description="where that score would fall in the audience (10 = its best tenth)")
    neighbors: list[SimilarLead]
    duplicate_of: str | None = Field(description="a lead of the tenant with the same external id or email")


class Rejected(BaseModel):
    lead: int = Field(description="the lead's place in the batch (1 = first)")
    external_id: str | None
    reason: str


class LeadsStored(BaseModel):
    dry_run: bool = False
    inserted: int
    updated: int
    unchanged: int
    columns: dict[str, str] = Field(description="each given field and what it is read as")
    rejected: list[Rejected] = Field(default_factory=list, description="with dry_run: the leads that would be "
                                     "refused (without it a refused lead refuses the batch)")


class Health(BaseModel):
    status: Literal["ok", "migrations_pending", "down"]
    revision: str | None = None
    head: str | None = None
    code: str | None = None
    message: str | None = None


class Ready(BaseModel):
    status: Literal["ready"]
