"""lead_features: the feature spec of a tenant, and each lead's features, text blob and content hash."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.features import (
    DEMO_BLOCKS,
    DEMO_TEXT_COLUMNS,
    FeatureError,
    FeatureSpec,
    build_spec,
    lead_features,
    one_block_per_column,
)
from lookalike_assets.pipeline.common import Timer, analyze_after_bulk, log

TYPED_COLUMNS = ("company", "industry", "company_size", "country", "region", "title", "seniority", "bio",
                 "property_type", "email_opens", "web_visits")
SPEC_SAMPLE = 20000


@dataclass
class FeaturesResult:
    leads: int
    changed: int
    spec_version: str
    spec: FeatureSpec
    seconds: float


def lead_row(row: dict) -> dict:
    """A lead as one flat dict: the dedicated columns, then imported attributes that do not clash."""
    out = {k: row.get(k) for k in ("lead_id", "external_id", *TYPED_COLUMNS)}
    for k, v in (row.get("attributes") or {}).items():
        out.setdefault(k, v)
    return out


def default_spec(rows: list[dict]) -> FeatureSpec:
    """The demo's blocks for lookalike's own lead columns that hold values, and a block per imported attribute."""
    if not rows:
        raise FeatureError("the tenant has no leads yet: import at least one file of leads first")
    blocks = {name: list(cols) for name, cols in DEMO_BLOCKS.items()}
    attr_cols = sorted({k for r in rows for k in r if k not in ("lead_id", "external_id", *TYPED_COLUMNS)})
    blocks.update(one_block_per_column([(c, None) for c in attr_cols], taken=blocks))
    return build_spec(rows, blocks, DEMO_TEXT_COLUMNS)


def load_spec(conn: psycopg.Connection, tenant_id: uuid.UUID) -> FeatureSpec | None:
    """The tenant's spec; None when it has none, or only one of the first format (``refresh_lead_features``
    rebuilds that one from the tenant's leads, keeping its columns, kinds and text columns)."""
    raw = Q.tenants.get_feature_spec(conn, tenant_id=tenant_id)
    if not raw or raw.get("format") != 2:
        return None
    return FeatureSpec.model_validate(raw)


def upgrade_spec(raw: dict, rows: list[dict]) -> FeatureSpec:
    """A first-format spec (8 fixed blocks of 16 dimensions) rebuilt in the current format from the tenant's
    leads: the same columns, kinds and text columns; every lead is embedded again."""
    blocks = {b["name"]: [(c["name"], c["kind"]) for c in b["columns"]] for b in raw.get("blocks", [])}
    return build_spec(rows, blocks, raw.get("text_columns", []), raw.get("text_weight", 0.4))


def save_spec(conn: psycopg.Connection, tenant_id: uuid.UUID, spec: FeatureSpec) -> None:
    Q.tenants.save_feature_spec(conn, tenant_id=tenant_id, spec=Jsonb(spec.model_dump(mode="json")), version=spec.version)


def _rows(conn: psycopg.Connection, tenant_id: uuid.UUID, limit: int | None = None):
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(Q.leads.stream_leads_for_features.sql, {"tenant_id": tenant_id})
        n = 0
        while True:
            batch = cur.fetchmany(5000)
            if not batch:
                return
            for r in batch:
                yield lead_row(r)
                n += 1
                if limit and n >= limit:
                    return


def refresh_lead_features(conn: psycopg.Connection, tenant_id: uuid.UUID, progress=None) -> FeaturesResult:
    """Compute features of every lead of the tenant; write only those whose content hash changed."""
    t = Timer()
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        spec = load_spec(conn, tenant_id)
        if spec is None:
            old = Q.tenants.get_feature_spec(conn, tenant_id=tenant_id)
            sample = list(_rows(conn, tenant_id, SPEC_SAMPLE))
            spec = upgrade_spec(old, sample) if old else default_spec(sample)
            save_spec(conn, tenant_id, spec)
            log.info("inferred feature spec %s: text=%s blocks=%s", spec.version, spec.text_columns,
                     [b.name for b in spec.blocks])
        known = {r[0]: r[1] for r in Q.features.feature_hashes(conn, tenant_id=tenant_id)}
        staged: list[tuple] = []
        n = 0
        for row in _rows(conn, tenant_id):
            n += 1
            feats, blob, h = lead_features(row, spec)
            if known.get(row["lead_id"]) != h:
                staged.append((row["lead_id"], json.dumps(feats), blob, h))
            if progress and n % 5000 == 0:
                progress(n, None)
        changed = 0
        if staged:
            Q.features.create_features_stage(conn)
            with conn.cursor() as cur, cur.copy(Q.features.copy_features_stage.sql) as copy:
                for r in staged:
                    copy.write_row(r)
            changed = Q.features.merge_features_stage(conn, tenant_id=tenant_id, feature_version=spec.version)
    analyze_after_bulk(conn, "lead_features", changed)
    return FeaturesResult(leads=n, changed=changed, spec_version=spec.version, spec=spec, seconds=t.seconds)
