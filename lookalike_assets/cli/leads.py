"""`lookalike leads`: import leads into a tenant, and delete them."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lookalike_assets.cli.common import TenantOpt, console, fail, json_arg, resolve_tenants, split_list
from lookalike_assets.domain.csvfiles import SafeWriter

app = typer.Typer(help="Leads: import (upsert by external id), delete.", no_args_is_help=True)


def print_plan(report) -> None:
    table = Table("file column", "imported as", "feature", "why", title="column mapping")
    for p in report.plan:
        what = {"id": "id (upsert key)", "ignored": "not imported", "identifier": "not imported (identifier)"}.get(
            p.role, f"{p.target} ({'personal data' if p.role == 'personal' else p.role})")
        if p.role == "field":
            what = f"lead field {p.target}"
        elif p.role in ("text", "categorical", "numeric", "date"):
            what = f"attribute {p.target} ({p.role})"
        table.add_row(p.column, what, p.kind or "-" if p.is_feature else "no", p.reason)
    console.print(table)
    spec = report.spec
    if spec is None:
        console.print("feature spec: none (no feature columns)")
        return
    console.print(f"feature spec {spec.version}: text embedded from {', '.join(spec.text_columns) or '(none)'}; "
                  "tabular blocks " + "; ".join(f"{b.name}: {', '.join(f'{c.name} ({c.kind})' for c in b.columns)}"
                                                for b in spec.blocks))


def write_rejects(report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = SafeWriter(f)
        w.writerow(["row", "external_id", "reason"])
        w.writerows((r.row, r.external_id or "", r.reason) for r in report.rejected)


@app.command("import")
def import_leads_cmd(
    path: Annotated[str, typer.Argument(help="CSV, TSV or Parquet file.")],
    tenant_ref: TenantOpt,
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
                                                   "first_name, last_name, fields, text, categorical, numeric, "
                                                   "exclude, infer, columns: column -> its meaning as "
                                                   "`lookalike tenants columns` sets it).")] = None,
    infer: Annotated[bool, typer.Option("--infer/--no-infer", help="Import unmapped columns with inferred roles.")] = True,
    update_spec: Annotated[bool, typer.Option(help="Rebuild the tenant's feature spec from this file.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the mapping, the feature spec and the row checks; "
                                          "write nothing.")] = False,
    encoding: Annotated[Optional[str], typer.Option(help="The file's text encoding (default UTF-8).")] = None,
    rejects: Annotated[Optional[str], typer.Option(help="Where to write rejected rows (row, id, reason); default "
                                                   "<LOOKALIKE_HOME>/rejects/.")] = None,
) -> None:
    """Import leads into a tenant: upsert by external id; report inserted, updated and rejected rows."""
    from pydantic import ValidationError

    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.pipeline.importer import ImportMapping, LeadImportError, SpecMismatchError, import_leads
    from lookalike_assets.settings import get_settings

    try:
        m = ImportMapping.model_validate(json_arg(mapping, "--mapping")) if mapping else ImportMapping(
            id=id_column, email=email_column, phone=phone_column, first_name=first_name_column,
            last_name=last_name_column, text=split_list(text_columns), categorical=split_list(categorical),
            numeric=split_list(numeric), exclude=split_list(exclude_columns), infer=infer)
    except ValidationError as exc:
        fail(f"invalid mapping: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
    (tid, slug), = resolve_tenants([tenant_ref])
    with service_connection(APP_ROLE) as conn, Progress(TextColumn("[bold]reading[/bold]"), BarColumn(),
                                              TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                                              console=console, transient=True) as bar:
        task = bar.add_task("rows", total=None)
        try:
            report = import_leads(conn, tid, path, m, update_spec=update_spec, dry_run=dry_run, encoding=encoding,
                                  progress=lambda done, total: bar.update(task, completed=done, total=total))
        except SpecMismatchError as exc:
            fail(str(exc))
        except LeadImportError as exc:
            fail(f"nothing was imported: {exc}")
    if dry_run:
        print_plan(report)
    for w in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    if dry_run:
        console.print(f"dry run, nothing was written: {report.rows} rows: {report.inserted} to insert, "
                      f"{report.updated} to update, {report.unchanged} unchanged, {len(report.rejected)} rejected")
    else:
        console.print(f"{report.rows} rows into {slug}: {report.inserted} inserted, {report.updated} updated, "
                      f"{report.unchanged} unchanged, {len(report.rejected)} rejected")
    for r in report.rejected[:10]:
        console.print(f"  row {r.row} ({r.external_id or '-'}): {r.reason}")
    if report.rejected and dry_run and not rejects:
        # a dry run writes nothing anywhere unless asked to: the rejects file too
        more = f"{len(report.rejected) - 10} more; " if len(report.rejected) > 10 else ""
        console.print(f"  ({more}--rejects FILE writes every rejected row with its reason)")
    elif report.rejected:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        out = Path(rejects) if rejects else get_settings().home / "rejects" / f"{slug}-{Path(path).stem}-{stamp}.csv"
        write_rejects(report, out)
        more = f"{len(report.rejected) - 10} more, " if len(report.rejected) > 10 else ""
        console.print(f"  ({more}every rejected row with its reason: {out})")
    if report.spec_version and not dry_run:
        console.print(f"feature spec {report.spec_version}")
    if (report.rows and not report.imported) or (report.rejected and not dry_run):
        raise typer.Exit(1)  # part of the file could not be imported (its good rows were)


def ids_from_file(path: str, id_column: str | None) -> list[str]:
    """The external ids in a file, found as the importer finds them (the id column, or row numbers)."""
    from lookalike_assets.domain.columns import plan_file
    from lookalike_assets.pipeline.importer import ImportMapping, LeadImportError, RowConverter, read_table

    try:
        table = read_table(path)
        sample = table.sample(2000)
        plan = plan_file(table.columns, sample, forced=ImportMapping(id=id_column).forced(table.columns))
    except LeadImportError as exc:
        fail(str(exc))
    import hashlib

    conv = RowConverter(plan, sample, "row:" + hashlib.sha256(Path(path).name.encode()).hexdigest()[:8])
    return [e for r in table.rows() if r.problem is None and (e := conv.external_id(r.values, r.number))]


@app.command("delete")
def leads_delete(
    tenant_ref: TenantOpt,
    leads: Annotated[Optional[list[str]], typer.Argument(help="External ids or lead ids; '-' reads them from stdin.")] = None,
    file: Annotated[Optional[str], typer.Option("--file", help="Delete the leads of this file (e.g. a bad import): its "
                                                "id column, or its row numbers when it had none.")] = None,
    id_column: Annotated[Optional[str], typer.Option(help="The id column of --file (default: inferred).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete leads with everything of them (features, embedding, seeds, candidates, memberships, conversions)."""
    import sys

    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.pipeline.admin import AdminError, delete_leads

    refs = [line.strip() for line in sys.stdin] if leads == ["-"] else list(leads or [])
    if file:
        refs += ids_from_file(file, id_column)
    if not refs:
        fail("no leads given: name them, give '-' to read them from stdin, or --file")
    (tid, slug), = resolve_tenants([tenant_ref])
    if not yes and not typer.confirm(f"delete up to {len(refs)} lead(s) of {slug} with their history?"):
        raise typer.Exit(1)
    with service_connection(APP_ROLE) as conn:
        try:
            res = delete_leads(conn, tid, refs)
        except AdminError as exc:
            fail(str(exc))
    console.print(f"{len(res.deleted)} lead(s) of {slug} deleted, {len(res.not_found)} not found")
    for ref in res.not_found[:10]:
        console.print(f"  not a lead of this tenant: {ref}")
    if res.not_found and not res.deleted:
        raise typer.Exit(1)


@app.command("erase")
def leads_erase(
    tenant_ref: TenantOpt,
    lead: Annotated[Optional[list[str]], typer.Option("--lead", help="External id or lead id; repeatable.")] = None,
    email: Annotated[Optional[list[str]], typer.Option("--email", help="Email address; repeatable.")] = None,
    file: Annotated[Optional[str], typer.Option("--file", help="A file of leads (its id column) to erase.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase people (GDPR/CCPA): the leads with everything of them, their rows in the marts and in export files,
    and their emails on the suppression list (as SHA-256), so that no re-import brings them back into audiences.
    Logs an audit row with counts only."""
    from lookalike_assets.db.admin import erase_from_marts
    from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, admin_connection, service_connection
    from lookalike_assets.domain.exports import LocalFolderDestination
    from lookalike_assets.orchestration import materialize_marts
    from lookalike_assets.pipeline.admin import AdminError
    from lookalike_assets.pipeline.erasure import erase, record_file_scrub, scrub_files
    from lookalike_assets.pipeline.exports import run_exports
    from lookalike_assets.settings import get_settings

    refs = list(lead or []) + (ids_from_file(file, None) if file else [])
    emails = list(email or [])
    if not refs and not emails:
        fail("no one to erase: give --lead, --email or --file")
    (tid, slug), = resolve_tenants([tenant_ref])
    if not yes and not typer.confirm(f"erase {len(refs) + len(emails)} person(s) from {slug}, everywhere?"):
        raise typer.Exit(1)
    with service_connection(APP_ROLE) as conn:
        try:
            res = erase(conn, tid, refs=refs, emails=emails)
        except AdminError as exc:
            fail(str(exc))
    console.print(f"erased {res.leads} lead(s) of {slug} (" + ", ".join(f"{v} {k}" for k, v in res.counts.items())
                  + f"); {res.suppressed} email(s) suppressed; audit {res.erasure_id}")
    for ref in res.not_found[:10]:
        console.print(f"  not a lead of this tenant: {ref}")
    ok = True
    if res.lead_ids:
        with admin_connection() as conn:
            rows = erase_from_marts(conn, tid, res.lead_ids)
        marts = materialize_marts()
        ok = marts.success
        rebuilt = "[green]ok[/green]" if marts.success else f"[red]failed[/red]: {marts.error}"
        console.print(f"marts: {rows} row(s) deleted, rebuilt: {rebuilt}")
        settings = get_settings()
        with service_connection(PIPELINE_ROLE) as conn:
            exports = run_exports(conn, tid, LocalFolderDestination(settings.exports_dir))
        failed = [r for r in exports if r.status == "failed"]
        ok = ok and not failed
        scrub = scrub_files([settings.exports_dir / slug, settings.uploads_dir / slug,
                             *sorted((settings.home / "rejects").glob(f"{slug}-*"))], res.markers)
        with service_connection(APP_ROLE) as conn:
            record_file_scrub(conn, tid, res.erasure_id, scrub)
        console.print(f"export files: {sum(r.status == 'succeeded' for r in exports)} exported again without them; "
                      f"{len(scrub.rewritten)} file(s) rewritten without them ({scrub.rows_removed} row(s))"
                      + (f"; [red]{len(failed)} export(s) failed[/red]: run `lookalike leads erase` again" if failed else ""))
        # the platforms: the erased people leave every synced audience now (their keys are still remembered)
        from lookalike_assets.defs.resources import current_config
        from lookalike_assets.pipeline.destinations import sync_tenant

        cfg = current_config()
        with service_connection(PIPELINE_ROLE) as conn:
            syncs = sync_tenant(conn, tid, settings.secret_value(), attempts=cfg.destination_attempts,
                                backoff=cfg.destination_backoff_seconds, pause_after=cfg.destination_pause_after,
                                batch_size=cfg.destination_batch_size)
        sync_failed = [r for r in syncs if r.status == "failed"]
        ok = ok and not sync_failed
        if syncs:
            console.print(f"destinations: {sum(r.removed for r in syncs)} removal(s) sent"
                          + (f"; [red]{len(sync_failed)} sync(s) failed[/red] ("
                             + "; ".join(f"{r.destination}: {r.error}" for r in sync_failed[:3])
                             + "): the next refresh sends what is left" if sync_failed else ""))
    if not ok:
        raise typer.Exit(1)
