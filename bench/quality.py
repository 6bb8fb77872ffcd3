"""How good the audiences are, through the production path (`lookalike backtest`): on the shared bank-marketing
data, and on the demo generator, whose hidden propensity is known (so the best possible ranking is known too).

    python bench/quality.py                       # both, as in BENCHMARKS.md
    python bench/quality.py --dataset demo --demo-leads 3000 --trials 1 --seeds 60

Prints progress on stderr and one JSON object as its last line: per data set the backtest's summary (similarity,
ranked, ranked_feedback, onehot_centroid: lift_at_10, auc, audience_precision, audience_recall), and for the demo
the lift and AUC of the hidden propensity itself (`oracle`).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, bench_database, emit, machine

BANK = ROOT.parent / "shared" / "datasets" / "bank-marketing" / "bank-full.csv"
DEMO_COLUMNS = ("industry", "company_size", "country", "region", "title", "seniority", "bio", "property_type",
                "email_opens", "web_visits")


def demo_table(path: Path, leads: int, seed: int) -> tuple[list[float], list[bool]]:
    """A labelled CSV from the demo generator: outcomes drawn from the hidden propensity."""
    import numpy as np

    from lookalike_assets.domain.demo_data import generate_leads
    from lookalike_assets.pipeline.demo import TENANTS

    rng = np.random.default_rng(seed)
    props, labels = [], []
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["lead_id", *DEMO_COLUMNS, "converted"])
        for lead, p in generate_leads(TENANTS[0], leads, seed=seed):
            y = bool(rng.random() < p)
            props.append(p)
            labels.append(y)
            w.writerow([lead["external_id"], *(lead[c] if lead[c] is not None else "" for c in DEMO_COLUMNS),
                        "yes" if y else "no"])
    return props, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=("bank", "demo", "both"), default="both")
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--pool-size", type=int, default=None, help="default: LOOKALIKE_POOL_SIZE, as production")
    ap.add_argument("--demo-leads", type=int, default=20000)
    ap.add_argument("--shuffle-columns", action="store_true", help="also run with the columns permuted")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import numpy as np

    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.domain.ranking import auc, lift_at
    from lookalike_assets.pipeline.backtest import BacktestConfig, run_backtest

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    url = bench_database()
    out: dict = {"benchmark": "quality", "machine": machine(), "seeds": args.seeds, "trials": args.trials}
    with admin_connection(url) as conn:
        if args.dataset in ("bank", "both"):
            if not BANK.exists():
                sys.exit(f"{BANK} is not present")
            t = time.perf_counter()
            res = run_backtest(conn, BacktestConfig(
                csv=str(BANK), label_column="y", positive_value="yes", exclude_columns=["duration"],
                seeds=args.seeds, trials=args.trials, seed=args.seed, pool_size=args.pool_size,
                shuffle_columns=args.shuffle_columns), progress=say)
            out["bank"] = {**res.summary(), "seconds": round(time.perf_counter() - t, 1)}
        if args.dataset in ("demo", "both"):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "demo-leads.csv"
                props, labels = demo_table(path, args.demo_leads, args.seed)
                t = time.perf_counter()
                res = run_backtest(conn, BacktestConfig(
                    csv=str(path), label_column="converted", positive_value="yes", id_column="lead_id",
                    text_columns=["bio"], seeds=args.seeds, trials=args.trials, seed=args.seed,
                    pool_size=args.pool_size, shuffle_columns=args.shuffle_columns), progress=say)
            p, y = np.array(props), np.array(labels)
            out["demo"] = {**res.summary(), "seconds": round(time.perf_counter() - t, 1),
                           "oracle": {"lift_at_10": round(lift_at(p, y), 4), "auc": round(auc(p, y), 4)}}
    emit(out)


if __name__ == "__main__":
    main()
