"""ranking_model: train a tenant's LightGBM ranker, compare it with the champion on the same holdout, promote
it only if better, and score the tenant's candidates with the champion (``rank_score``).

Per tenant, by design: a model never sees another tenant's leads. A tenant with too little data has no model,
and its audiences keep ordering by similarity.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.ranking import (
    Evaluation,
    RankingError,
    SimilarityContext,
    TrainedModel,
    better,
    evaluate,
    feature_frame,
    mask_blocks,
    schema_for,
    similarity_features,
    train_pu,
    train_supervised,
)
from lookalike_assets.domain.vectors import DIM
from lookalike_assets.pipeline.common import Timer, log
from lookalike_assets.pipeline.features import load_spec
from lookalike_assets.pipeline.pools import stream_vectors


@dataclass
class RankingConfig:
    min_seeds: int = 10
    min_outcomes: int = 100  # labelled leads (exposed or converted) before training on outcomes
    min_positive_outcomes: int = 10
    holdout: float = 0.2
    unlabelled_sample: int = 20000
    bags: int = 10
    seed: int = 0
    exclude_features: list[str] = field(default_factory=list)


@dataclass
class RankingResult:
    status: str  # "promoted", "rejected", "skipped"
    kind: str | None = None
    version: int | None = None
    reason: str | None = None
    challenger: dict | None = None
    champion: dict | None = None
    importances: dict[str, float] = field(default_factory=dict)
    scored: int = 0
    excluded_features: list[str] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _in_holdout(lead_id, fraction: float) -> bool:
    """A stable split by lead id: champion and challenger are always judged on the same leads."""
    h = int.from_bytes(hashlib.blake2b(str(lead_id).encode(), digest_size=8).digest(), "little")
    return (h % 10_000) < fraction * 10_000


@dataclass
class TenantData:
    spec: object
    excluded: list[str]
    features: dict  # lead_id -> feature dict
    vectors: dict  # lead_id -> vector (only the leads that are needed)
    seeds: list
    customers: set
    labelled: dict  # lead_id -> (converted, known_at)
    candidates: list


def load_tenant_data(conn: psycopg.Connection, tenant_id: uuid.UUID, cfg: RankingConfig) -> TenantData:
    rng = np.random.default_rng(cfg.seed)
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        spec = load_spec(conn, tenant_id)
        if spec is None:
            raise RankingError("no feature spec: materialize lead_features first")
        settings = Q.tenant_settings(conn, tenant_id=tenant_id) or {}
        excluded = sorted(set(cfg.exclude_features) | set((settings.get("ranking") or {}).get("exclude_features", [])))
        features = {r[0]: r[1] for r in Q.all_lead_features(conn, tenant_id=tenant_id)}
        seeds = [r[0] for r in Q.live_seed_leads_embedded(conn, tenant_id=tenant_id)]
        customers = {r[0] for r in Q.customer_lead_ids(conn, tenant_id=tenant_id)}
        labelled = {r[0]: (bool(r[1]), r[2]) for r in Q.labelled_outcomes(conn, tenant_id=tenant_id)}
        candidates = [r[0] for r in Q.candidate_leads(conn, tenant_id=tenant_id)]
        seed_set = set(seeds)
        others = [lid for lid in features if lid not in seed_set]
        sample = set(rng.choice(len(others), min(cfg.unlabelled_sample, len(others)), replace=False).tolist()) \
            if others else set()
        sampled = {others[i] for i in sample}
        needed = seed_set | customers | set(labelled) | set(candidates) | sampled
        vectors = {}
        for ids, vecs in stream_vectors(conn, tenant_id, 20000):
            for lid, v in zip(ids, vecs):
                if lid in needed:
                    vectors[lid] = v
    return TenantData(spec, excluded, features, vectors, [s for s in seeds if s in vectors],
                      {c for c in customers if c in vectors}, labelled, candidates)


def _frame(model_schema, data: TenantData, ctx: SimilarityContext, lead_ids: list):
    vecs = np.stack([data.vectors[lid] for lid in lead_ids]) if lead_ids else np.zeros((0, DIM), np.float32)
    sims = similarity_features(vecs, lead_ids, ctx)
    return feature_frame(model_schema, [data.features.get(lid, {}) for lid in lead_ids], sims)


def train_and_promote(conn: psycopg.Connection, tenant_id: uuid.UUID, cfg: RankingConfig | None = None,
                      run_id: str | None = None) -> RankingResult:
    """Train a challenger, promote it if better, score the candidates with the champion. Records the change-log
    horizon it started from as the tenant's 'ranking' watermark: the conversions below it were seen."""
    horizon = Q.change_horizon(conn)
    res = _train_and_promote(conn, tenant_id, cfg or RankingConfig(), run_id)
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        Q.set_watermark(conn, tenant_id=tenant_id, kind="ranking", horizon=horizon, run_id=run_id)
    return res


def _train_and_promote(conn: psycopg.Connection, tenant_id: uuid.UUID, cfg: RankingConfig,
                       run_id: str | None) -> RankingResult:
    t = Timer()
    data = load_tenant_data(conn, tenant_id, cfg)
    res = RankingResult(status="skipped", excluded_features=data.excluded)
    if len(data.seeds) < cfg.min_seeds:
        res.reason = f"{len(data.seeds)} embedded seed(s), fewer than {cfg.min_seeds}: audiences rank by similarity"
        res.scored = apply_champion(conn, tenant_id, data)
        res.seconds = t.seconds
        return res

    schema = schema_for(data.spec, list(data.features.values()), data.excluded)
    ctx = _context(schema, data, list(data.seeds))

    seed_set = set(data.seeds)
    labelled = {lid: v for lid, v in data.labelled.items() if lid in data.vectors and lid not in seed_set}
    positives = sum(1 for conv, _ in labelled.values() if conv)
    if len(labelled) >= cfg.min_outcomes and positives >= cfg.min_positive_outcomes:
        kind = "feedback"
        ordered = sorted(labelled, key=lambda lid: (labelled[lid][1], str(lid)))
        cut = int(len(ordered) * (1 - cfg.holdout))
        train_ids, hold_ids = ordered[:cut], ordered[cut:]
        train_ids = train_ids + list(data.seeds)
        y_train = np.array([1.0 if lid in seed_set else float(labelled[lid][0]) for lid in train_ids])
        y_hold = np.array([float(labelled[lid][0]) for lid in hold_ids])
        try:
            model = train_supervised(_frame(schema, data, ctx, train_ids), y_train, schema, seed=cfg.seed)
        except RankingError as exc:
            res.reason = str(exc)
            res.scored = apply_champion(conn, tenant_id, data)
            return res
        hold_X = _frame(schema, data, ctx, hold_ids)
    else:
        kind = "pu"
        unl = [lid for lid in data.vectors if lid not in seed_set]
        pos_train = [s for s in data.seeds if not _in_holdout(s, cfg.holdout)]
        pos_hold = [s for s in data.seeds if _in_holdout(s, cfg.holdout)]
        unl_train = [u for u in unl if not _in_holdout(u, cfg.holdout)]
        unl_hold = [u for u in unl if _in_holdout(u, cfg.holdout)]
        if len(pos_train) < 3 or not pos_hold:
            pos_train, pos_hold = list(data.seeds), list(data.seeds)
        # the holdout ctx must not know the held-out seeds (they are scored as unknown leads)
        train_ctx = _context(schema, data, pos_train)
        try:
            model = train_pu(_frame(schema, data, train_ctx, pos_train), _frame(schema, data, train_ctx, unl_train),
                             schema, bags=cfg.bags, seed=cfg.seed)
        except RankingError as exc:
            res.reason = str(exc)
            res.scored = apply_champion(conn, tenant_id, data)
            return res
        hold_ids = pos_hold + unl_hold
        y_hold = np.r_[np.ones(len(pos_hold)), np.zeros(len(unl_hold))]
        hold_X = _frame(schema, data, train_ctx, hold_ids)
        ctx = train_ctx

    challenger_eval = evaluate(model, hold_X, y_hold)
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        champ_row = Q.champion_model(conn, tenant_id=tenant_id)
    champion_eval: Evaluation | None = None
    if champ_row is not None:
        try:
            champ = TrainedModel.from_text(champ_row[6])  # trained without the holdout, like the challenger
            champ_ctx = _context(champ.schema, data, ctx.seed_ids)  # its own blocks, the same seeds
            champion_eval = evaluate(champ, _frame(champ.schema, data, champ_ctx, hold_ids), y_hold)
        except Exception as exc:  # a champion that cannot score today's data is no champion
            log.warning("champion v%s cannot be evaluated: %s", champ_row[1], exc)
    promote = better(challenger_eval, champion_eval)
    metrics = {"holdout": challenger_eval.to_json(), "champion_on_same_holdout":
               champion_eval.to_json() if champion_eval else None, "importances": model.importances,
               "train_rows": model.train_rows, "positives": model.positives, "excluded_features": data.excluded}
    eval_model = model
    if promote:
        # Judged on the holdout; what scores candidates is the same recipe fitted on all the data.
        model = _refit(kind, schema, data, cfg, labelled) or model
        metrics["importances"] = model.importances
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        version = Q.next_model_version(conn, tenant_id=tenant_id)
        if promote:
            Q.retire_champion(conn, tenant_id=tenant_id)
        Q.insert_model(conn, tenant_id=tenant_id, version=version, kind=kind,
                       status="champion" if promote else "rejected", model_text=model.to_text(),
                       eval_model_text=eval_model.to_text() if eval_model is not model else None,
                       features=Jsonb(schema.to_json()), metrics=Jsonb(_finite(metrics)), run_id=run_id)
    res.status = "promoted" if promote else "rejected"
    res.kind, res.version = kind, version
    res.challenger = challenger_eval.to_json()
    res.champion = champion_eval.to_json() if champion_eval else None
    res.importances = model.importances
    res.feature_names = schema.names
    res.scored = apply_champion(conn, tenant_id, data)
    res.seconds = t.seconds
    return res


def _context(schema, data: TenantData, seeds: list) -> SimilarityContext:
    """Similarity context for a model's schema (its kept blocks) against the given seeds."""
    layout = data.spec.layout
    cust = list(data.customers)
    return SimilarityContext(
        mask_blocks(np.stack([data.vectors[s] for s in seeds]), layout, schema.blocks), list(seeds),
        mask_blocks(np.stack([data.vectors[c] for c in cust]), layout, schema.blocks) if cust
        else np.zeros((0, 512), np.float32), layout, schema.blocks, cust)


def _refit(kind: str, schema, data: TenantData, cfg: RankingConfig, labelled: dict) -> TrainedModel | None:
    seeds = list(data.seeds)
    ctx = _context(schema, data, seeds)
    seed_set = set(seeds)
    try:
        if kind == "pu":
            unl = [lid for lid in data.vectors if lid not in seed_set]
            return train_pu(_frame(schema, data, ctx, seeds), _frame(schema, data, ctx, unl), schema,
                            bags=cfg.bags, seed=cfg.seed)
        ids = list(labelled) + seeds
        y = np.array([1.0 if lid in seed_set else float(labelled[lid][0]) for lid in ids])
        return train_supervised(_frame(schema, data, ctx, ids), y, schema, seed=cfg.seed)
    except RankingError as exc:
        log.warning("refit failed, keeping the evaluated model: %s", exc)
        return None


def _finite(obj):
    return json.loads(json.dumps(obj, default=str).replace("NaN", "null"))


def apply_champion(conn: psycopg.Connection, tenant_id: uuid.UUID, data: TenantData | None = None,
                   cfg: RankingConfig | None = None) -> int:
    """rank_score for every candidate of the tenant from the champion; without one, rank scores are cleared
    and audiences order by similarity."""
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        champ_row = Q.champion_model(conn, tenant_id=tenant_id)
    if champ_row is None:
        with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
            Q.clear_rank_scores(conn, tenant_id=tenant_id)
        return 0
    data = data or load_tenant_data(conn, tenant_id, cfg or RankingConfig())
    model = TrainedModel.from_text(champ_row[3])
    if not data.seeds:
        return 0
    ctx = _context(model.schema, data, list(data.seeds))
    ids = [c for c in data.candidates if c in data.vectors]
    scores = model.predict(_frame(model.schema, data, ctx, ids)) if ids else np.zeros(0)
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        Q.create_rank_stage(conn)
        with conn.cursor() as cur, cur.copy(Q.copy_rank_stage.sql) as copy:
            for lid, s in zip(ids, scores):
                copy.write_row((lid, float(s)))
        Q.apply_rank_stage(conn, tenant_id=tenant_id)
    return len(ids)


def champion_summary(conn: psycopg.Connection, tenant_id: uuid.UUID) -> dict | None:
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        row = Q.champion_model(conn, tenant_id=tenant_id)
    if row is None:
        return None
    _mid, version, kind, _text, metrics, trained_at, _eval = row
    return {"version": version, "kind": kind, "trained_at": trained_at, "metrics": metrics}
