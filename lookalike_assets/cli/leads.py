"""`lookalike leads`: import leads into a tenant."""

from __future__ import annotations

import csv
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lookalike_assets.cli.common import TenantOpt, console, fail, json_arg, split_list, tenant

app = typer.Typer(help="Leads: import (upsert by external id).", no_args_is_help=True)


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
                                                   "first_name, last_name, text, categorical, numeric, exclude, infer).")] = None,
    infer: Annotated[bool, typer.Option("--infer/--no-infer", help="Import unmapped columns with inferred types.")] = True,
    update_spec: Annotated[bool, typer.Option(help="Replace the tenant's feature spec from this mapping.")] = False,
    rejects: Annotated[Optional[str], typer.Option(help="Write rejected rows (row, id, reason) to this CSV.")] = None,
) -> None:
    """Import leads into a tenant: upsert by external id; report inserted, updated and rejected rows."""
    from pydantic import ValidationError

    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.pipeline.importer import ImportMapping, LeadImportError, import_leads

    try:
        m = ImportMapping.model_validate(json_arg(mapping, "--mapping")) if mapping else ImportMapping(
            id=id_column, email=email_column, phone=phone_column, first_name=first_name_column,
            last_name=last_name_column, text=split_list(text_columns), categorical=split_list(categorical),
            numeric=split_list(numeric), exclude=split_list(exclude_columns), infer=infer)
    except ValidationError as exc:
        fail(f"invalid mapping: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
    tid = tenant(tenant_ref)
    with admin_connection() as conn, Progress(TextColumn("[bold]importing[/bold]"), BarColumn(),
                                              MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("rows", total=None)
        try:
            report = import_leads(conn, tid, path, m, update_spec=update_spec,
                                  progress=lambda done, total: bar.update(task, completed=done, total=total))
        except LeadImportError as exc:
            fail(str(exc))
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
