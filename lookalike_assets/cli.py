"""`lookalike`: the command line for platform engineers and growth teams."""

from __future__ import annotations

import logging
import sys
import time
import warnings
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="lookalike: lookalike audiences on PostgreSQL + pgvector, orchestrated by Dagster.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False, add_completion=False)
db_app = typer.Typer(help="The database: start, stop, migrate.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants.", no_args_is_help=True)
seeds_app = typer.Typer(help="Seeds: the leads an audience should look like.", no_args_is_help=True)
audiences_app = typer.Typer(help="Audiences: define, inspect, publish, retire.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenants_app, name="tenants")
app.add_typer(seeds_app, name="seeds")
conversions_app = typer.Typer(help="Conversion events: the feedback loop.", no_args_is_help=True)
app.add_typer(audiences_app, name="audiences")
ranking_app = typer.Typer(help="The learned ranking: models, champion and challenger.", no_args_is_help=True)
app.add_typer(conversions_app, name="conversions")
app.add_typer(ranking_app, name="ranking")

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="Tenant slug or id.")]

console = Console(width=None if sys.stdout.isatty() else 150)


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)
    for name in ("alembic", "pgserver", "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _redact(conninfo: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    d = conninfo_to_dict(conninfo)
    if d.get("password"):
        d["password"] = "***"
    return " ".join(f"{k}={v}" for k, v in d.items())


@db_app.command("up")
def db_up() -> None:
    """Start the embedded PostgreSQL (unless LOOKALIKE_DATABASE_URL is set) and apply migrations."""
    _quiet()
    from lookalike_assets.db import migrate
    from lookalike_assets.db.connect import database_url

    url = database_url()
    migrate.upgrade(url)
    console.print(f"[green]database ready[/green] at {_redact(url)} (schema {migrate.current_revision(url)})")


@db_app.command("migrate")
def db_migrate(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION."""
    _quiet()
    from lookalike_assets.db import migrate
    from lookalike_assets.db.connect import database_url

    url = database_url()
    migrate.upgrade(url, revision)
    console.print(f"schema at {migrate.current_revision(url)}")


@db_app.command("down")
def db_down() -> None:
    """Stop the embedded PostgreSQL (its data stays under .lookalike/pg)."""
    _quiet()
    from lookalike_assets.db import embedded
    from lookalike_assets.settings import get_settings

    s = get_settings()
    if s.database_url:
        console.print("LOOKALIKE_DATABASE_URL is set: the external database is not managed here.")
        return
    stopped = embedded.stop(s.pgdata)
    console.print("embedded database stopped" if stopped else "embedded database was not running")


@db_app.command("url")
def db_url() -> None:
    """Print the admin connection string (starting the embedded server if needed)."""
    _quiet()
    from lookalike_assets.db.connect import database_url

    typer.echo(database_url())


def _all_tenant_ids() -> list[str]:
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.db.queries import Q

    with admin_connection() as conn:
        return [r[0] for r in Q.list_tenants(conn)]


def _resolve_tenants(refs: list[str] | None) -> list[str]:
    """Tenant ids for slugs or ids; all tenants when none are given."""
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.db.queries import Q

    if not refs:
        return _all_tenant_ids()
    out = []
    with admin_connection() as conn:
        for ref in refs:
            row = Q.tenant_by_slug(conn, slug=ref)
            if row is None:
                try:
                    row = Q.get_tenant(conn, tenant_id=ref)
                except Exception:
                    conn.rollback()
                    row = None
            if row is None:
                raise typer.BadParameter(f"no tenant with slug or id {ref!r}")
            out.append(row[0])
    return out


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants with their lead counts."""
    _quiet()
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.db.queries import Q

    table = Table("slug", "name", "tenant_id", "leads")
    with admin_connection() as conn:
        for tid, slug, name, _created, leads in Q.list_tenants(conn):
            table.add_row(slug, name, tid, str(leads))
    console.print(table)


def _materialize(tenant_ids: list[str]) -> bool:
    from lookalike_assets.orchestration import materialize_tenants

    ok = True
    with Progress(TextColumn("[bold]materializing[/bold]"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("tenants", total=len(tenant_ids))

        def done(o):
            nonlocal ok
            bar.advance(task)
            status = "[green]ok[/green]" if o.success else f"[red]failed[/red]: {o.error}"
            bar.console.print(f"  tenant {o.tenant_id}: {status} in {o.seconds:.1f}s (run {o.run_id[:8]})")
            ok = ok and o.success

        materialize_tenants(tenant_ids, on_done=done, log_level="WARNING")
    return ok


def _build_marts() -> bool:
    from lookalike_assets.orchestration import materialize_marts

    with console.status("dbt build (staging, marts)..."):
        o = materialize_marts()
    console.print(f"  marts: {'[green]ok[/green]' if o.success else '[red]failed[/red]: ' + str(o.error)} "
                  f"in {o.seconds:.1f}s (run {o.run_id[:8]})")
    return o.success


@app.command()
def marts() -> None:
    """Build the dbt models (staging views, marts) and run their tests."""
    _quiet()
    if not _build_marts():
        raise typer.Exit(1)


@app.command()
def materialize(
    tenant: Annotated[Optional[list[str]], typer.Option("--tenant", "-t", help="Slug or id; repeatable. "
                                                        "Default: every tenant.")] = None,
) -> None:
    """Materialize every asset of the given tenants (features, embeddings, profiles, pools)."""
    _quiet()
    if not _materialize(_resolve_tenants(tenant)):
        raise typer.Exit(1)


def print_summary(seconds: float | None = None) -> None:
    from lookalike_assets.db.connect import APP_ROLE, admin_connection, tenant_transaction
    from lookalike_assets.db.queries import Q

    table = Table("tenant", "leads", "embedded", "seeds", "audience", "status", "candidates", "members", "exports",
                  title="lookalike")
    totals = {"tenants": 0, "leads": 0, "embedded": 0}
    with admin_connection() as conn:
        tenants = list(Q.list_tenants(conn))
        for tid, slug, _name, _c, _l in tenants:
            with tenant_transaction(conn, tid, APP_ROLE):
                leads, embedded, seeds = Q.tenant_summary(conn, tenant_id=tid)
                rows = list(Q.audience_summary(conn, tenant_id=tid))
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
    _print_performance()


def _print_performance() -> None:
    """Conversion rate by similarity decile, from the marts as lookalike_bi (skipped before the first build)."""
    import psycopg

    from lookalike_assets.db.connect import BI_ROLE, admin_connection, tenant_transaction
    from lookalike_assets.db.queries import Q
    from lookalike_assets.settings import get_settings

    table = Table("tenant", "audience", *[f"d{d}" for d in range(1, 11)], "lift d10 vs base",
                  title="conversion rate by similarity decile (10 = most similar)")
    any_rows = False
    with admin_connection() as conn:
        for tid, slug, *_ in Q.list_tenants(conn):
            try:
                with tenant_transaction(conn, tid, BI_ROLE):
                    rows = list(Q.report_deciles(conn))
            except psycopg.errors.UndefinedTable:
                return
            by_aud: dict[str, dict[int, tuple]] = {}
            for aud, decile, _c, _conv, rate, _la, lb, *_ in rows:
                by_aud.setdefault(aud, {})[int(decile)] = (float(rate or 0), lb)
            for aud, dec in by_aud.items():
                any_rows = True
                lift = dec.get(10, (0, None))[1]
                table.add_row(slug, aud, *[f"{dec[d][0]:.0%}" if d in dec else "" for d in range(1, 11)],
                              "" if lift is None else f"{float(lift):.2f}x")
    if any_rows:
        console.print(table)
        console.print(f"HTML reports under {get_settings().home / 'reports'}")


def _tenant(ref: str):
    import uuid as _uuid

    return _uuid.UUID(_resolve_tenants([ref])[0])


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _json_arg(value: str | None, what: str) -> dict | None:
    import json
    from pathlib import Path

    if value is None:
        return None
    text = Path(value[1:]).read_text() if value.startswith("@") else value
    try:
        out = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"{what} is not valid JSON: {exc}")
    if not isinstance(out, dict):
        _fail(f"{what} must be a JSON object")
    return out


@tenants_app.command("create")
def tenants_create(slug: Annotated[str, typer.Argument(help="Short name: lower-case letters, digits, dashes.")],
                   name: Annotated[Optional[str], typer.Option(help="Display name.")] = None) -> None:
    """Onboard a tenant (the change sensor then adds its partition)."""
    _quiet()
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.pipeline.admin import AdminError, create_tenant

    with admin_connection() as conn:
        try:
            tid = create_tenant(conn, slug, name or slug.replace("-", " ").title())
        except AdminError as exc:
            _fail(str(exc))
    console.print(f"tenant {slug}: {tid}")


@app.command("import-leads")
def import_leads_cmd(
    path: Annotated[str, typer.Argument(help="CSV, TSV or Parquet file.")],
    tenant: TenantOpt,
    id_column: Annotated[Optional[str], typer.Option(help="External id column (upsert key).")] = None,
    email_column: Annotated[Optional[str], typer.Option()] = None,
    phone_column: Annotated[Optional[str], typer.Option()] = None,
    first_name_column: Annotated[Optional[str], typer.Option()] = None,
    last_name_column: Annotated[Optional[str], typer.Option()] = None,
    text_columns: Annotated[str, typer.Option(help="Comma-separated free-text columns (embedded).")] = "",
    categorical: Annotated[str, typer.Option(help="Comma-separated categorical columns.")] = "",
    numeric: Annotated[str, typer.Option(help="Comma-separated numeric columns.")] = "",
    exclude_columns: Annotated[str, typer.Option(help="Comma-separated columns not to import.")] = "",
    mapping: Annotated[Optional[str], typer.Option(help="JSON mapping, or @file.json (keys: id, email, phone, "
                                                   "first_name, last_name, text, categorical, numeric, exclude, infer).")] = None,
    infer: Annotated[bool, typer.Option("--infer/--no-infer", help="Import unmapped columns with inferred types.")] = True,
    update_spec: Annotated[bool, typer.Option(help="Replace the tenant's feature spec from this mapping.")] = False,
    rejects: Annotated[Optional[str], typer.Option(help="Write rejected rows (row, id, reason) to this CSV.")] = None,
) -> None:
    """Import leads into a tenant: upsert by external id; report inserted, updated and rejected rows."""
    _quiet()
    import csv

    from pydantic import ValidationError

    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.pipeline.importer import ImportMapping, LeadImportError, import_leads

    def split(v: str) -> list[str]:
        return [c.strip() for c in v.split(",") if c.strip()]

    try:
        m = ImportMapping.model_validate(_json_arg(mapping, "--mapping")) if mapping else ImportMapping(
            id=id_column, email=email_column, phone=phone_column, first_name=first_name_column,
            last_name=last_name_column, text=split(text_columns), categorical=split(categorical),
            numeric=split(numeric), exclude=split(exclude_columns), infer=infer)
    except ValidationError as exc:
        _fail(f"invalid mapping: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
    tid = _tenant(tenant)
    with admin_connection() as conn, Progress(TextColumn("[bold]importing[/bold]"), BarColumn(),
                                              MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("rows", total=None)
        try:
            report = import_leads(conn, tid, path, m, update_spec=update_spec,
                                  progress=lambda done, total: bar.update(task, completed=done, total=total))
        except LeadImportError as exc:
            _fail(str(exc))
    for w in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    console.print(f"{report.rows} rows: {report.inserted} inserted, {report.updated} updated, "
                  f"{report.unchanged} unchanged, {len(report.rejected)} rejected")
    for r in report.rejected[:20]:
        console.print(f"  row {r.row} ({r.external_id or '-'}): {r.reason}")
    if len(report.rejected) > 20:
        console.print(f"  ... {len(report.rejected) - 20} more" + ("" if rejects else " (use --rejects FILE)"))
    if rejects and report.rejected:
        with open(rejects, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["row", "external_id", "reason"])
            w.writerows((r.row, r.external_id or "", r.reason) for r in report.rejected)
    if report.spec_version:
        console.print(f"feature spec {report.spec_version}")


@seeds_app.command("add")
def seeds_add(
    leads: Annotated[list[str], typer.Argument(help="External ids or lead ids; '-' reads them from stdin.")],
    tenant: TenantOpt,
    label: Annotated[str, typer.Option(help="won, meeting, replied, scored or manual.")] = "manual",
    weight: Annotated[Optional[float], typer.Option(help="Overrides the label's weight.")] = None,
) -> None:
    """Mark leads of the tenant as seeds."""
    _quiet()
    import sys

    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.pipeline.admin import AdminError, add_seeds

    refs = [line.strip() for line in sys.stdin] if leads == ["-"] else leads
    with admin_connection() as conn:
        try:
            res = add_seeds(conn, _tenant(tenant), refs, label=label, weight=weight)
        except AdminError as exc:
            _fail(str(exc))
    console.print(f"{len(res.added)} seed(s) added, {len(res.already)} already seeds, {len(res.not_found)} not found")
    for ref in res.not_found[:20]:
        console.print(f"  not a lead of this tenant: {ref}")
    if res.not_found and not res.added:
        raise typer.Exit(1)


@seeds_app.command("list")
def seeds_list(tenant: TenantOpt,
               deleted: Annotated[bool, typer.Option("--deleted", help="Include removed seeds.")] = False) -> None:
    """List the tenant's seeds."""
    _quiet()
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.pipeline.admin import list_seeds

    table = Table("seed_id", "lead", "label", "weight", "source", "created", "removed")
    with admin_connection() as conn:
        for sid, ext, label, w, src, created, removed in list_seeds(conn, _tenant(tenant), deleted):
            table.add_row(str(sid), ext, label, "" if w is None else f"{w:g}", src or "",
                          f"{created:%Y-%m-%d %H:%M}", f"{removed:%Y-%m-%d %H:%M}" if removed else "")
    console.print(table)


@seeds_app.command("remove")
def seeds_remove(
    refs: Annotated[list[str], typer.Argument(help="Seed ids, lead external ids or lead ids.")],
    tenant: TenantOpt,
    label: Annotated[Optional[str], typer.Option(help="Only seeds with this label.")] = None,
) -> None:
    """Remove seeds (soft delete: they stop counting, history stays)."""
    _quiet()
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.pipeline.admin import remove_seeds

    with admin_connection() as conn:
        n = remove_seeds(conn, _tenant(tenant), refs, label)
    console.print(f"{n} seed(s) removed")


@audiences_app.command("create")
def audiences_create(
    name: Annotated[str, typer.Argument(help="Audience name (unique in the tenant).")],
    tenant: TenantOpt,
    labels: Annotated[str, typer.Option(help="Seed labels to use, comma-separated; empty: all seeds.")] = "",
    seed_set: Annotated[Optional[str], typer.Option(help="seed_set as JSON or @file.json (overrides --labels).")] = None,
    rules: Annotated[Optional[str], typer.Option(help="rules as JSON or @file.json (see README: rule language).")] = None,
    pool_size: Annotated[Optional[int], typer.Option(help="Candidate pool size.", min=1)] = None,
    description: Annotated[Optional[str], typer.Option()] = None,
) -> None:
    """Define a draft audience; its seed set and rules are validated now, not at the next run."""
    _quiet()
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.domain.audience import AudienceDefinitionError
    from lookalike_assets.domain.rules import RuleError
    from lookalike_assets.pipeline.admin import AdminError, create_audience

    ss = _json_arg(seed_set, "--seed-set") if seed_set else (
        {"labels": [x.strip() for x in labels.split(",") if x.strip()]} if labels else {})
    with admin_connection() as conn:
        try:
            aid = create_audience(conn, _tenant(tenant), name, seed_set=ss, rules=_json_arg(rules, "--rules"),
                                  pool_size=pool_size, description=description)
        except (AdminError, RuleError, AudienceDefinitionError, ValueError) as exc:
            _fail(str(exc))
    console.print(f"audience {name!r} created as draft: {aid}")


@audiences_app.command("list")
def audiences_list(tenant: TenantOpt) -> None:
    """The tenant's audiences."""
    _quiet()
    from lookalike_assets.db.connect import APP_ROLE, admin_connection, tenant_transaction
    from lookalike_assets.db.queries import Q

    tid = _tenant(tenant)
    table = Table("audience", "status", "size", "updated", "audience_id")
    with admin_connection() as conn, tenant_transaction(conn, tid, APP_ROLE):
        for aid, name, status, size, updated in Q.list_audiences(conn, tenant_id=tid):
            table.add_row(name, status, "" if size is None else str(size), f"{updated:%Y-%m-%d %H:%M}", str(aid))
    console.print(table)


@audiences_app.command("show")
def audiences_show(
    audience: Annotated[str, typer.Argument(help="Audience name or id.")],
    tenant: TenantOpt,
    top: Annotated[int, typer.Option(help="How many top members to list.", min=0)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Size, top members with scores and reasons, the reach curve."""
    _quiet()
    import json

    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.pipeline.admin import AdminError, audience_report

    with admin_connection() as conn:
        try:
            rep = audience_report(conn, _tenant(tenant), audience, top)
        except AdminError as exc:
            _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(rep, default=str, indent=2))
        return
    m = rep["membership"]
    console.print(f"[bold]{rep['name']}[/bold] ({rep['status']}), {rep['members']} members, "
                  f"pool {m.get('pool', '-')}, cap {m.get('cap', '-')}")
    console.print(f"seed set {json.dumps(rep['seed_set'])}; rules {json.dumps(rep['rules'])}")
    if m.get("skipped"):
        console.print(f"[yellow]last refresh skipped:[/yellow] {m['skipped']}")
    if m.get("dropped"):
        console.print("dropped: " + ", ".join(f"{k} {v}" for k, v in m["dropped"].items()))
    for other, o in (m.get("overlap") or {}).items():
        console.print(f"overlap with {other}: {o['shared']} shared (jaccard {o['jaccard']})")
    table = Table("lead", "similarity", "rank", "decile", "why similar", "status", title="top members")
    for t in rep["top"]:
        why = ", ".join(f"{k} {v:+.3f}" for k, v in sorted(t["reasons"].items(), key=lambda kv: -kv[1])[:3])
        table.add_row(t["external_id"], f"{t['similarity']:.4f}",
                      "" if t["rank_score"] is None else f"{t['rank_score']:.4f}", str(t["decile"]), why, t["status"])
    console.print(table)
    if rep.get("ranking"):
        r = rep["ranking"]
        console.print(f"ordered by the learned ranking (champion v{r['version']}, {r['kind']}); influential factors:")
        _print_factors(r["metrics"].get("importances") or {})
    else:
        console.print("ordered by similarity (no ranking model yet)")
    curve = m.get("reach_curve") or []
    if curve:
        peak = max(p["size"] for p in curve) or 1
        console.print("reach curve (audience size at each minimum similarity):")
        for p in curve[:: max(len(curve) // 10, 1)]:
            bar_len = int(40 * p["size"] / peak)
            console.print(f"  >= {p['threshold']:.3f} {'#' * bar_len} {p['size']}")


def _status(audience: str, tenant: str, status: str) -> None:
    _quiet()
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.pipeline.admin import AdminError, set_status

    with admin_connection() as conn:
        try:
            changed = set_status(conn, _tenant(tenant), audience, status)
        except AdminError as exc:
            _fail(str(exc))
    console.print(f"audience {audience!r} {'is now' if changed else 'was already'} {status}")


@audiences_app.command("publish")
def audiences_publish(audience: Annotated[str, typer.Argument(help="Audience name or id.")], tenant: TenantOpt) -> None:
    """Publish: its members are exported at the next refresh."""
    _status(audience, tenant, "published")


@audiences_app.command("retire")
def audiences_retire(audience: Annotated[str, typer.Argument(help="Audience name or id.")], tenant: TenantOpt) -> None:
    """Retire: no more refreshes or exports; members and history are kept."""
    _status(audience, tenant, "retired")


@conversions_app.command("ingest")
def conversions_ingest(
    files: Annotated[list[str], typer.Argument(help="CSV or JSON-lines files with a tenant column (slug or id).")],
    move_to: Annotated[Optional[str], typer.Option(help="Move each file here when loaded.")] = None,
) -> None:
    """Load conversion files now (the landing-folder sensor does the same for dropped files)."""
    _quiet()
    from pathlib import Path

    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.defs.feedback.assets import tenant_directory
    from lookalike_assets.domain.conversions import ConversionFileError
    from lookalike_assets.pipeline.conversions import ingest_file

    with admin_connection() as conn:
        tenants = tenant_directory(conn)
        for f in files:
            try:
                res = ingest_file(conn, f, tenants, done_dir=Path(move_to) if move_to else None)
            except (ConversionFileError, FileNotFoundError) as exc:
                _fail(str(exc))
            r = res.report
            console.print(f"{res.file}: {r.received} events, {r.inserted} new, {r.duplicates} duplicates, "
                          f"{len(r.quarantined)} quarantined, {res.unknown_tenant_rows} with an unknown tenant; "
                          f"days {', '.join(sorted(d.isoformat() for d in r.days)) or '-'}")
            for eid, reason in r.quarantined[:10]:
                console.print(f"  quarantined {eid or '-'}: {reason}")


@conversions_app.command("simulate")
def conversions_simulate(
    tenant: Annotated[Optional[list[str]], typer.Option("--tenant", "-t", help="Demo tenant(s); default all.")] = None,
    days: Annotated[int, typer.Option(help="Spread events over this many past days.", min=1, max=365)] = 30,
    seed: Annotated[int, typer.Option()] = 7,
    facts: Annotated[bool, typer.Option("--facts/--no-facts", help="Then rebuild those days' facts.")] = True,
) -> None:
    """Simulate outcomes for demo candidates from the generator's hidden propensity."""
    _quiet()
    _simulate(_resolve_tenants(tenant), days, seed, facts)


def _simulate(tenant_ids: list[str], days: int, seed: int, facts: bool) -> bool:
    import uuid as _uuid

    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.orchestration import materialize_conversion_facts
    from lookalike_assets.pipeline.conversions import simulate_demo_conversions

    affected = set()
    with admin_connection() as conn:
        for tid in tenant_ids:
            rep = simulate_demo_conversions(conn, _uuid.UUID(tid), seed=seed, days=days)
            affected |= rep.days
            console.print(f"  conversions for {tid}: {rep.inserted} new events ({rep.duplicates} already there)")
    if facts and affected:
        o = materialize_conversion_facts(affected)
        console.print(f"  conversion facts: {'[green]ok[/green]' if o.success else '[red]failed[/red]: ' + str(o.error)}"
                      f" for {o.tenant_id} in {o.seconds:.1f}s (run {o.run_id[:8]})")
        return o.success
    return True


@app.command()
def report(
    tenant: Annotated[Optional[list[str]], typer.Option("--tenant", "-t", help="Default: every tenant.")] = None,
    out: Annotated[Optional[str], typer.Option(help="Folder; default <LOOKALIKE_HOME>/reports.")] = None,
) -> None:
    """Write each tenant's HTML performance report (decile lift and reach charts) from the marts."""
    _quiet()
    from pathlib import Path

    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.db.queries import Q
    from lookalike_assets.reporting.report import build_report, write_report
    from lookalike_assets.settings import get_settings

    folder = Path(out) if out else get_settings().home / "reports"
    wanted = set(_resolve_tenants(tenant))
    with admin_connection() as conn:
        for tid, slug, name, *_ in Q.list_tenants(conn):
            if tid in wanted:
                rep = build_report(conn, tid, name)
                path = write_report(rep, folder, slug)
                lifts = ", ".join(f"{a}: {v:.2f}x" for a, v in rep.top_decile_lift().items() if v is not None)
                console.print(f"{slug}: {path}" + (f" (top-decile lift vs base {lifts})" if lifts else ""))


@tenants_app.command("configure")
def tenants_configure(
    tenant: TenantOpt,
    exclude_from_ranking: Annotated[Optional[str], typer.Option(
        help="Comma-separated lead columns the ranking model must never use (sensitive attributes); '' clears.")] = None,
) -> None:
    """Per-tenant settings (admin)."""
    _quiet()
    import json

    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.db.queries import Q

    tid = _tenant(tenant)
    with admin_connection() as conn:
        if exclude_from_ranking is not None:
            cols = sorted({c.strip() for c in exclude_from_ranking.split(",") if c.strip()})
            with conn.transaction():
                Q.set_tenant_ranking_settings(conn, tenant_id=tid, ranking=json.dumps({"exclude_features": cols}))
            console.print(f"ranking excludes: {', '.join(cols) or 'nothing'} (applies at the next training)")


@ranking_app.command("show")
def ranking_show(tenant: TenantOpt, history: Annotated[int, typer.Option(help="Models to list.", min=1)] = 10) -> None:
    """The champion model, its metrics and influential factors, and the latest challengers."""
    _quiet()
    from lookalike_assets.db.connect import APP_ROLE, admin_connection, tenant_transaction
    from lookalike_assets.db.queries import Q

    tid = _tenant(tenant)
    table = Table("version", "kind", "status", "holdout AUC", "holdout lift@10", "champion on same holdout",
                  "trained", title="ranking models")
    champion = None
    with admin_connection() as conn, tenant_transaction(conn, tid, APP_ROLE):
        for version, kind, status, metrics, trained, _promoted in Q.model_history(conn, tenant_id=tid, n=history):
            h = metrics.get("holdout") or {}
            c = metrics.get("champion_on_same_holdout") or {}
            table.add_row(str(version), kind, status, f"{h.get('auc', '-')}", f"{h.get('lift_at_10', '-')}",
                          f"AUC {c['auc']}" if c else "-", f"{trained:%Y-%m-%d %H:%M}")
            if status == "champion":
                champion = (version, metrics)
    console.print(table)
    if champion is None:
        console.print("no champion: audiences order by similarity")
        return
    version, metrics = champion
    console.print(f"champion v{version}; excluded features: {', '.join(metrics.get('excluded_features') or []) or 'none'}")
    _print_factors(metrics.get("importances") or {})


def _print_factors(importances: dict, top: int = 10) -> None:
    t = Table("influential factor", "share of gain")
    for name, share in list(importances.items())[:top]:
        t.add_row(name, f"{share:.1%}")
    console.print(t)


@app.command()
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
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line: similarity, ranked, "
                                                        "ranked_feedback (lift_at_10, auc), rows, base_rate.")] = False,
) -> None:
    """Measure lift on any labelled table: similarity vs learned ranking vs ranking after feedback."""
    _quiet()
    import json

    from lookalike_assets.db import migrate
    from lookalike_assets.db.connect import admin_connection, database_url
    from lookalike_assets.pipeline.backtest import BacktestConfig, BacktestError, run_backtest
    from lookalike_assets.pipeline.importer import LeadImportError

    def split(v: str) -> list[str]:
        return [c.strip() for c in v.split(",") if c.strip()]

    cfg = BacktestConfig(csv=csv, label_column=label_column, positive_value=positive_value, id_column=id_column,
                         exclude_columns=split(exclude_columns), text_columns=split(text_columns), seeds=seeds,
                         trials=trials, seed=seed, limit=limit)
    url = database_url()
    migrate.upgrade(url)
    out = console if not as_json else Console(stderr=True, width=150)
    with admin_connection(url) as conn, out.status("backtest...") as status:
        try:
            res = run_backtest(conn, cfg, progress=lambda m: (status.update(m), out.print(f"  {m}")))
        except (BacktestError, LeadImportError) as exc:
            _fail(str(exc))
    summary = res.summary()
    table = Table("way", "lift@10 (mean)", "± std", "AUC (mean)", "± std",
                  title=f"{res.rows} rows, base rate {res.base_rate:.2%}, {cfg.seeds} seeds, {cfg.trials} trial(s)")
    for way in ("similarity", "ranked", "ranked_feedback"):
        m = summary[way]
        table.add_row(way, f"{m['lift_at_10']:.3f}", f"{m['lift_at_10_std']:.3f}", f"{m['auc']:.3f}", f"{m['auc_std']:.3f}")
    out.print(table)
    out.print(f"{res.seconds:.0f}s; the temporary tenant was deleted")
    if as_json:
        contract = {way: {"lift_at_10": summary[way]["lift_at_10"], "auc": summary[way]["auc"]}
                    for way in ("similarity", "ranked", "ranked_feedback")}
        contract.update(rows=summary["rows"], base_rate=summary["base_rate"])
        typer.echo(json.dumps(contract))


@app.command()
def summary() -> None:
    """Tenants, leads, embedded leads and candidates per audience."""
    _quiet()
    print_summary()


@app.command()
def demo(
    leads: Annotated[int, typer.Option(help="Leads per tenant (1k to 1M).", min=10, max=1_000_000)] = 1500,
    tenants: Annotated[int, typer.Option(help="Number of demo tenants.", min=1, max=4)] = 3,
    seed: Annotated[int, typer.Option(help="Random seed of the generator.")] = 7,
    pool_size: Annotated[int, typer.Option(help="Candidate pool size of the demo audiences.", min=1)] = 500,
    materialize_all: Annotated[bool, typer.Option("--materialize/--no-materialize",
                                                  help="Materialize every asset after loading.")] = True,
) -> None:
    """Start the database, load the demo tenants, materialize everything, print a summary."""
    _quiet()
    from lookalike_assets.db import migrate
    from lookalike_assets.db.connect import admin_connection, database_url
    from lookalike_assets.pipeline.demo import load_demo

    t = time.perf_counter()
    url = database_url()
    migrate.upgrade(url)
    console.print(f"database ready ({_redact(url)})")
    with admin_connection(url) as conn:
        loaded = load_demo(conn, leads_per_tenant=leads, tenants=tenants, seed=seed, pool_size=pool_size)
    for d in loaded:
        console.print(f"  {d.slug}: {d.leads} leads ({d.inserted} new, {d.updated} changed), {d.seeds} seeds, "
                      f"{d.audiences} audiences")
    ok = True
    if materialize_all:
        ids = [str(d.tenant_id) for d in loaded]
        ok = _materialize(ids)
        console.print("simulating conversions from the hidden propensity:")
        ok = _simulate(ids, 30, seed, True) and ok
        ok = _build_marts() and ok
    print_summary(time.perf_counter() - t)
    if not ok:
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    app()
