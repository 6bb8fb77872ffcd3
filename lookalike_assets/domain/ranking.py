"""Learned ranking: features for a lead relative to a tenant's seeds, LightGBM training (positive-unlabelled
before feedback exists, on outcomes after), evaluation (AUC, lift in the top decile) and champion/challenger.

Plain cosine similarity to a seed centroid ranks poorly on real data; a classifier that learns what separates
seeds (and later converters) from the rest ranks much better. Everything here is numpy/pandas/LightGBM:
the database side lives in ``lookalike_assets.pipeline.ranking``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from lookalike_assets.domain.features import FeatureSpec
from lookalike_assets.domain.vectors import Layout

KNN = 5
MIN_CATEGORY_COUNT = 3


class RankingError(ValueError):
    pass


# ---------------------------------------------------------------------------------------------------------
# Metrics


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum formula (ties get average ranks)."""
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(np.asarray(scores, dtype=float)).rank(method="average").to_numpy()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def lift_at(scores: np.ndarray, labels: np.ndarray, fraction: float = 0.1) -> float:
    """Conversion rate in the top ``fraction`` by score over the base rate."""
    labels = np.asarray(labels, dtype=float)
    base = labels.mean() if len(labels) else 0.0
    if base == 0:
        return float("nan")
    n = max(1, int(round(len(labels) * fraction)))
    top = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:n]
    return float(labels[top].mean() / base)


# ---------------------------------------------------------------------------------------------------------
# Features


@dataclass
class FeatureSchema:
    """The columns a model was trained on, and the category vocabularies, so any worker can rebuild them."""

    numeric: list[str]
    categorical: dict[str, list[str]]
    blocks: list[str]
    excluded: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return (["sim_profile", "sim_seed_max", "sim_seed_knn", "novelty"] + [f"block_{b}" for b in self.blocks]
                + [f"f_{c}" for c in self.numeric] + [f"c_{c}" for c in self.categorical])

    def to_json(self) -> dict:
        return {"numeric": self.numeric, "categorical": self.categorical, "blocks": self.blocks,
                "excluded": self.excluded}

    @classmethod
    def from_json(cls, d: Mapping) -> FeatureSchema:
        return cls(list(d["numeric"]), {k: list(v) for k, v in d["categorical"].items()}, list(d["blocks"]),
                   list(d.get("excluded", [])))


def schema_for(spec: FeatureSpec, features: Sequence[Mapping], excluded: Sequence[str] = ()) -> FeatureSchema:
    """Lead columns of the spec minus the excluded (sensitive) ones; blocks that hold an excluded column are
    left out of the similarity features too, so the attribute cannot come back in through them."""
    excluded_set = set(excluded)
    numeric, categorical, blocks = [], {}, []
    for block in spec.blocks:
        cols = [c for c in block.columns]
        if any(c.name in excluded_set for c in cols):
            continue
        blocks.append(block.name)
    if spec.effective_text_weight > 0 and not (set(spec.text_columns) & excluded_set):
        blocks.insert(0, "text")
    for block in spec.blocks:
        for c in block.columns:
            if c.name in excluded_set:
                continue
            if c.kind == "numeric":
                numeric.append(c.name)
            else:
                counts: dict[str, int] = {}
                for f in features:
                    v = f.get(c.name)
                    if v is not None:
                        counts[str(v)] = counts.get(str(v), 0) + 1
                categorical[c.name] = sorted(k for k, n in counts.items() if n >= MIN_CATEGORY_COUNT)
    return FeatureSchema(numeric, categorical, blocks, sorted(excluded_set))


def mask_blocks(vectors: np.ndarray, layout: Layout, keep: Sequence[str]) -> np.ndarray:
    """Zero the blocks not in ``keep`` and renormalize (rows that become zero stay zero)."""
    out = np.zeros_like(vectors)
    slices = layout.slices()
    for name in keep:
        if name in slices:
            out[:, slices[name]] = vectors[:, slices[name]]
    n = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, n, out=np.zeros_like(out), where=n > 0)


@dataclass
class SimilarityContext:
    """What the similarity features of a lead are computed against (masked vectors)."""

    seeds: np.ndarray  # (s, D) masked seed vectors
    seed_ids: list  # lead ids of the seeds, for leave-one-out
    customers: np.ndarray  # (c, D) masked vectors of existing customers (for novelty)
    layout: Layout
    keep: list[str]
    customer_ids: list = field(default_factory=list)  # lead ids of the customers, for leave-one-out

    @property
    def profile(self) -> np.ndarray:
        c = self.seeds.mean(axis=0)
        n = np.linalg.norm(c)
        return c / n if n > 0 else c


def similarity_features(vectors: np.ndarray, lead_ids: Sequence, ctx: SimilarityContext) -> dict[str, np.ndarray]:
    """sim_profile, per-block contributions, max and top-k mean similarity to individual seeds, and novelty
    (one minus the similarity to the nearest existing customer). A seed or customer is never its own neighbour."""
    x = mask_blocks(vectors, ctx.layout, ctx.keep)
    n_seeds = len(ctx.seeds)
    seed_pos = {lid: i for i, lid in enumerate(ctx.seed_ids)}
    self_idx = np.array([seed_pos.get(lid, -1) for lid in lead_ids])
    # One fixed profile for every row, seeds included: a feature must be the same function of the lead for seeds
    # and for the rest. (A leave-one-out centroid shifts seeds' values by a tiny, exact amount that trees learn.)
    out: dict[str, np.ndarray] = {}
    prof = ctx.profile
    out["sim_profile"] = x @ prof
    slices = ctx.layout.slices()
    for b in ctx.keep:
        sl = slices[b]
        out[f"block_{b}"] = x[:, sl] @ prof[sl]
    is_seed = self_idx >= 0
    sims = x @ ctx.seeds.T if n_seeds else np.zeros((len(x), 0))
    if is_seed.any():
        sims[np.flatnonzero(is_seed), self_idx[is_seed]] = -np.inf
    k = min(KNN, max(n_seeds - 1, 1))
    if sims.shape[1]:
        top = -np.sort(-sims, axis=1)[:, :k]
        top = np.where(np.isfinite(top), top, np.nan)
        out["sim_seed_max"] = np.nan_to_num(top[:, 0], nan=0.0)
        out["sim_seed_knn"] = np.nan_to_num(np.nanmean(top, axis=1), nan=0.0)
    else:
        out["sim_seed_max"] = out["sim_seed_knn"] = np.zeros(len(x))
    if len(ctx.customers):
        cs = x @ ctx.customers.T
        cust_pos = {lid: i for i, lid in enumerate(ctx.customer_ids)}
        own = np.array([cust_pos.get(lid, -1) for lid in lead_ids])
        mine = own >= 0
        if mine.any():  # a customer is not compared with itself either
            cs[np.flatnonzero(mine), own[mine]] = -np.inf
        best = cs.max(axis=1) if cs.shape[1] > 1 or not mine.any() else np.where(mine, 0.0, cs.max(axis=1))
        out["novelty"] = 1.0 - np.where(np.isfinite(best), best, 0.0)
    else:
        out["novelty"] = np.ones(len(x))
    return out


def feature_frame(schema: FeatureSchema, features: Sequence[Mapping], sims: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The model's input columns, in ``schema.names`` order; unseen categories become missing."""
    cols: dict[str, object] = {"sim_profile": sims["sim_profile"], "sim_seed_max": sims["sim_seed_max"],
                               "sim_seed_knn": sims["sim_seed_knn"], "novelty": sims["novelty"]}
    for b in schema.blocks:
        cols[f"block_{b}"] = sims[f"block_{b}"]
    for c in schema.numeric:
        cols[f"f_{c}"] = np.array([_num(f.get(c)) for f in features], dtype=float)
    for c, cats in schema.categorical.items():
        index = {v: i for i, v in enumerate(cats)}
        codes = np.array([index.get(str(f.get(c)), -1) if f.get(c) is not None else -1 for f in features])
        cols[f"c_{c}"] = pd.Categorical.from_codes(codes, categories=cats) if cats else \
            pd.Categorical([None] * len(features))
    df = pd.DataFrame(cols)
    return df[schema.names]


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f if math.isfinite(f) else math.nan


# ---------------------------------------------------------------------------------------------------------
# Training


SMALL_BATCH = 256  # rows below which a prediction runs on one thread

PARAMS = dict(objective="binary", learning_rate=0.05, num_leaves=7, min_child_samples=30, feature_fraction=0.7,
              bagging_fraction=0.8, bagging_freq=1, lambda_l2=5.0, verbose=-1, num_threads=2,
              cat_smooth=20, min_data_per_group=30)


@dataclass
class TrainedModel:
    kind: str  # "pu" or "feedback"
    boosters: list[lgb.Booster]
    schema: FeatureSchema
    importances: dict[str, float]
    train_rows: int
    positives: int

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Mean log-odds over the bagged boosters. A lead's score depends on the lead alone (never on the other
        rows scored with it), so a tenant's leads can be scored in batches."""
        if not len(X):
            return np.zeros(0)
        data = self._matrix(X)
        # a handful of rows (a lead scored online) is faster on one thread than waking a pool of them
        params = {"num_threads": 1} if len(X) < SMALL_BATCH else {}
        acc = np.zeros(len(X))
        for b in self.boosters:
            acc += b.predict(data, raw_score=True, **params)
        return acc / len(self.boosters)

    def _matrix(self, X: pd.DataFrame) -> np.ndarray | pd.DataFrame:
        """``X`` as LightGBM reads a frame (a category as its code, a missing one as NaN), converted once for all
        the boosters rather than by LightGBM once per booster. The frame itself when a booster was trained on
        other categories than the frame has (LightGBM then maps them)."""
        categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
        cats = [list(X[c].cat.categories) for c in categorical]
        if any((b.pandas_categorical or []) != cats for b in self.boosters):
            return X
        out = np.empty(X.shape, dtype=np.float64)
        for i, c in enumerate(X.columns):
            if c in categorical:
                codes = X[c].cat.codes.to_numpy()
                out[:, i] = np.where(codes < 0, np.nan, codes)
            else:
                out[:, i] = X[c].to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def to_text(self) -> str:
        return json.dumps({"kind": self.kind, "schema": self.schema.to_json(), "importances": self.importances,
                           "train_rows": self.train_rows, "positives": self.positives,
                           "boosters": [b.model_to_string() for b in self.boosters]})

    @classmethod
    def from_text(cls, text: str) -> TrainedModel:
        d = json.loads(text)
        return cls(d["kind"], [lgb.Booster(model_str=s) for s in d["boosters"]], FeatureSchema.from_json(d["schema"]),
                   d["importances"], d["train_rows"], d["positives"])


FACTOR_WORDS = {
    "sim_profile": "likeness to the seeds as a whole",
    "sim_seed_max": "closeness to the most similar single seed",
    "sim_seed_knn": "closeness to the nearest few seeds",
    "novelty": "how unlike the seeds it is",
}


def readable(name: str) -> str:
    """A field or block name as words: ``company_size`` -> "company size", ``attributes.plan`` -> "plan"."""
    name = str(name).removeprefix("attributes.").removeprefix("text:")
    return {"text": "words (bio, title, notes)", "bio": "words (bio, title, notes)"}.get(name, name.replace("_", " "))


def factor_words(name: str) -> str:
    """A ranking model's input as words: ``block_industry`` -> "likeness in industry", ``f_company_size`` ->
    "company size", ``c_title`` -> "title", ``sim_profile`` -> "likeness to the seeds as a whole"."""
    if name in FACTOR_WORDS:
        return FACTOR_WORDS[name]
    if name.startswith("block_"):
        return f"likeness in {readable(name.removeprefix('block_'))}"
    if name.startswith(("f_", "c_")):
        return readable(name[2:])
    return readable(name)


def factors_in_words(importances: Mapping[str, float] | Sequence, n: int | None = None) -> list[tuple[str, float]]:
    """The influential factors as people read them (words, share of gain), most important first."""
    return [(factor_words(k), v) for k, v in top_factors(importances, n)]


def top_factors(importances: Mapping[str, float] | Sequence, n: int | None = None) -> list[tuple[str, float]]:
    """The influential factors, most important first. Importances stored as JSON objects (jsonb) do not keep
    their order, so every reader sorts here."""
    items = importances.items() if isinstance(importances, Mapping) else importances
    out = sorted(((str(k), float(v)) for k, v in items), key=lambda kv: (-kv[1], kv[0]))
    return out[:n] if n is not None else out


def _importances(boosters: Sequence[lgb.Booster], names: Sequence[str]) -> dict[str, float]:
    gain = np.zeros(len(names))
    for b in boosters:
        gain += b.feature_importance(importance_type="gain")
    total = gain.sum() or 1.0
    return {n: round(float(g / total), 4) for n, g in sorted(zip(names, gain), key=lambda p: -p[1])}


def train_pu(X_pos: pd.DataFrame, X_unlabelled: pd.DataFrame, schema: FeatureSchema, *, bags: int = 10,
             sample: int = 5000, rounds: int = 150, seed: int = 0) -> TrainedModel:
    """Positive-unlabelled: seeds against bags of the tenant's other leads. Under the usual assumption that
    seeds are a random sample of the positives, the ranking equals that of a positive/negative classifier."""
    if len(X_pos) < 3:
        raise RankingError(f"{len(X_pos)} seed(s): too few to learn from (at least 3)")
    if len(X_unlabelled) < 10:
        raise RankingError("too few other leads to learn from")
    rng = np.random.default_rng(seed)
    n = min(sample, len(X_unlabelled))
    boosters = []
    for b in range(bags):
        idx = rng.choice(len(X_unlabelled), n, replace=False)
        X = pd.concat([X_pos, X_unlabelled.iloc[idx]], ignore_index=True)
        y = np.r_[np.ones(len(X_pos)), np.zeros(n)]
        w = np.r_[np.full(len(X_pos), max(n / len(X_pos) / 4, 1.0)), np.ones(n)]
        boosters.append(lgb.train(dict(PARAMS, seed=seed * 100 + b), lgb.Dataset(X, y, weight=w),
                                  num_boost_round=rounds))
    return TrainedModel("pu", boosters, schema, _importances(boosters, schema.names), len(X_pos) + n, len(X_pos))


def train_supervised(X: pd.DataFrame, y: np.ndarray, schema: FeatureSchema, *, bags: int = 5, rounds: int = 200,
                     seed: int = 0) -> TrainedModel:
    """On outcomes: converted (1) against exposed but not converted (0), seeds counting as positives."""
    y = np.asarray(y, dtype=float)
    if y.sum() < 3 or (1 - y).sum() < 3:
        raise RankingError(f"outcomes too one-sided to learn from ({int(y.sum())} positive of {len(y)})")
    pos_w = max((len(y) - y.sum()) / y.sum() / 3, 1.0)
    w = np.where(y > 0, pos_w, 1.0)
    boosters = [lgb.train(dict(PARAMS, seed=seed * 100 + b), lgb.Dataset(X, y, weight=w), num_boost_round=rounds)
                for b in range(bags)]
    return TrainedModel("feedback", boosters, schema, _importances(boosters, schema.names), len(y), int(y.sum()))


@dataclass
class Evaluation:
    auc: float
    lift_at_10: float
    rows: int
    positives: int
    auc_ci: tuple[float, float] | None = None  # 95 % bootstrap interval
    scores: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> dict:
        out = {"auc": round(self.auc, 4), "lift_at_10": round(self.lift_at_10, 4), "rows": self.rows,
               "positives": self.positives}
        if self.auc_ci is not None:
            out["auc_ci"] = [round(self.auc_ci[0], 4), round(self.auc_ci[1], 4)]
        return out


def _bootstrap_indices(n: int, rounds: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(rounds, n))


def bootstrap_auc(scores: np.ndarray, y: np.ndarray, rounds: int = 200, seed: int = 0) -> tuple[float, float]:
    """95 % interval of the AUC by resampling the holdout's rows."""
    vals = [auc(scores[i], y[i]) for i in _bootstrap_indices(len(y), rounds, seed)]
    vals = [v for v in vals if not math.isnan(v)]
    return (float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))) if vals else (math.nan, math.nan)


def evaluate(model: TrainedModel, X: pd.DataFrame, y: np.ndarray, rounds: int = 200, seed: int = 0) -> Evaluation:
    s = model.predict(X)
    y = np.asarray(y)
    return Evaluation(auc(s, y), lift_at(s, y), len(y), int(np.sum(y)), bootstrap_auc(s, y, rounds, seed), s)


@dataclass
class Decision:
    promote: bool
    reason: str
    auc_gain: float | None = None
    auc_gain_ci: tuple[float, float] | None = None

    def to_json(self) -> dict:
        out: dict = {"promote": self.promote, "reason": self.reason}
        if self.auc_gain is not None:
            out["auc_gain"] = round(self.auc_gain, 4)
        if self.auc_gain_ci is not None:
            out["auc_gain_ci"] = [round(self.auc_gain_ci[0], 4), round(self.auc_gain_ci[1], 4)]
        return out


def decide(challenger: Evaluation, champion: Evaluation | None, y: np.ndarray, *, min_rows: int = 100,
           min_positives: int = 20, rounds: int = 200, seed: int = 0, upgrade: bool = False) -> Decision:
    """Promote a challenger only on evidence a statistician would sign. The first model of a tenant is promoted
    when its holdout AUC can be measured. After that the holdout must hold at least ``min_rows`` rows and
    ``min_positives`` positives, and the 95 % bootstrap interval of the challenger's AUC gain over the champion
    (paired: the same resampled rows for both) decides:

    - a challenger of the same kind must be better: the interval lies above zero (superiority);
    - an ``upgrade`` (a model trained on real outcomes replacing one trained on seeds against unlabelled leads, a
      proxy of the objective) must not be worse: the interval's upper end lies above zero (non-inferiority).
    """
    if math.isnan(challenger.auc):
        return Decision(False, "the holdout has no positives or no negatives: the challenger cannot be judged")
    if champion is None or math.isnan(champion.auc) or champion.scores is None:
        return Decision(True, "no champion to beat")
    y = np.asarray(y)
    if len(y) < min_rows or int(y.sum()) < min_positives:
        return Decision(False, f"a holdout of {len(y)} rows with {int(y.sum())} positives is too small to tell "
                        f"(at least {min_rows} and {min_positives}): the champion stays")
    a, b = challenger.scores, champion.scores
    gains = []
    for i in _bootstrap_indices(len(y), rounds, seed):
        ga, gb = auc(a[i], y[i]), auc(b[i], y[i])
        if not (math.isnan(ga) or math.isnan(gb)):
            gains.append(ga - gb)
    gain = challenger.auc - champion.auc
    lo, hi = (float(np.percentile(gains, 2.5)), float(np.percentile(gains, 97.5))) if gains else (math.nan, math.nan)
    interval = f"AUC {gain:+.3f} (95 % interval {lo:+.3f} to {hi:+.3f})"
    if upgrade:
        if hi > 0:
            return Decision(True, f"{interval}: trained on outcomes and not worse than the seeds-only champion",
                            gain, (lo, hi))
        return Decision(False, f"{interval}: trained on outcomes but clearly worse than the seeds-only champion",
                        gain, (lo, hi))
    if lo > 0:
        return Decision(True, interval, gain, (lo, hi))
    return Decision(False, f"{interval}: not clearly better", gain, (lo, hi))
