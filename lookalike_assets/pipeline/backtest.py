"""`lookalike backtest`: how well the audiences lookalike would cut do on any labelled table, through the same
importer, feature, embedding, ranking, pool and membership code the assets run.

In each trial: some positive rows become seeds, every other row's label is hidden, and the audience is built
the way production builds it (the default pool size, or ``--pool-size``; the default audience rules) three
ways: ``similarity`` (no ranking model: the pool is the top N by similarity), ``ranked`` (a model learned from
the seeds alone picks the pool, then orders and cuts it) and ``ranked_feedback`` (the same after the outcomes of
a random 10 % of the other rows came back through the feedback loop; measured on the remaining rows).

Measured over every non-seed row: the audience's members first, in the order the audience is cut by, then the
other leads by the score production has for them (the model's score of every lead, else similarity): lift in
the top 10 % and AUC; and the audience itself: ``audience_precision`` (its positive share) and
``audience_recall`` (its share of all positives). Beside them, ``onehot_centroid``: the plainest baseline (one-hot
categoricals and standardized numerics, cosine to the seeds' centroid) on the same seeds. Means over trials and
their spread. Everything is deterministic for a given ``--seed``: rows are ordered by their external id, seeds
and revealed rows drawn from that order, and models hash external ids. The temporary tenant is deleted at the
end, whatever happens (Ctrl-C and SIGTERM included).
"""

from __future__ import annotations

import csv
import hashlib
import random
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from lookalike_assets.db import admin
from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, sibling, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.db.vector_copy import to_numpy
from lookalike_assets.domain.baseline import onehot_centroid_scores
from lookalike_assets.domain.encoder_choice import get_encoder
from lookalike_assets.domain.ranking import auc, lift_at, top_factors
from lookalike_assets.pipeline.common import termination_as_exit
from lookalike_assets.pipeline.conversions import rebuild_facts, record_conversions
from lookalike_assets.pipeline.embeddings import refresh_embeddings
from lookalike_assets.pipeline.features import refresh_lead_features
from lookalike_assets.pipeline.importer import ImportMapping, import_leads, read_table
from lookalike_assets.pipeline.memberships import refresh_memberships
from lookalike_assets.pipeline.pools import refresh_candidate_pools, refresh_seed_profiles, stream_vectors
from lookalike_assets.pipeline.ranking import RankingConfig, train_and_promote
from lookalike_assets.settings import Settings

WAYS = ("similarity", "ranked", "ranked_feedback")
BASELINE = "onehot_centroid"
METRICS = ("lift_at_10", "auc", "audience_precision", "audience_recall")


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
    pool_size: int | None = None  # None: the default pool size production uses (LOOKALIKE_POOL_SIZE)
    shuffle_columns: bool = False  # also run with the file's columns permuted, and report the differences


@dataclass
class BacktestResult:
    rows: int
    base_rate: float
    trials: list[dict]
    pool_size: int = 0
    seconds: float = 0.0
    shuffled: BacktestResult | None = None

    def _means(self) -> dict:
        out: dict = {}
        for way in (*WAYS, BASELINE):
            entry: dict = {}
            for metric in METRICS:
                vals = np.array([t[way][metric] for t in self.trials if metric in t[way]], dtype=float)
                if len(vals):
                    entry[metric] = round(float(vals.mean()), 4)
                    entry[f"{metric}_std"] = round(float(vals.std()), 4)
            out[way] = entry
        return out

    def summary(self) -> dict:
        out = self._means()
        out["rows"] = self.rows
        out["base_rate"] = round(self.base_rate, 6)
        out["pool_size"] = self.pool_size
        if self.shuffled is not None:
            other = self.shuffled._means()
            diffs = {way: {m: round(abs(out[way][m] - other[way][m]), 4) for m in ("lift_at_10", "auc")}
                     for way in (*WAYS, BASELINE)}
            out["shuffle_columns"] = {
                "lift_at_10": {way: other[way]["lift_at_10"] for way in (*WAYS, BASELINE)},
                "difference": diffs,
                "max_lift_difference": max(d["lift_at_10"] for d in diffs.values()),
            }
        return out


def _positive(value, positive_value: str | None) -> bool:
    if value is None:
        return False
    s = str(value).strip().lower()
    if positive_value is not None:
        return s == str(positive_value).strip().lower()
    return s in ("1", "1.0", "true", "yes", "y", "t")


@dataclass
class LabelledFile:
    labels: dict[str, bool]  # external id -> label, the same ids the importer gives the rows
    values: dict[str, dict]  # external id -> the row's values (for the baseline)
    columns: list[str]  # the feature columns (not the label, the id, excluded or text columns)


def _read(cfg: BacktestConfig) -> LabelledFile:
    table = read_table(cfg.csv, limit=cfg.limit)
    cols = table.columns
    if cfg.label_column not in cols:
        raise BacktestError(f"label column {cfg.label_column!r} is not in the file (columns: {', '.join(cols)})")
    if cfg.id_column and cfg.id_column not in cols:
        raise BacktestError(f"id column {cfg.id_column!r} is not in the file")
    missing = [c for c in cfg.exclude_columns + cfg.text_columns if c not in cols]
    if missing:
        raise BacktestError(f"column(s) not in the file: {', '.join(missing)}")
    prefix = "row:" + hashlib.sha256(Path(cfg.csv).name.encode()).hexdigest()[:8]
    skip = {cfg.label_column, cfg.id_column, *cfg.exclude_columns, *cfg.text_columns}
    labels, values = {}, {}
    for row in table.rows():
        if row.problem is not None:
            continue
        key = str(row.values.get(cfg.id_column) or "").strip() if cfg.id_column else f"{prefix}:{row.number}"
        labels[key] = _positive(row.values.get(cfg.label_column), cfg.positive_value)
        values[key] = row.values
    return LabelledFile(labels, values, sorted(c for c in cols if c not in skip))


def run_backtest(conn: psycopg.Connection, cfg: BacktestConfig,
                 progress: Callable[[str], None] | None = None) -> BacktestResult:
    say = progress or (lambda _m: None)
    if cfg.pool_size is None:
        cfg = replace(cfg, pool_size=Settings().pool_size)
    result = _backtest(conn, cfg, say)
    if cfg.shuffle_columns:
        with tempfile.TemporaryDirectory(prefix="lookalike-shuffled-") as tmp:
            # the same file name, so that rows get the same external ids
            shuffled = Path(tmp) / Path(cfg.csv).name
            order = shuffle_columns_of(Path(cfg.csv), shuffled, seed=cfg.seed)
            say(f"again with the columns in another order: {', '.join(order[:6])}{', ...' if len(order) > 6 else ''}")
            result.shuffled = _backtest(conn, replace(cfg, csv=str(shuffled), shuffle_columns=False), say)
    return result


def shuffle_columns_of(src: Path, dst: Path, seed: int = 0) -> list[str]:
    """A copy of a CSV with its columns in a random (seeded) order that differs from the original."""
    with src.open(newline="", encoding="utf-8-sig") as f:
        sample = f.read(65536)
        f.seek(0)
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        reader = csv.reader(f, dialect)
        header = next(reader)
        order = list(range(len(header)))
        rng = random.Random(seed + 1)
        while len(order) > 1 and order == sorted(order):
            rng.shuffle(order)
        with dst.open("w", newline="", encoding="utf-8") as out:
            w = csv.writer(out)
            w.writerow([header[i] for i in order])
            for row in reader:
                w.writerow([row[i] if i < len(row) else "" for i in order])
    return [header[i] for i in order]


def _backtest(conn: psycopg.Connection, cfg: BacktestConfig, say) -> BacktestResult:
    t0 = datetime.now(timezone.utc)
    data = _read(cfg)
    n_pos = sum(data.labels.values())
    if n_pos < cfg.seeds + 10:
        raise BacktestError(f"{n_pos} positive row(s): not enough for {cfg.seeds} seeds and an evaluation")
    slug = f"backtest-{uuid.uuid4().hex[:12]}"
    tid = uuid.UUID(admin.create_tenant(conn, slug, "lookalike backtest (temporary)"))
    admin.mark_temporary(conn, tid, "backtest")
    try:
        # a stop by SIGTERM (a `timeout`, a CI cancel) unwinds like Ctrl-C, so that the tenant is deleted below
        with termination_as_exit(), sibling(conn, PIPELINE_ROLE) as pipe:
            res = _run(pipe, tid, cfg, data, say)
    finally:
        admin.delete_tenant(conn, tid)
    res.seconds = (datetime.now(timezone.utc) - t0).total_seconds()
    return res


def _run(conn, tid, cfg: BacktestConfig, data: LabelledFile, say) -> BacktestResult:
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
        by_ext = {ext: lid for lid, ext in Q.backtest.lead_external_ids(conn, tenant_id=tid) if ext in data.labels}
    externals = sorted(by_ext)  # every draw below is from this order: deterministic for a given --seed
    lead_ids = [by_ext[e] for e in externals]
    rows = {by_ext[e]: data.labels[e] for e in externals}
    y_all = np.array([rows[lid] for lid in lead_ids])
    with tenant_transaction(conn, tid, APP_ROLE):
        # an audience as a user would create it: default rules, the default pool size
        audience_id = Q.admin.insert_audience(conn, tenant_id=tid, name="backtest", description=None,
                                        seed_set=Jsonb({}), rules=Jsonb({}), metadata=Jsonb({"source": "backtest"}))
    baseline_rows = [data.values[e] for e in externals]
    trials = []
    for trial in range(cfg.trials):
        rng = np.random.default_rng([cfg.seed, trial])
        say(f"trial {trial + 1}/{cfg.trials}")
        trials.append(_trial(conn, tid, audience_id, lead_ids, y_all, rows, emb.model_version, cfg, rng, trial,
                             say, (baseline_rows, data.columns)))
    return BacktestResult(rows=len(lead_ids), base_rate=float(y_all.mean()), trials=trials,
                          pool_size=int(cfg.pool_size))


def _reset(conn, tid) -> None:
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        Q.backtest.backtest_reset(conn, tenant_id=tid)


def _audience(conn, tid, cfg: BacktestConfig) -> None:
    """What a tenant refresh does after the ranking model: pools, then memberships."""
    refresh_candidate_pools(conn, tid, cfg.pool_size, stream_batch=20000)
    refresh_memberships(conn, tid)


def _production_order(conn, tid, audience_id) -> tuple[list, dict]:
    """(the audience's members in the order it is cut by, every lead's score production has for it: the
    champion's score where there is one, else similarity to the seed profile)."""
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        members = [r[0] for r in Q.backtest.backtest_members(conn, tenant_id=tid, audience_id=audience_id)]
        scored = {r[0]: r[1] for r in Q.backtest.backtest_lead_scores(conn, tenant_id=tid)}
        if scored:
            return members, scored
        profile = to_numpy(Q.backtest.backtest_profile(conn, tenant_id=tid, audience_id=audience_id))
        sims = {}
        for ids, vecs in stream_vectors(conn, tid, 20000):
            sims.update(zip(ids, (vecs @ profile).tolist()))
    return members, sims


def _measure(order: tuple[list, dict], rows: dict, leads: list) -> dict:
    """Members first (in cut order), then the other leads by production score."""
    members, scores = order
    evaluated = set(leads)
    in_audience = [m for m in members if m in evaluated]
    rank = {lid: i for i, lid in enumerate(in_audience)}
    rest = sorted((lid for lid in leads if lid not in rank), key=lambda lid: -scores.get(lid, -np.inf))
    for i, lid in enumerate(rest, start=len(rank)):
        rank[lid] = i
    s = np.array([-rank[lid] for lid in leads], dtype=float)
    y = np.array([rows[lid] for lid in leads])
    hits = sum(rows[m] for m in in_audience)
    return {"lift_at_10": round(lift_at(s, y), 4), "auc": round(auc(s, y), 4), "rows": len(leads),
            "positives": int(y.sum()), "audience_size": len(in_audience),
            "audience_precision": round(hits / len(in_audience), 4) if in_audience else 0.0,
            "audience_recall": round(hits / max(int(y.sum()), 1), 4)}


def _baseline(baseline, lead_ids, seed_idx, rows, leads) -> dict:
    """The best of the baseline's variants on the evaluated rows (chosen with their labels: an optimistic
    yardstick, which lookalike's similarity is to match without seeing any label)."""
    values, columns = baseline
    position = {lid: i for i, lid in enumerate(lead_ids)}
    idx = np.array([position[lid] for lid in leads])
    y = np.array([rows[lid] for lid in leads])
    best = None
    for variant, scores in onehot_centroid_scores(values, columns, seed_idx).items():
        m = {"lift_at_10": round(lift_at(scores[idx], y), 4), "auc": round(auc(scores[idx], y), 4),
             "rows": len(leads), "variant": variant}
        if best is None or (m["lift_at_10"], m["auc"]) > (best["lift_at_10"], best["auc"]):
            best = m
    return best


def _trial(conn, tid, audience_id, lead_ids, y_all, rows, model_version, cfg, rng, trial, say, baseline) -> dict:
    _reset(conn, tid)
    pos = [i for i, v in enumerate(y_all) if v]
    seed_idx = sorted(pos[i] for i in rng.choice(len(pos), cfg.seeds, replace=False))
    seed_leads = [lead_ids[i] for i in seed_idx]
    with tenant_transaction(conn, tid, APP_ROLE):
        for lid in seed_leads:
            Q.admin.insert_seed(conn, tenant_id=tid, lead_id=lid, label="won", weight=None, source="backtest")
    refresh_seed_profiles(conn, tid, model_version, min_seeds=3)
    seed_set = set(seed_leads)
    others = [lid for lid in lead_ids if lid not in seed_set]
    out: dict = {"seeds": len(seed_leads)}
    out[BASELINE] = _baseline(baseline, lead_ids, seed_idx, rows, others)

    # 1. no model yet: similarity chooses, orders and cuts
    _audience(conn, tid, cfg)
    out["similarity"] = _measure(_production_order(conn, tid, audience_id), rows, others)

    # 2. a model from the seeds alone chooses the pool, orders and cuts it
    rcfg = RankingConfig(seed=trial)
    r = train_and_promote(conn, tid, rcfg)
    say(f"  ranked: {r.status} {r.kind} model, holdout {r.challenger}")
    _audience(conn, tid, cfg)
    out["ranked"] = _measure(_production_order(conn, tid, audience_id), rows, others)

    # 3. feedback: the outcomes of a random share of the other rows come back as exposures and conversions
    k = int(len(others) * cfg.feedback_fraction)
    revealed = [others[i] for i in sorted(rng.choice(len(others), k, replace=False))]
    now = datetime.now(timezone.utc)
    when = {lid: now - timedelta(days=int(rng.integers(1, 60)), seconds=int(rng.integers(0, 86400)))
            for lid in revealed}
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        Q.backtest.backtest_expose(conn, tenant_id=tid, audience_id=audience_id, lead_ids=revealed)
    # every revealed lead was contacted at some time; the positives then closed
    events = [{"event_id": f"bt-{trial}-{lid}-sent", "lead_id": str(lid), "event_type": "sent",
               "occurred_at": when[lid].isoformat()} for lid in revealed]
    events += [{"event_id": f"bt-{trial}-{lid}", "lead_id": str(lid), "event_type": "deal_closed",
                "occurred_at": (when[lid] + timedelta(hours=1)).isoformat()} for lid in revealed if rows[lid]]
    conv = record_conversions(conn, tid, events, source="backtest")
    rebuild_facts(conn, [str(tid)], sorted(conv.days))
    r2 = train_and_promote(conn, tid, rcfg)
    say(f"  ranked_feedback: {r2.status} {r2.kind} model, holdout {r2.challenger}"
        + ("" if r2.status == "promoted" else f" ({r2.reason}; the champion stays)"))
    _audience(conn, tid, cfg)
    revealed_set = set(revealed)
    rest = [lid for lid in others if lid not in revealed_set]
    out["ranked_feedback"] = _measure(_production_order(conn, tid, audience_id), rows, rest)
    out["models"] = {"ranked": {"status": r.status, "kind": r.kind, "importances": dict(top_factors(r.importances, 10))},
                     "ranked_feedback": {"status": r2.status, "kind": r2.kind, "decision": r2.reason}}
    return out
