"""Commands that run the pipeline: demo, materialize, marts, report, summary, backtest."""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lookalike_assets.cli.common import console, fail, redact, resolve_tenants, split_list


def materialize_with_progress(tenants: list[tuple[str, str]], job_name: str = "tenant_refresh",
                              what: str = "materializing") -> bool:
    """One in-process run per tenant with a progress bar: the tenant and step at work, and its latest counts."""
    from lookalike_assets.orchestration import materialize_tenants

    ok = True
    with Progress(TextColumn(f"[bold]{what}[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[now]}"), console=console) as bar:
        task = bar.add_task("tenants", total=len(tenants), now="")
        current = {"tenant": "", "step": ""}

        def on_event(e) -> None:
            if e.kind == "start":
                current["step"] = e.step or ""
                bar.update(task, now=f"{current['tenant']}: {current['step']}")
            elif e.kind == "log" and e.step:
                bar.update(task, now=f"{current['tenant']}: {e.step}: {e.message[:70]}")
            elif e.kind == "log":
                bar.console.print(f"  {e.message}")

        def done(o) -> None:
            nonlocal ok
            bar.advance(task)
            status = "[green]ok[/green]" if o.success else f"[red]failed[/red]: {o.error}"
            bar.console.print(f"  {o.what}: {status} in {o.seconds:.1f}s (run {o.run_id[:8]})")
            ok = ok and o.success

        for tid, slug in tenants:
            current["tenant"] = slug
            materialize_tenants([tid], on_done=done, job_name=job_name, on_event=on_event)
    return ok


def build_marts() -> bool:
    from lookalike_assets.orchestration import materialize_marts

    with console.status("dbt build (staging, marts) and reports..."):
        o = materialize_marts()
    console.print(f"  marts and reports: {'[green]ok[/green]' if o.success else '[red]failed[/red]: ' + str(o.error)} "
                  f"in {o.seconds:.1f}s (run {o.run_id[:8]}); dbt {o.dbt_summary or 'did not finish'}; "
                  f"dbt's log: {o.log}")
    return o.success


def marts() -> None:
    """Build the dbt models (staging views, marts) and run their tests."""
    if not build_marts():
        raise typer.Exit(1)


def docs(
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve them after generating them.")] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.", min=1, max=65535)] = 8081,
) -> None:
    """Generate the dbt docs of the marts (every source, model and column described, lineage, exposures) and serve
    them."""
    import os
    import subprocess

    from lookalike_assets.db.connect import database_url, dbt_env
    from lookalike_assets.defs.analytics.dbt import DBT_PROJECT_DIR, dbt_executable

    env = {**os.environ, **dbt_env(database_url())}
    common = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    with console.status("dbt docs generate..."):
        res = subprocess.run([dbt_executable(), "docs", "generate", *common], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        fail(f"dbt docs generate failed:\n{res.stdout[-3000:]}", code=1)
    console.print(f"dbt docs generated in {DBT_PROJECT_DIR / 'target'}")
    if serve:
        console.print(f"serving them on http://{host}:{port} (Ctrl-C to stop)")
        raise typer.Exit(subprocess.run([dbt_executable(), "docs", "serve", *common, "--host", host, "--port",
                                         str(port), "--no-browser"], env=env).returncode)


def materialize(
    tenant: Annotated[Optional[list[str]], typer.Option("--tenant", "-t", help="Slug or id; repeatable. "
                                                        "Default: every tenant.")] = None,
) -> None:
    """Materialize every asset of the given tenants (features, embeddings, profiles, pools)."""
    if not materialize_with_progress(resolve_tenants(tenant)):
        raise typer.Exit(1)


def print_summary(seconds: float | None = None) -> None:
    from lookalike_assets.cli.common import all_tenants
    from lookalike_assets.db.connect import APP_ROLE, service_connection, tenant_transaction
    from lookalike_assets.db.queries import Q

    table = Table("tenant", "leads", "embedded", "seeds", "audience", "status", "candidates", "members", "exports",
                  title="lookalike")
    totals = {"tenants": 0, "leads": 0, "embedded": 0}
    skipped = []
    segments = []
    tenants = all_tenants()
    with service_connection(APP_ROLE) as conn:
        for tid, slug, _name in tenants:
            with tenant_transaction(conn, tid, APP_ROLE):
                leads, embedded, seeds = Q.tenants.tenant_summary(conn, tenant_id=tid)
                rows = list(Q.tenants.audience_summary(conn, tenant_id=tid))
                skipped += [(slug, *r) for r in Q.tenants.skipped_exports(conn, tenant_id=tid)]
                segments += [(slug, *r) for r in Q.tenants.segment_summary(conn, tenant_id=tid)]
            totals["tenants"] += 1
            totals["leads"] += leads
            totals["embedded"] += embedded
            first = True
            for name, status, candidates, members, exports in rows or [("(no audiences)", "", 0, 0, "")]:
                table.add_row(slug if first else "", str(leads) if first else "", str(embedded) if first else "",
                              str(seeds) if first else "", name, status, str(candidates), str(members), exports or "")
                first = False
    console.print(table)
    line = f"{totals['tenants']} tenants, {totals['leads']} leads, {totals['embedded']} embedded"
    if seconds is not None:
        line += f", {seconds:.1f}s"
    console.print(line)
    from lookalike_assets.settings import get_settings

    console.print(f"export files under {get_settings().exports_dir}")
    for slug, audience, fmt, why in skipped:
        console.print(f"  not exported: {slug} / {audience} -> {fmt}: {why}")
    for slug, audience, segs, why in segments:
        console.print(f"  segments of {slug} / {audience}: {segs or 'none (' + (why or 'not built yet') + ')'}")
    _print_performance()


def _print_performance() -> None:
    """Conversion rate by decile over each audience's members, from the marts as lookalike_bi; says what is
    missing instead of printing zeros."""
    from lookalike_assets.cli.common import all_tenants
    from lookalike_assets.db.connect import PIPELINE_ROLE, service_connection
    from lookalike_assets.reporting.report import build_report
    from lookalike_assets.settings import get_settings

    table = Table("tenant", "audience", *[f"d{d}" for d in range(1, 11)], "members' d10 lift",
                  title="conversion rate of members by decile of the pool (10 = best; '-': no members there)")
    missing = []
    with service_connection(PIPELINE_ROLE) as conn:  # reads the marts as lookalike_bi
        for tid, slug, name in all_tenants():
            rep = build_report(conn, tid, name)
            if rep.missing:
                missing.append((slug, rep.missing))
                continue
            by_aud: dict[str, dict[int, dict]] = {}
            for r in rep.deciles:
                by_aud.setdefault(r["audience_name"], {})[int(r["decile"])] = r
            for aud, dec in by_aud.items():
                lift = dec.get(10, {}).get("lift_vs_base")
                table.add_row(slug, aud, *[f"{float(dec[d]['conversion_rate']):.1%}"
                                           if d in dec and dec[d]["conversion_rate"] is not None else "-"
                                           for d in range(1, 11)],
                              "-" if lift is None else f"{float(lift):.2f}x")
    if table.row_count:
        console.print(table)
        console.print(f"HTML reports (with pool-wide rates too) under {get_settings().home / 'reports'}")
    for slug, why in missing[:5]:
        console.print(f"{slug}: {why}")


def report(
    tenant: Annotated[Optional[list[str]], typer.Option("--tenant", "-t", help="Default: every tenant.")] = None,
    out: Annotated[Optional[str], typer.Option(help="Folder; default <LOOKALIKE_HOME>/reports.")] = None,
) -> None:
    """Write each tenant's HTML performance report (decile lift and reach charts) from the marts."""
    from pathlib import Path

    from lookalike_assets.cli.common import all_tenants
    from lookalike_assets.db.connect import PIPELINE_ROLE, service_connection
    from lookalike_assets.reporting.report import build_report, write_report
    from lookalike_assets.settings import get_settings

    folder = Path(out) if out else get_settings().home / "reports"
    wanted = {t for t, _ in resolve_tenants(tenant)}
    with service_connection(PIPELINE_ROLE) as conn:  # reads the marts as lookalike_bi
        for tid, slug, name in all_tenants():
            if tid in wanted:
                rep = build_report(conn, tid, name)
                path = write_report(rep, folder, slug)
                lifts = ", ".join(f"{a}: {v:.2f}x" for a, v in rep.top_decile_lift().items() if v is not None)
                console.print(f"{slug}: {path}" + (f" (members' top-decile lift vs base: {lifts})" if lifts else "")
                              + (f"\n  nothing to show yet: {rep.missing}" if rep.missing else ""))


def backtest(
    csv: Annotated[str, typer.Option("--csv", help="A labelled table (CSV, TSV or Parquet).")],
    label_column: Annotated[str, typer.Option(help="The outcome column.")],
    positive_value: Annotated[Optional[str], typer.Option(help="Value of a positive outcome (default: 1/true/yes).")] = None,
    id_column: Annotated[Optional[str], typer.Option(help="Row id column (default: row numbers).")] = None,
    exclude_columns: Annotated[str, typer.Option(help="Comma-separated columns to leave out (leaks, ids).")] = "",
    text_columns: Annotated[str, typer.Option(help="Comma-separated free-text columns to embed with the transformer "
                                                   "(none by default: tabular only).")] = "",
    seeds: Annotated[int, typer.Option(help="Seeds drawn from the positive rows per trial.", min=3)] = 200,
    trials: Annotated[int, typer.Option(help="Trials (different random seeds).", min=1, max=20)] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    limit: Annotated[Optional[int], typer.Option(help="Only the first N rows.", min=100)] = None,
    pool_size: Annotated[Optional[int], typer.Option(help="Pool size of the audience (default: LOOKALIKE_POOL_SIZE, "
                                                          "as production).", min=1)] = None,
    shuffle_columns: Annotated[bool, typer.Option("--shuffle-columns", help="Also run with the file's columns in "
                                                  "another order and report the differences.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line: per way lift_at_10, auc, "
                                                        "audience_precision, audience_recall; onehot_centroid; "
                                                        "rows, base_rate, pool_size.")] = False,
) -> None:
    """Measure the audiences lookalike would cut on any labelled table: similarity, learned ranking, and ranking
    after feedback, through the production pool, beside a one-hot centroid baseline."""
    import json

    from lookalike_assets.db.admin import prepare_database
    from lookalike_assets.db.connect import admin_connection, database_url
    from lookalike_assets.pipeline.backtest import BacktestConfig, BacktestError, run_backtest
    from lookalike_assets.pipeline.importer import LeadImportError

    cfg = BacktestConfig(csv=csv, label_column=label_column, positive_value=positive_value, id_column=id_column,
                         exclude_columns=split_list(exclude_columns), text_columns=split_list(text_columns),
                         seeds=seeds, trials=trials, seed=seed, limit=limit, pool_size=pool_size,
                         shuffle_columns=shuffle_columns)
    url = database_url()
    prepare_database(url)
    out = console if not as_json else Console(stderr=True, width=150)
    with admin_connection(url) as conn, out.status("backtest...") as status:
        try:
            res = run_backtest(conn, cfg, progress=lambda m: (status.update(m), out.print(f"  {m}")))
        except (BacktestError, LeadImportError) as exc:
            fail(str(exc))
    summary = res.summary()
    table = Table("way", "lift@10 (mean)", "± std", "AUC (mean)", "± std", "audience precision", "audience recall",
                  title=f"{res.rows} rows, base rate {res.base_rate:.2%}, {cfg.seeds} seeds, {cfg.trials} trial(s), "
                        f"pool size {res.pool_size}")
    for way in ("similarity", "ranked", "ranked_feedback", "onehot_centroid"):
        m = summary[way]
        table.add_row(way, f"{m['lift_at_10']:.3f}", f"{m['lift_at_10_std']:.3f}", f"{m['auc']:.3f}",
                      f"{m['auc_std']:.3f}", f"{m['audience_precision']:.3f}" if "audience_precision" in m else "-",
                      f"{m['audience_recall']:.3f}" if "audience_recall" in m else "-")
    out.print(table)
    if "shuffle_columns" in summary:
        sc = summary["shuffle_columns"]
        diffs = ", ".join(f"{w} {d['lift_at_10']:.3f}" for w, d in sc["difference"].items())
        out.print(f"columns in another order: largest lift difference {sc['max_lift_difference']:.3f} ({diffs})")
    out.print(f"{res.seconds:.0f}s; the temporary tenant was deleted")
    if as_json:
        typer.echo(json.dumps(summary))


def summary() -> None:
    """Tenants, leads, embedded leads and candidates per audience."""
    print_summary()


def demo(
    leads: Annotated[int, typer.Option(help="Leads per tenant (1k to 1M).", min=10, max=1_000_000)] = 1500,
    tenants: Annotated[int, typer.Option(help="Number of demo tenants.", min=1, max=4)] = 3,
    seed: Annotated[int, typer.Option(help="Random seed of the generator.")] = 7,
    pool_size: Annotated[int, typer.Option(help="Candidate pool size of the demo audiences.", min=1)] = 500,
    materialize_all: Annotated[bool, typer.Option("--materialize/--no-materialize",
                                                  help="Materialize every asset after loading.")] = True,
) -> None:
    """Start the database, load the demo tenants, materialize everything, print a summary."""
    from lookalike_assets.cli.conversions import simulate
    from lookalike_assets.db.admin import prepare_database
    from lookalike_assets.db.connect import admin_connection, database_url
    from lookalike_assets.pipeline.demo import load_demo

    t = time.perf_counter()
    url = database_url()
    prepare_database(url)
    console.print(f"database ready ({redact(url)})")
    with admin_connection(url) as conn:
        loaded = load_demo(conn, leads_per_tenant=leads, tenants=tenants, seed=seed, pool_size=pool_size)
    for d in loaded:
        console.print(f"  {d.slug}: {d.leads} leads ({d.inserted} new, {d.updated} changed), {d.seeds} seeds, "
                      f"{d.audiences} audiences")
    ok = True
    if materialize_all:
        ids = [(str(d.tenant_id), d.slug) for d in loaded]
        ok = materialize_with_progress(ids)
        console.print("simulating conversions from the hidden propensity:")
        ok = simulate(ids, 30, seed, True) and ok
        # outcomes are in: retrain the rankers now, as the feedback sensor would, so the daemon has nothing to do
        ok = materialize_with_progress(ids, "ranking_retrain", "retraining on outcomes") and ok
        ok = build_marts() and ok
    print_summary(time.perf_counter() - t)
    if not ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    for fn in (demo, materialize, marts, docs, report, summary, backtest):
        app.command()(fn)
