"""`lookalike tenants`: onboard, list and configure tenants."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from lookalike_assets.cli.common import TenantOpt, console, fail, resolve_tenants, tenant

app = typer.Typer(help="Tenants.", no_args_is_help=True)


@app.command("list")
def tenants_list() -> None:
    """List tenants with their lead counts; marks temporary tenants a stopped command left behind."""
    from lookalike_assets.db.admin import list_tenants
    from lookalike_assets.db.connect import admin_connection

    table = Table("slug", "name", "tenant_id", "leads", "note")
    with admin_connection() as conn:
        for t in list_tenants(conn):
            note = (f"temporary ({t.settings['temporary']}): left over if no such command runs; "
                    f"`lookalike tenants delete {t.slug}`") if t.settings.get("temporary") else ""
            table.add_row(t.slug, t.name, t.tenant_id, str(t.leads), note)
    console.print(table)


@app.command("create")
def tenants_create(slug: Annotated[str, typer.Argument(help="Short name: lower-case letters, digits, dashes.")],
                   name: Annotated[Optional[str], typer.Option(help="Display name.")] = None) -> None:
    """Onboard a tenant (the change sensor then adds its partition)."""
    from lookalike_assets.db.admin import AdminError, create_tenant
    from lookalike_assets.db.connect import admin_connection

    with admin_connection() as conn:
        try:
            tid = create_tenant(conn, slug, name or slug.replace("-", " ").title())
        except AdminError as exc:
            fail(str(exc))
    console.print(f"tenant {slug}: {tid}")


@app.command("configure")
def tenants_configure(
    tenant_ref: TenantOpt,
    exclude_from_ranking: Annotated[Optional[str], typer.Option(
        help="Comma-separated lead columns the ranking model must never use (sensitive attributes); '' clears.")] = None,
    cost_per_contact: Annotated[Optional[float], typer.Option(
        help="Tuning: what targeting one lead costs (with --value-per-conversion).", min=0)] = None,
    value_per_conversion: Annotated[Optional[float], typer.Option(
        help="Tuning: what one conversion is worth (with --cost-per-contact).", min=0)] = None,
    target_precision: Annotated[Optional[float], typer.Option(
        help="Tuning, instead of costs: the lowest conversion rate worth targeting (0-1].")] = None,
    glossary: Annotated[Optional[str], typer.Option(
        help="The tenant's own abbreviations for audiences in words, e.g. 'mm=Minute Maid, ch=Citrus Hill' "
             "(spelt out in column names, descriptions and values); replaces the previous ones; '' clears.")] = None,
) -> None:
    """Per-tenant settings (admin)."""
    from lookalike_assets.db.admin import set_glossary, set_ranking_settings, set_tuning_settings
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.domain.tuning import TuningError, parse_economics

    tid = tenant(tenant_ref)
    tuning = {k: v for k, v in (("cost_per_contact", cost_per_contact), ("value_per_conversion", value_per_conversion),
                                ("target_precision", target_precision)) if v is not None}
    if tuning:
        try:
            parse_economics(tuning)
        except TuningError as exc:
            fail(str(exc))
    words: dict[str, str] = {}
    for item in (glossary or "").split(","):
        if not item.strip():
            continue
        abbr, sep, spelt = item.partition("=")
        if not sep or not abbr.strip() or not spelt.strip() or len(abbr.split()) != 1:
            fail(f"--glossary: {item.strip()!r} is not ABBREVIATION=words (e.g. 'mm=Minute Maid')", code=2)
        words[abbr.strip().casefold()] = " ".join(spelt.split())
    with admin_connection() as conn:
        if glossary is not None:
            set_glossary(conn, tid, words)
            console.print("glossary: " + (", ".join(f"{k} = {v}" for k, v in words.items()) or "cleared")
                          + " (used by the next description read)")
        if tuning:
            set_tuning_settings(conn, tid, tuning)
            console.print("tuning economics: " + ", ".join(f"{k} {v:g}" for k, v in tuning.items())
                          + " (recommendations from the next marts build; applied to audiences with auto_tune)")
        if exclude_from_ranking is not None:
            cols = sorted({c.strip() for c in exclude_from_ranking.split(",") if c.strip()})
            set_ranking_settings(conn, tid, {"exclude_features": cols})
            console.print(f"ranking excludes: {', '.join(cols) or 'nothing'} (applies at the next training)")


@app.command("delete")
def tenants_delete(
    tenant_ref: Annotated[str, typer.Argument(help="Tenant slug or id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask: delete at once.")] = False,
) -> None:
    """Delete a tenant with all its data, its Dagster partition and its files (exports, report, rejects)."""
    from lookalike_assets.db.admin import delete_tenant
    from lookalike_assets.db.connect import admin_connection
    from lookalike_assets.orchestration import forget_tenant
    from lookalike_assets.pipeline.admin import remove_tenant_files
    from lookalike_assets.settings import get_settings

    (tid, slug), = resolve_tenants([tenant_ref])
    if not yes:
        typed = typer.prompt(f"this deletes tenant {slug} and everything of it; type its slug to confirm")
        if typed.strip() != slug:
            fail("not confirmed: nothing was deleted", code=1)
    with admin_connection() as conn:
        counts = delete_tenant(conn, tid)
    files = remove_tenant_files(get_settings().home, slug)
    partition = forget_tenant(slug)
    console.print(f"tenant {slug} deleted: {counts['leads']} leads, {counts['audiences']} audiences, "
                  f"{len(files)} file(s) or folder(s){', its partition' if partition else ''}")


@app.command("columns")
def tenants_columns(
    tenant_ref: TenantOpt,
    column: Annotated[Optional[str], typer.Argument(help="A column to correct (its name as imported or as a rule "
                                                         "field, e.g. MntWines or attributes.mnt_wines).")] = None,
    label: Annotated[Optional[str], typer.Option(help="What people call it (\"amount spent on wine\").")] = None,
    description: Annotated[Optional[str], typer.Option(help="A sentence saying what it holds.")] = None,
    unit: Annotated[Optional[str], typer.Option(help="count, count per month, currency, currency per month, days, "
                                                     "weeks, months, years, minutes, year (a calendar year), percent, "
                                                     "ratio, flag, yes/no, number.")] = None,
    scale: Annotated[Optional[float], typer.Option(help="What one stored unit is worth in the unit (1000: an "
                                                        "amount in thousands).")] = None,
    synonyms: Annotated[Optional[str], typer.Option(help="Comma-separated words people use for it.")] = None,
    kind: Annotated[Optional[str], typer.Option(help="number, flag, count, yes/no, category, free text.")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Forget the correction: back to what was inferred.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What the tenant's columns mean (readable name, unit, words for them), as audience descriptions read them;
    with a COLUMN and options, correct one."""
    import json

    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.domain.meanings import MeaningError, describe_unit
    from lookalike_assets.pipeline.describe import UnknownColumn, column_meanings, correct_column

    tid = tenant(tenant_ref)
    given = {k: v for k, v in (("label", label), ("description", description), ("unit", unit), ("scale", scale),
                               ("kind", kind)) if v is not None}
    if synonyms is not None:
        given["synonyms"] = [s.strip() for s in synonyms.split(",") if s.strip()]
    with service_connection(APP_ROLE) as conn:
        if column is None:
            meanings = column_meanings(conn, tid)
        else:
            if not given and not reset:
                fail("say what to correct: --label, --description, --unit, --scale, --synonyms, --kind, or --reset")
            try:
                m = correct_column(conn, tid, column, None if reset else given, merge=True)
            except (MeaningError, UnknownColumn) as exc:
                fail(f"{column}: {exc}")
            meanings = {m.field: m}
    if as_json:
        typer.echo(json.dumps([m.as_dict() for m in meanings.values()], indent=2))
        return
    table = Table("column", "read as", "unit", "kind", "words for it", "")
    for m in meanings.values():
        table.add_row(m.field.removeprefix("attributes."), m.label, describe_unit(m), m.kind,
                      ", ".join(m.synonyms), "" if m.inferred else "corrected")
    console.print(table)
