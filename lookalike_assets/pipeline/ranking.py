"""ranking_model: train a tenant's LightGBM ranker, compare it with the champion on the same holdout, promote it
only on clear evidence, and score every embedded lead of the tenant with the champion (``lookalike_lead_score``):
audiences' pools are then the top N by that score.

Per tenant, by design: a model never sees another tenant's leads. A tenant with too little data has no model,
and its audiences keep ordering by similarity. Everything is deterministic for a given ``seed``: splits and
samples hash the leads' external ids (stable across imports), and every query is ordered.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.db.vector_copy import iter_id_vector, uuid_of
from lookalike_assets.domain.conversions import CONVERSION_TYPES
from lookalike_assets.domain.features import FeatureSpec
from lookalike_assets.domain.ranking import (
    Decision,
    Evaluation,
    RankingError,
    SimilarityContext,
    TrainedModel,
    decide,
    evaluate,
    feature_frame,
    mask_blocks,
    schema_for,
    similarity_features,
    train_pu,
    train_supervised,
)
from lookalike_assets.domain.vectors import DIM
from lookalike_assets.faults import fault_point
from lookalike_assets.pipeline.common import Timer, log
from lookalike_assets.pipeline.features import load_spec

SCORE_BATCH = 20_000


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
    min_holdout_rows: int = 100
    min_holdout_positives: int = 20


@dataclass
class RankingResult:
    status: str  # "promoted", "rejected", "skipped"
    kind: str | None = None
    version: int | None = None
    reason: str | None = None
    challenger: dict | None = None
    champion: dict | None = None
    decision: dict | None = None
    importances: dict[str, float] = field(default_factory=dict)
    scored: int = 0
    excluded_features: list[str] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    seconds: float = 0.0
    scoring_seconds: float = 0.0


def _key(external_id: str, salt: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{salt}:{external_id}".encode(), digest_size=8).digest(), "little")


def in_holdout(external_id: str, fraction: float) -> bool:
    """A stable split by external id: champion and challenger are judged on the same leads, run after run and
    import after import."""
    return (_key(external_id, "holdout") % 10_000) < fraction * 10_000


@dataclass
class TenantData:
    spec: object
    excluded: list[str]
    external: dict  # lead_id -> external id (the leads loaded)
    features: dict  # lead_id -> feature dict (the leads loaded)
    vectors: dict  # lead_id -> vector (the leads loaded)
    seeds: list  # embedded live seeds, ordered by external id
    customers: list
    labelled: dict  # lead_id -> (converted, known_at)
    unlabelled: list  # a stable sample of the other leads, ordered by external id


def _load(conn: psycopg.Connection, tenant_id: uuid.UUID, ids: list) -> tuple[dict, dict, dict]:
    """External ids, features and vectors of some leads (inside the caller's tenant transaction)."""
    external, features, vectors = {}, {}, {}
    for i in range(0, len(ids), SCORE_BATCH):
        chunk = ids[i:i + SCORE_BATCH]
        for lid, ext, feats in Q.ranking.lead_features_of(conn, tenant_id=tenant_id, lead_ids=chunk):
            external[lid], features[lid] = ext, feats
        with conn.cursor() as cur, cur.copy(Q.ranking.copy_vectors_of.sql, {"tenant_id": tenant_id, "lead_ids": chunk}) as cp:
            for raw_ids, vecs in iter_id_vector(cp, DIM, SCORE_BATCH):
                for b, v in zip(raw_ids, vecs):
                    vectors[uuid_of(b)] = v
    return external, features, vectors


def load_tenant_data(conn: psycopg.Connection, tenant_id: uuid.UUID, cfg: RankingConfig) -> TenantData:
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        spec = load_spec(conn, tenant_id)
        if spec is None:
            raise RankingError("no feature spec: materialize lead_features first")
        settings = Q.ranking.tenant_settings(conn, tenant_id=tenant_id) or {}
        excluded = sorted(set(cfg.exclude_features) | set((settings.get("ranking") or {}).get("exclude_features", [])))
        seeds = [r[0] for r in Q.ranking.live_seed_leads_embedded(conn, tenant_id=tenant_id)]
        customers = [r[0] for r in Q.memberships.customer_lead_ids(conn, tenant_id=tenant_id)]
        labelled = {r[0]: (bool(r[1]), r[2]) for r in Q.ranking.labelled_outcomes(
            conn, tenant_id=tenant_id, conversion_types=sorted(CONVERSION_TYPES))}
        unlabelled = [r[0] for r in Q.ranking.stable_lead_sample(conn, tenant_id=tenant_id, n=cfg.unlabelled_sample,
                                                         salt=f"pu:{cfg.seed}")]
        needed = list(dict.fromkeys([*seeds, *customers, *labelled, *unlabelled]))
        external, features, vectors = _load(conn, tenant_id, needed)
    seed_set = set(seeds)
    return TenantData(
        spec, excluded, external, features, vectors,
        sorted((s for s in seeds if s in vectors), key=lambda s: external[s]),
        sorted((c for c in customers if c in vectors), key=lambda c: external[c]),
        labelled,
        sorted((u for u in unlabelled if u in vectors and u not in seed_set), key=lambda u: external[u]),
    )


def _frame(model_schema, data: TenantData, ctx: SimilarityContext, lead_ids: list):
    vecs = np.stack([data.vectors[lid] for lid in lead_ids]) if lead_ids else np.zeros((0, DIM), np.float32)
    sims = similarity_features(vecs, lead_ids, ctx)
    return feature_frame(model_schema, [data.features.get(lid, {}) for lid in lead_ids], sims)


def train_and_promote(conn: psycopg.Connection, tenant_id: uuid.UUID, cfg: RankingConfig | None = None,
                      run_id: str | None = None, progress: Callable[[int, int | None], None] | None = None
                      ) -> RankingResult:
    """Train a challenger, promote it on clear evidence, score every lead of the tenant with the champion.
    Records the change-log horizon it started from as the tenant's 'ranking' watermark: the conversions below
    it were seen."""
    horizon = Q.changes.change_horizon(conn)
    res = _train_and_promote(conn, tenant_id, cfg or RankingConfig(), run_id, progress)
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        Q.locks.set_watermark(conn, tenant_id=tenant_id, kind="ranking", horizon=horizon, run_id=run_id)
    return res


def _train_and_promote(conn: psycopg.Connection, tenant_id: uuid.UUID, cfg: RankingConfig, run_id: str | None,
                       progress) -> RankingResult:
    t = Timer()
    data = load_tenant_data(conn, tenant_id, cfg)
    res = RankingResult(status="skipped", excluded_features=data.excluded)

    def finish() -> RankingResult:
        s = Timer()
        res.scored = score_leads(conn, tenant_id, data, progress=progress)
        res.scoring_seconds = s.seconds
        res.seconds = t.seconds
        return res

    if len(data.seeds) < cfg.min_seeds:
        res.reason = f"{len(data.seeds)} embedded seed(s), fewer than {cfg.min_seeds}: audiences rank by similarity"
        return finish()

    schema = schema_for(data.spec, list(data.features.values()), data.excluded)
    seed_set = set(data.seeds)
    labelled = {lid: v for lid, v in data.labelled.items() if lid in data.vectors and lid not in seed_set}
    positives = sum(1 for conv, _ in labelled.values() if conv)
    if len(labelled) >= cfg.min_outcomes and positives >= cfg.min_positive_outcomes:
        kind = "feedback"
        ordered = sorted(labelled, key=lambda lid: (labelled[lid][1], data.external[lid]))
        cut = int(len(ordered) * (1 - cfg.holdout))
        train_ids, hold_ids = ordered[:cut] + list(data.seeds), ordered[cut:]
        ctx = _context(schema, data, list(data.seeds))
        y_train = np.array([1.0 if lid in seed_set else float(labelled[lid][0]) for lid in train_ids])
        y_hold = np.array([float(labelled[lid][0]) for lid in hold_ids])
        try:
            model = train_supervised(_frame(schema, data, ctx, train_ids), y_train, schema, seed=cfg.seed)
        except RankingError as exc:
            res.reason = str(exc)
            return finish()
    else:
        kind = "pu"
        pos_train = [s for s in data.seeds if not in_holdout(data.external[s], cfg.holdout)]
        pos_hold = [s for s in data.seeds if in_holdout(data.external[s], cfg.holdout)]
        unl_train = [u for u in data.unlabelled if not in_holdout(data.external[u], cfg.holdout)]
        unl_hold = [u for u in data.unlabelled if in_holdout(data.external[u], cfg.holdout)]
        if len(pos_train) < 3 or not pos_hold:
            pos_train, pos_hold = list(data.seeds), list(data.seeds)
        # the holdout context must not know the held-out seeds (they are scored as unknown leads)
        ctx = _context(schema, data, pos_train)
        try:
            model = train_pu(_frame(schema, data, ctx, pos_train), _frame(schema, data, ctx, unl_train), schema,
                             bags=cfg.bags, seed=cfg.seed)
        except RankingError as exc:
            res.reason = str(exc)
            return finish()
        hold_ids = pos_hold + unl_hold
        y_hold = np.r_[np.ones(len(pos_hold)), np.zeros(len(unl_hold))]

    hold_X = _frame(schema, data, ctx, hold_ids)
    challenger_eval = evaluate(model, hold_X, y_hold, seed=cfg.seed)
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        champ_row = Q.ranking.champion_model(conn, tenant_id=tenant_id)
    champion_eval: Evaluation | None = None
    if champ_row is not None:
        try:
            champ = TrainedModel.from_text(champ_row.eval_model_text)  # trained without the holdout, like the challenger
            champ_ctx = _context(champ.schema, data, ctx.seed_ids)  # its own blocks, the same seeds
            champion_eval = evaluate(champ, _frame(champ.schema, data, champ_ctx, hold_ids), y_hold, seed=cfg.seed)
        except Exception as exc:  # a champion that cannot score today's data is no champion
            log.warning("champion v%s cannot be evaluated: %s", champ_row.version, exc)
    upgrade = kind == "feedback" and champ_row is not None and champ_row.kind == "pu"
    decision: Decision = decide(challenger_eval, champion_eval, y_hold, min_rows=cfg.min_holdout_rows,
                                min_positives=cfg.min_holdout_positives, seed=cfg.seed, upgrade=upgrade)
    metrics = {"holdout": challenger_eval.to_json(), "champion_on_same_holdout":
               champion_eval.to_json() if champion_eval else None, "decision": decision.to_json(),
               "importances": model.importances, "train_rows": model.train_rows, "positives": model.positives,
               "excluded_features": data.excluded}
    eval_model = model
    if decision.promote:
        # Judged on the holdout; what scores leads is the same recipe fitted on all the data.
        model = _refit(kind, schema, data, cfg, labelled) or model
        metrics["importances"] = model.importances
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        version = Q.ranking.next_model_version(conn, tenant_id=tenant_id)
        if decision.promote:
            Q.ranking.retire_champion(conn, tenant_id=tenant_id)
        Q.ranking.insert_model(conn, tenant_id=tenant_id, version=version, kind=kind,
                       status="champion" if decision.promote else "rejected", model_text=model.to_text(),
                       eval_model_text=eval_model.to_text() if eval_model is not model else None,
                       features=Jsonb(schema.to_json()), metrics=Jsonb(_finite(metrics)), run_id=run_id)
    res.status = "promoted" if decision.promote else "rejected"
    res.kind, res.version, res.reason = kind, version, decision.reason
    res.challenger = challenger_eval.to_json()
    res.champion = champion_eval.to_json() if champion_eval else None
    res.decision = decision.to_json()
    res.importances = model.importances
    res.feature_names = schema.names
    return finish()


def _context(schema, data: TenantData, seeds: list) -> SimilarityContext:
    """Similarity context for a model's schema (its kept blocks) against the given seeds."""
    layout = data.spec.layout
    cust = list(data.customers)
    return SimilarityContext(
        mask_blocks(np.stack([data.vectors[s] for s in seeds]), layout, schema.blocks), list(seeds),
        mask_blocks(np.stack([data.vectors[c] for c in cust]), layout, schema.blocks) if cust
        else np.zeros((0, DIM), np.float32), layout, schema.blocks, cust)


def _refit(kind: str, schema, data: TenantData, cfg: RankingConfig, labelled: dict) -> TrainedModel | None:
    seeds = list(data.seeds)
    ctx = _context(schema, data, seeds)
    seed_set = set(seeds)
    try:
        if kind == "pu":
            unl = [u for u in data.unlabelled if u not in seed_set]
            return train_pu(_frame(schema, data, ctx, seeds), _frame(schema, data, ctx, unl), schema,
                            bags=cfg.bags, seed=cfg.seed)
        ids = sorted(labelled, key=lambda lid: data.external[lid]) + seeds
        y = np.array([1.0 if lid in seed_set else float(labelled[lid][0]) for lid in ids])
        return train_supervised(_frame(schema, data, ctx, ids), y, schema, seed=cfg.seed)
    except RankingError as exc:
        log.warning("refit failed, keeping the evaluated model: %s", exc)
        return None


def _finite(obj):
    return json.loads(json.dumps(obj, default=str).replace("NaN", "null"))


def score_leads(conn: psycopg.Connection, tenant_id: uuid.UUID, data: TenantData | None = None,
                cfg: RankingConfig | None = None, progress: Callable[[int, int | None], None] | None = None) -> int:
    """The champion's score of every embedded lead of the tenant, in batches, replacing the tenant's scores in
    one transaction; without a champion the scores are cleared (audiences then order by similarity)."""
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        champ_row = Q.ranking.champion_model(conn, tenant_id=tenant_id)
    if champ_row is None:
        with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
            Q.ranking.clear_lead_scores(conn, tenant_id=tenant_id)
        return 0
    data = data or load_tenant_data(conn, tenant_id, cfg or RankingConfig())
    if not data.seeds:
        return 0
    model = TrainedModel.from_text(champ_row.model_text)
    ctx = _context(model.schema, data, list(data.seeds))
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        ids = [r[0] for r in Q.ranking.embedded_lead_ids(conn, tenant_id=tenant_id)]
    scored: list[tuple] = []
    for i in range(0, len(ids), SCORE_BATCH):
        chunk = ids[i:i + SCORE_BATCH]
        with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
            _ext, feats, vecs = _load(conn, tenant_id, chunk)
        keep = [lid for lid in chunk if lid in vecs]
        batch = TenantData(data.spec, data.excluded, {}, feats, vecs, [], [], {}, [])
        scores = model.predict(_frame(model.schema, batch, ctx, keep))
        scored += list(zip(keep, scores.tolist()))
        if progress:
            progress(len(scored), len(ids))
    fault_point("ranking:before-scores")
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        Q.ranking.create_score_stage(conn)
        with conn.cursor() as cur, cur.copy(Q.ranking.copy_score_stage.sql) as copy:
            for lid, s in scored:
                copy.write_row((lid, float(s)))
        Q.ranking.clear_lead_scores(conn, tenant_id=tenant_id)
        Q.ranking.insert_lead_scores(conn, tenant_id=tenant_id, model_id=champ_row.model_id)
    return len(scored)


_SCORERS: OrderedDict = OrderedDict()  # what scoring a new lead needs, per tenant and state (see score_new_leads)
_SCORERS_LOCK = threading.Lock()
_BUILDING: dict = {}  # a lock per key being built, so that concurrent first calls build it once
SCORER_CACHE_SIZE = 32


def _cached_scorer(key, build):
    """The cached scorer of ``key``, else ``build()``'s (cached unless None). Concurrent callers of one key wait for
    the first one's build instead of each building it (the first scores after a service start or a new champion
    would otherwise all parse the model and load the seeds at once)."""
    with _SCORERS_LOCK:
        hit = _SCORERS.get(key)
        if hit is not None:
            _SCORERS.move_to_end(key)
            return hit
        gate = _BUILDING.setdefault(key, threading.Lock())
    with gate:
        with _SCORERS_LOCK:
            hit = _SCORERS.get(key)
        if hit is not None:
            return hit
        scorer = None
        try:
            scorer = build()
        finally:
            with _SCORERS_LOCK:  # cached before the gate goes: a later caller finds one or the other
                if scorer is not None:
                    _SCORERS[key] = scorer
                    while len(_SCORERS) > SCORER_CACHE_SIZE:
                        _SCORERS.popitem(last=False)
                _BUILDING.pop(key, None)
    return scorer


def score_new_leads(conn: psycopg.Connection, tenant_id: uuid.UUID, leads: list[dict],
                    vectors: np.ndarray, spec: FeatureSpec | None = None) -> np.ndarray | None:
    """The champion's scores of leads that are not stored (their attributes and vectors), exactly as
    ``score_leads`` scores stored ones; None when the tenant has no champion. Runs as the application. ``spec``:
    the tenant's feature spec when the caller has just read it (else it is read here).

    The parsed model and its similarity context (the seeds' and customers' vectors) are kept between calls, keyed
    by the champion, the feature spec, the seed and customer ids and when their vectors were last
    written: a new champion, seed, customer or embedding makes a new key, so a cached scorer is never stale."""
    from lookalike_assets.db.connect import APP_ROLE
    from lookalike_assets.domain.features import lead_features
    from lookalike_assets.pipeline.features import lead_row

    with tenant_transaction(conn, tenant_id, APP_ROLE):
        champ = Q.ranking.champion_model_id(conn, tenant_id=tenant_id)
        if champ is None:
            return None
        spec = spec or load_spec(conn, tenant_id)
        if spec is None:
            return None
        seeds = [r[0] for r in Q.ranking.live_seed_leads_embedded(conn, tenant_id=tenant_id)]
        customers = [r[0] for r in Q.memberships.customer_lead_ids(conn, tenant_id=tenant_id)]
        both = list(dict.fromkeys([*seeds, *customers]))
        written = Q.ranking.vectors_written_at(conn, tenant_id=tenant_id, lead_ids=both)
        spec_hash = hashlib.sha256(spec.model_dump_json().encode()).hexdigest()
        key = (tenant_id, champ.model_id, spec_hash, tuple(seeds), tuple(customers), written)

        def build():
            model_text = Q.ranking.champion_model(conn, tenant_id=tenant_id).model_text
            external, features, vecs = _load(conn, tenant_id, both)
            if not any(s in vecs for s in seeds):
                return None
            model = TrainedModel.from_text(model_text)
            data = TenantData(spec, [], external, features, vecs,
                              sorted((s for s in seeds if s in vecs), key=external.get),
                              sorted((c for c in customers if c in vecs), key=external.get), {}, [])
            return model, _context(model.schema, data, data.seeds)

        scorer = _cached_scorer(key, build)
    if scorer is None:
        return None
    model, ctx = scorer
    ids = [uuid.uuid4() for _ in leads]
    batch = TenantData(spec, [], {}, {i: lead_features(lead_row({"attributes": {}, **a}), spec)[0]
                                      for i, a in zip(ids, leads)},
                       dict(zip(ids, vectors)), [], [], {}, [])
    return model.predict(_frame(model.schema, batch, ctx, ids))


def champion_summary(conn: psycopg.Connection, tenant_id: uuid.UUID) -> dict | None:
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        row = Q.ranking.champion_model(conn, tenant_id=tenant_id)
    if row is None:
        return None
    _mid, version, kind, _text, metrics, trained_at, _eval = row
    return {"version": version, "kind": kind, "trained_at": trained_at, "metrics": metrics}
