"""`lookalike backtest`: how well lookalike ranks on any labelled table, through the same importer, feature,
embedding, pool and ranking code the assets use.

In each trial: some positive rows become seeds, every other row's label is hidden, and the rows are ranked
three ways: ``similarity`` (pool score), ``ranked`` (learned ranking from the seeds alone), and
``ranked_feedback`` (after the outcomes of a random 10 % of the other rows come back through the feedback
loop, scored on the remaining rows). Reported per way: lift in the top 10 % and AUC, means over trials and
their spread. The temporary tenant is deleted at the end, whatever happens.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from lookalike_assets.db import admin
from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, sibling, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.encoders import get_encoder
from lookalike_assets.domain.ranking import auc, lift_at, top_factors
from lookalike_assets.pipeline.common import termination_as_exit
from lookalike_assets.pipeline.conversions import rebuild_facts, record_conversions
from lookalike_assets.pipeline.embeddings import refresh_embeddings
from lookalike_assets.pipeline.features import refresh_lead_features
from lookalike_assets.pipeline.importer import ImportMapping, import_leads, read_table
from lookalike_assets.pipeline.pools import refresh_candidate_pools, refresh_seed_profiles
from lookalike_assets.pipeline.ranking import RankingConfig, train_and_promote

WAYS = ("similarity", "ranked", "ranked_feedback")


class BacktestError(ValueError):
    pass


@dataclass
class BacktestConfig:
    csv: str
    label_column: str
    positive_value: str | None = None
    id_column: str | None = None
    exclude_columns: list[str] = field(default_factory=list)
    text_columns: list[str] = field(default_factory=list)
    seeds: int = 200
    trials: int = 3
    feedback_fraction: float = 0.10
    seed: int = 0
    limit: int | None = None


@dataclass
class BacktestResult:
    rows: int
    base_rate: float
    trials: list[dict]
    seconds: float = 0.0

    def summary(self) -> dict:
        out: dict = {}
        for way in WAYS:
            lifts = np.array([t[way]["lift_at_10"] for t in self.trials])
            aucs = np.array([t[way]["auc"] for t in self.trials])
            out[way] = {"lift_at_10": round(float(lifts.mean()), 4), "auc": round(float(aucs.mean()), 4),
                        "lift_at_10_std": round(float(lifts.std()), 4), "auc_std": round(float(aucs.std()), 4)}
        out["rows"] = self.rows
        out["base_rate"] = round(self.base_rate, 6)
        return out


def _positive(value, positive_value: str | None) -> bool:
    if value is None:
        return False
    s = str(value).strip().lower()
    if positive_value is not None:
        return s == str(positive_value).strip().lower()
    return s in ("1", "1.0", "true", "yes", "y", "t")


def _labels(cfg: BacktestConfig) -> tuple[dict[str, bool], str]:
    """external id -> label, with the same external ids the importer gives the rows."""
    table = read_table(cfg.csv, limit=cfg.limit)
    cols = table.columns
    if cfg.label_column not in cols:
        raise BacktestError(f"label column {cfg.label_column!r} is not in the file (columns: {', '.join(cols)})")
    if cfg.id_column and cfg.id_column not in cols:
        raise BacktestError(f"id column {cfg.id_column!r} is not in the file")
    missing = [c for c in cfg.exclude_columns + cfg.text_columns if c not in cols]
    if missing:
        raise BacktestError(f"column(s) not in the file: {', '.join(missing)}")
    import hashlib

    prefix = "row:" + hashlib.sha256(Path(cfg.csv).name.encode()).hexdigest()[:8]
    labels = {}
    for row in table.rows():
        if row.problem is not None:
            continue
        key = str(row.values.get(cfg.id_column) or "").strip() if cfg.id_column else f"{prefix}:{row.number}"
        labels[key] = _positive(row.values.get(cfg.label_column), cfg.positive_value)
    return labels, prefix


def run_backtest(conn: psycopg.Connection, cfg: BacktestConfig,
                 progress: Callable[[str], None] | None = None) -> BacktestResult:
    say = progress or (lambda _m: None)
    t0 = datetime.now(timezone.utc)
    labels, _ = _labels(cfg)
    n_pos = sum(labels.values())
    if n_pos < cfg.seeds + 10:
        raise BacktestError(f"{n_pos} positive row(s): not enough for {cfg.seeds} seeds and an evaluation")
    slug = f"backtest-{uuid.uuid4().hex[:12]}"
    tid = uuid.UUID(admin.create_tenant(conn, slug, "lookalike backtest (temporary)"))
    admin.mark_temporary(conn, tid, "backtest")
    try:
        # a stop by SIGTERM (a `timeout`, a CI cancel) unwinds like Ctrl-C, so that the tenant is deleted below
        with termination_as_exit(), sibling(conn, PIPELINE_ROLE) as pipe:
            return _run(pipe, tid, cfg, labels, say, t0)
    finally:
        admin.delete_tenant(conn, tid)


def _run(conn, tid, cfg: BacktestConfig, labels: dict, say, t0) -> BacktestResult:
    mapping = ImportMapping(id=cfg.id_column, text=cfg.text_columns,
                            exclude=[cfg.label_column, *cfg.exclude_columns])
    say(f"importing {cfg.csv}")
    rep = import_leads(conn, tid, cfg.csv, mapping, limit=cfg.limit)
    if rep.rejected:
        say(f"{len(rep.rejected)} row(s) rejected by the importer, e.g. row {rep.rejected[0].row}: "
            f"{rep.rejected[0].reason}")
    say("features and embeddings")
    refresh_lead_features(conn, tid)
    encoder = get_encoder("minilm" if cfg.text_columns else "none")
    emb = refresh_embeddings(conn, tid, encoder, batch_size=4096)
    with tenant_transaction(conn, tid, APP_ROLE):
        by_ext = {ext: lid for lid, ext in Q.lead_external_ids(conn, tenant_id=tid)}
    rows = {lid: labels[ext] for ext, lid in by_ext.items() if ext in labels}
    lead_ids = list(rows)
    y_all = np.array([rows[lid] for lid in lead_ids])
    base_rate = float(y_all.mean())
    with tenant_transaction(conn, tid, APP_ROLE):
        audience_id = Q.insert_audience(conn, tenant_id=tid, name="backtest", description=None,
                                        seed_set=Jsonb({}), rules=Jsonb({}),
                                        metadata=Jsonb({"pool_size": len(lead_ids), "source": "backtest"}))
    trials = []
    for trial in range(cfg.trials):
        rng = np.random.default_rng([cfg.seed, trial])
        say(f"trial {trial + 1}/{cfg.trials}")
        trials.append(_trial(conn, tid, audience_id, lead_ids, y_all, rows, by_ext, emb.model_version, cfg, rng,
                             trial, say))
    res = BacktestResult(rows=len(lead_ids), base_rate=base_rate, trials=trials)
    res.seconds = (datetime.now(timezone.utc) - t0).total_seconds()
    return res


def _reset(conn, tid) -> None:
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        Q.backtest_reset(conn, tenant_id=tid)


def _scores(conn, tid, column: str) -> dict:
    """lead -> similarity_score or rank_score of its candidate."""
    idx = {"similarity_score": 1, "rank_score": 2}[column]
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        return {r[0]: r[idx] for r in Q.candidate_scores(conn, tenant_id=tid)}


def _measure(scores: dict, rows: dict, leads: list) -> dict:
    s = np.array([scores.get(lid) if scores.get(lid) is not None else -np.inf for lid in leads], dtype=float)
    y = np.array([rows[lid] for lid in leads])
    return {"lift_at_10": round(lift_at(s, y), 4), "auc": round(auc(s, y), 4), "rows": len(leads),
            "positives": int(y.sum())}


def _trial(conn, tid, audience_id, lead_ids, y_all, rows, by_ext, model_version, cfg, rng, trial, say) -> dict:
    _reset(conn, tid)
    pos = [lid for lid, v in zip(lead_ids, y_all) if v]
    seeds = set(rng.choice(len(pos), cfg.seeds, replace=False).tolist())
    seed_leads = [pos[i] for i in seeds]
    with tenant_transaction(conn, tid, APP_ROLE):
        for lid in seed_leads:
            Q.insert_seed(conn, tenant_id=tid, lead_id=lid, label="won", weight=None, source="backtest")
    refresh_seed_profiles(conn, tid, model_version, min_seeds=3)
    refresh_candidate_pools(conn, tid, len(lead_ids), stream_batch=20000)
    seed_set = set(seed_leads)
    others = [lid for lid in lead_ids if lid not in seed_set]
    out = {"seeds": len(seed_leads)}
    out["similarity"] = _measure(_scores(conn, tid, "similarity_score"), rows, others)

    rcfg = RankingConfig(seed=trial)
    r = train_and_promote(conn, tid, rcfg)
    say(f"  ranked: {r.status} {r.kind} model, holdout {r.challenger}")
    out["ranked"] = _measure(_scores(conn, tid, "rank_score"), rows, others)

    # feedback: the outcomes of a random share of the other rows come back as exposures and conversions
    k = int(len(others) * cfg.feedback_fraction)
    revealed = [others[i] for i in rng.choice(len(others), k, replace=False)]
    now = datetime.now(timezone.utc)
    when = {lid: now - timedelta(days=int(rng.integers(1, 60)), seconds=int(rng.integers(0, 86400)))
            for lid in revealed}
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        Q.backtest_expose(conn, tenant_id=tid, lead_ids=revealed)
    # every revealed lead was contacted at some time; the positives then closed
    events = [{"event_id": f"bt-{trial}-{lid}-sent", "lead_id": str(lid), "event_type": "sent",
               "occurred_at": when[lid].isoformat()} for lid in revealed]
    events += [{"event_id": f"bt-{trial}-{lid}", "lead_id": str(lid), "event_type": "deal_closed",
                "occurred_at": (when[lid] + timedelta(hours=1)).isoformat()} for lid in revealed if rows[lid]]
    conv = record_conversions(conn, tid, events, source="backtest")
    rebuild_facts(conn, [str(tid)], sorted(conv.days))
    r2 = train_and_promote(conn, tid, rcfg)
    say(f"  ranked_feedback: {r2.status} {r2.kind} model, holdout {r2.challenger}")
    revealed_set = set(revealed)
    rest = [lid for lid in others if lid not in revealed_set]
    scores = _scores(conn, tid, "rank_score")
    if r2.kind != "feedback" or r2.status != "promoted":
        # the feedback model lost against the seeds-only champion on the holdout: the champion still ranks
        say("  (the seeds-only model stays champion)")
    out["ranked_feedback"] = _measure(scores, rows, rest)
    out["models"] = {"ranked": {"status": r.status, "kind": r.kind, "importances": dict(top_factors(r.importances, 10))},
                     "ranked_feedback": {"status": r2.status, "kind": r2.kind}}
    return out
