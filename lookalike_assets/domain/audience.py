"""Audience definitions that the pipeline reads: which seeds make an audience's profile, and its pool size."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lookalike_assets.domain.similarity import LABEL_WEIGHTS, seed_weight


class AudienceDefinitionError(ValueError):
    pass


class SeedSet(BaseModel):
    """``seed_set`` of an audience. Empty: every live seed of the tenant.

    - ``labels``: only seeds with these labels;
    - ``seed_ids``: only these seeds (they must be the tenant's own);
    - ``weights``: per-label weight overrides.
    """

    model_config = ConfigDict(extra="forbid")

    labels: list[str] | None = None
    seed_ids: list[uuid.UUID] | None = None
    weights: dict[str, float] | None = None

    def model_post_init(self, _ctx) -> None:
        for label in [*(self.labels or []), *(self.weights or {})]:
            if label not in LABEL_WEIGHTS:
                raise AudienceDefinitionError(
                    f"unknown seed label {label!r} in seed_set: one of {', '.join(LABEL_WEIGHTS)}"
                )
        for label, w in (self.weights or {}).items():
            if not (0 < w <= 100):
                raise AudienceDefinitionError(f"seed weight for {label!r} must be in (0, 100], got {w}")


class AudienceMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    pool_size: int | None = Field(default=None, ge=1, le=1_000_000)
    # What chooses the pool: the tenant's ranking model where it has one (default), or similarity to this
    # audience's own seeds (for an audience whose seeds differ from what the tenant's model learned).
    pool_by: Literal["ranking", "similarity"] | None = None


def parse_seed_set(raw: dict | None) -> SeedSet:
    try:
        return SeedSet.model_validate(raw or {})
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'seed_set'}: {e['msg']}" for e in exc.errors())
        raise AudienceDefinitionError(f"invalid seed_set: {errs}") from exc


@dataclass
class SeedRow:
    seed_id: uuid.UUID
    lead_id: uuid.UUID
    label: str
    weight: float | None
    embedded: bool


@dataclass
class SeedSelection:
    seeds: list[SeedRow]
    weights: list[float]
    unknown_seed_ids: list[uuid.UUID]
    not_embedded: list[uuid.UUID]

    @property
    def digest(self) -> str:
        payload = "|".join(f"{s.seed_id}:{w:.6f}" for s, w in sorted(zip(self.seeds, self.weights),
                                                                    key=lambda p: str(p[0].seed_id)))
        return hashlib.sha256(payload.encode()).hexdigest()


def select_seeds(seed_set: SeedSet, live: list[SeedRow]) -> SeedSelection:
    """The live seeds an audience uses, their weights, and what was asked for but is not usable."""
    chosen = live
    unknown: list[uuid.UUID] = []
    if seed_set.seed_ids is not None:
        by_id = {s.seed_id: s for s in live}
        unknown = [i for i in seed_set.seed_ids if i not in by_id]
        chosen = [by_id[i] for i in seed_set.seed_ids if i in by_id]
    if seed_set.labels is not None:
        chosen = [s for s in chosen if s.label in seed_set.labels]
    not_embedded = [s.seed_id for s in chosen if not s.embedded]
    chosen = [s for s in chosen if s.embedded]
    overrides = seed_set.weights or {}
    weights = [s.weight if s.weight is not None else overrides.get(s.label, seed_weight(s.label, None)) for s in chosen]
    return SeedSelection(seeds=chosen, weights=weights, unknown_seed_ids=unknown, not_embedded=not_embedded)
