"""`lookalike audiences`: define, inspect, publish, retire."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Optional

import typer
from rich.table import Table

from lookalike_assets.cli.common import (
    DescriptionOpt,
    PoolByOpt,
    PoolSizeOpt,
    SeedSetOpt,
    TenantOpt,
    console,
    fail,
    json_arg,
    resolve_tenants,
    split_list,
    tenant,
)

app = typer.Typer(help="Audiences: define, inspect, publish, retire.", no_args_is_help=True)


@app.command("create")
def audiences_create(
    name: Annotated[str, typer.Argument(help="Audience name (unique in the tenant).")],
    tenant_ref: TenantOpt,
    labels: Annotated[str, typer.Option(help="Seed labels to use, comma-separated; empty: all seeds.")] = "",
    seed_set: SeedSetOpt = None,
    rules: Annotated[Optional[str], typer.Option(help="rules as JSON or @file.json (see README: rule language).")] = None,
    pool_size: PoolSizeOpt = None,
    pool_by: PoolByOpt = None,
    description: DescriptionOpt = None,
) -> None:
    """Define a draft audience; its seed set and rules are validated now, not at the next run."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.domain.audience import AudienceDefinitionError
    from lookalike_assets.domain.rules import RuleError
    from lookalike_assets.pipeline.admin import AdminError, create_audience

    ss = json_arg(seed_set, "--seed-set") if seed_set else ({"labels": split_list(labels)} if labels else {})
    with service_connection(APP_ROLE) as conn:
        try:
            aid = create_audience(conn, tenant(tenant_ref), name, seed_set=ss, rules=json_arg(rules, "--rules"),
                                  pool_size=pool_size, description=description, pool_by=pool_by)
        except (AdminError, RuleError, AudienceDefinitionError, ValueError) as exc:
            fail(str(exc))
    console.print(f"audience {name!r} created as draft: {aid}")


@app.command("draft")
def audiences_draft(
    description: Annotated[str, typer.Argument(help="The audience in words, e.g. \"CFOs at fintech companies in "
                                                     "Germany with more than 200 employees who opened our emails\".")],
    tenant_ref: TenantOpt,
    name: Annotated[Optional[str], typer.Option(help="Name of the draft (default: the description).")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Create the draft audience (otherwise only show the proposal).")
                   ] = False,
    partial: Annotated[bool, typer.Option("--partial", help="With --yes: create it even if some words were not "
                                                            "understood.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the proposal as JSON.")] = False,
) -> None:
    """Turn a description into proposed rules and a seed set, with the reason for each part; --yes creates it."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.domain.audience import AudienceDefinitionError
    from lookalike_assets.domain.describe import DescriptionError, NothingUnderstood
    from lookalike_assets.domain.encoders import EncoderError
    from lookalike_assets.domain.rules import RuleError
    from lookalike_assets.pipeline.admin import AdminError, create_audience
    from lookalike_assets.pipeline.describe import describe_audience, description_encoder

    tid = tenant(tenant_ref)
    try:
        encoder = description_encoder()
    except EncoderError as exc:
        fail(f"the text encoder could not be loaded: {exc}", 1)
    with service_connection(APP_ROLE) as conn:
        try:
            draft = describe_audience(conn, tid, description, encoder)
        except NothingUnderstood as exc:
            # a proposal of nothing: said plainly; only creating it is a failure
            if as_json:
                typer.echo(json.dumps({"description": description, "rules": None, "not_understood":
                                       exc.not_understood, "notes": [str(exc)]}, indent=2))
            else:
                console.print(f"nothing understood: {exc}. Name a column or a value your leads have "
                              "(`lookalike tenants columns` lists the columns and the words they go by).")
            if yes:
                fail("not created: nothing in the description was understood", 1)
            return
        except (DescriptionError, RuleError) as exc:
            fail(str(exc))
        if as_json:
            typer.echo(json.dumps(draft.as_dict(), default=str, indent=2))
        else:
            print_draft(draft)
        if not yes:
            if not as_json:
                console.print("nothing created: run again with --yes to create this draft audience")
            return
        if draft.not_understood and not partial:
            fail("not created: some words were not understood ("
                 + ", ".join(map(repr, draft.not_understood)) + "); reword them, or add --partial", 1)
        audience_name = (name or description).strip()[:200]
        try:
            aid = create_audience(conn, tid, audience_name, seed_set=draft.seed_set, rules=draft.rules,
                                  description=description)
        except (AdminError, RuleError, AudienceDefinitionError, ValueError) as exc:
            fail(str(exc))
    console.print(f"audience {audience_name!r} created as draft: {aid}")


def print_draft(draft) -> None:
    table = Table("words", "field", "operator", "value", "matched by", "confidence", title="understood")
    for p in draft.parts:
        value = p.value if not isinstance(p.value, dict) else f"{p.value.get('min')} .. {p.value.get('max')}"
        table.add_row(p.phrase, p.field, p.op, str(value), p.how, f"{p.confidence:.2f}")
    console.print(table)
    for phrase in draft.not_understood:
        console.print(f"[yellow]not understood:[/yellow] {phrase!r} (matches no field or value of this tenant "
                      "well enough to guess)")
    for note in draft.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    console.print(f"seed set {json.dumps(draft.seed_set)}: {draft.seed_reason}")
    console.print("rules " + json.dumps(draft.rules, indent=2))


@app.command("list")
def audiences_list(tenant_ref: TenantOpt) -> None:
    """The tenant's audiences."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection, tenant_transaction
    from lookalike_assets.db.queries import Q

    tid = tenant(tenant_ref)
    table = Table("audience", "status", "size", "updated", "audience_id")
    with service_connection(APP_ROLE) as conn, tenant_transaction(conn, tid, APP_ROLE):
        for aid, name, status, size, updated in Q.admin.list_audiences(conn, tenant_id=tid):
            table.add_row(name, status, "" if size is None else str(size), f"{updated:%Y-%m-%d %H:%M}", str(aid))
    console.print(table)


@app.command("show")
def audiences_show(
    audience: Annotated[str, typer.Argument(help="Audience name or id.")],
    tenant_ref: TenantOpt,
    top: Annotated[int, typer.Option(help="How many top members to list.", min=0)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Size, top members with scores and reasons, the reach curve."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.domain.ranking import readable
    from lookalike_assets.pipeline.admin import AdminError, audience_report

    with service_connection(APP_ROLE) as conn:
        try:
            rep = audience_report(conn, tenant(tenant_ref), audience, top)
        except AdminError as exc:
            fail(str(exc))
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
    table = Table("lead", "place in the audience", "similarity to the seeds", "decile (10 = best)", "why similar",
                  "status", title="top members")
    for t in rep["top"]:
        why = ", ".join(f"{readable(k)} {v:+.3f}" for k, v in sorted(t["reasons"].items(), key=lambda kv: -kv[1])[:3])
        table.add_row(t["external_id"], f"{t['place']} of {rep['members']} (top {t['top_percent']:g} %)",
                      f"{t['similarity']:.3f}", str(t["decile"]), why, t["status"])
    console.print(table)
    if rep.get("ranking"):
        r = rep["ranking"]
        console.print(f"ordered by the learned ranking (champion v{r['version']}, {r['kind']}); influential factors:")
        print_factors(r["metrics"].get("importances") or {})
    else:
        console.print("ordered by similarity (no ranking model yet)")
    print_segments(rep)
    print_holdout(rep)
    print_recommendation(rep)
    print_syncs(rep)
    print_exports(rep)
    print_reach(rep)


def print_exports(rep: dict) -> None:
    """The latest file of each format, and what the platform's columns could not take (Google without a zip)."""
    for e in rep.get("exports") or []:
        when = f"{e['finished_at']:%Y-%m-%d %H:%M}" if e.get("finished_at") else "not finished"
        console.print(f"last {e['format']} export: {e['status']}, {e['row_count'] or 0} rows ({when})"
                      + (f"; {e['error']}" if e.get("error") else ""))
        if e.get("note"):
            console.print(f"  [yellow]note:[/yellow] {e['note']}")


def print_reach(rep: dict) -> None:
    """Reach as people read it: the best N candidates that pass the rules (and their share), with the conversion
    rate the marts measured for the best N, and the lowest score among them named by what it is."""
    m = rep["membership"]
    curve = [p for p in (m.get("reach_curve") or []) if p["size"]]
    if not curve:
        return
    rates = sorted((int(r["audience_size"]), r["conversion_rate"]) for r in rep.get("reach") or []
                   if r.get("conversion_rate") is not None and r.get("audience_size"))
    scored_by = m.get("reach_scored_by") or "score"
    table = Table("the best N", "share of the candidates", "expected conversion rate" + ("" if rates else
                  " (after conversions and `lookalike marts`)"), f"lowest {scored_by} among them",
                  title="reach: how many leads, and how good")
    peak = max(p["size"] for p in curve)
    for p in curve[:: max(len(curve) // 10, 1)]:
        share = p.get("share", p["size"] / peak)
        # the measured rate of the nearest size the marts hold at or below this one
        rate = next((r for n, r in reversed(rates) if n <= p["size"]), None)
        table.add_row(f"{p['size']:,}", f"{share:.0%}", "—" if rate is None else f"{float(rate):.1%}",
                      f"{p['threshold']:.3f}")
    console.print(table)


def print_segments(rep: dict) -> None:
    seg = rep.get("segmentation") or {}
    if rep.get("segments"):
        table = Table("#", "segment", "size", "share", "mean similarity", "traits (share, lift vs the audience)",
                      title=f"{len(rep['segments'])} segments (cohesion by k: {seg.get('cohesion', {})})")
        for s in rep["segments"]:
            traits = ", ".join(
                f"{t['field'].removeprefix('attributes.')}={t['value']} ({t['share']:.0%}, ×{t['lift']:.2f})"
                if "share" in t else f"{t['value']} (median {t['median']:g} vs {t['audience_median']:g})"
                for t in s["traits"][:3])
            table.add_row(str(s["segment_no"]), s["name"], str(s["size"]), f"{s['share']:.0%}",
                          f"{s['mean_similarity']:.3f}", traits)
        console.print(table)
    elif seg.get("skipped"):
        console.print(f"no segments: {seg['skipped']}")


def print_holdout(rep: dict) -> None:
    from lookalike_assets.pipeline.incrementality import describe_lift

    h = rep.get("holdout") or {}
    if not h.get("percent"):
        return
    console.print(f"holdout {h['percent']:g} %: {h['treatment']} in treatment (exported), {h['control']} in control "
                  "(never exported)")
    lift = rep.get("incrementality")
    if lift:
        console.print(f"incrementality (as of the marts' last build): {describe_lift(lift)}")
    else:
        console.print("incrementality: no figures yet (conversions are attributed, then `lookalike marts`)")


def print_syncs(rep: dict) -> None:
    """The audience's last syncs to its destinations: what was sent and what the platform reported."""
    if not rep.get("syncs"):
        return
    table = Table("when", "destination", "status", "added", "removed", "platform received", "invalid",
                  "platform's audience", "note", title="destination syncs")
    for s in rep["syncs"]:
        table.add_row(f"{s['started_at']:%Y-%m-%d %H:%M}", f"{s['destination']} ({s['platform']})", s["status"],
                      str(s["added"]), str(s["removed"]), "—" if s["received"] is None else str(s["received"]),
                      "—" if s["invalid"] is None else str(s["invalid"]), s["external_id"] or "—", s["error"] or "")
    console.print(table)


def print_recommendation(rep: dict) -> None:
    rec = rep.get("recommendation")
    auto = (rep.get("rules") or {}).get("auto_tune")
    if rec and rec.get("max_size"):
        rate = f", conversion rate {rec['conversion_rate']:.1%}" if rec.get("conversion_rate") is not None else ""
        console.print(f"recommended reach: {rec['max_size']} leads (expected {rec['expected_conversions']:g} "
                      f"conversions{rate}): {rec['reason']}" + (" [applied: auto_tune]" if auto else
                                                                 " [set rules.auto_tune to apply it]"))
    elif rec:
        console.print(f"recommendation: {rec['reason']}")
    elif rep.get("recommendation_note"):
        console.print(f"no recommendation: {rep['recommendation_note']}")
    for h in rep.get("tuning_history") or []:
        console.print(f"  tuned {h['changed_at']:%Y-%m-%d %H:%M}: reach {h['before']} -> {h['after']}")


def print_factors(importances: dict, top: int = 10) -> None:
    from lookalike_assets.domain.ranking import factors_in_words

    t = Table("influential factor", "share of gain")
    for name, share in factors_in_words(importances, top):
        t.add_row(name, f"{share:.1%}")
    console.print(t)


def _status(audience: str, tenant_ref: str, status: str) -> None:
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.pipeline.admin import AdminError, set_status

    with service_connection(APP_ROLE) as conn:
        try:
            changed = set_status(conn, tenant(tenant_ref), audience, status)
        except AdminError as exc:
            fail(str(exc))
    console.print(f"audience {audience!r} {'is now' if changed else 'was already'} {status}")


@app.command("publish")
def audiences_publish(audience: Annotated[str, typer.Argument(help="Audience name or id.")],
                      tenant_ref: TenantOpt) -> None:
    """Publish: its members are exported at the next refresh."""
    _status(audience, tenant_ref, "published")


@app.command("retire")
def audiences_retire(audience: Annotated[str, typer.Argument(help="Audience name or id.")],
                     tenant_ref: TenantOpt) -> None:
    """Retire: no more refreshes or exports; members and history are kept."""
    _status(audience, tenant_ref, "retired")


@app.command("edit")
def audiences_edit(
    audience: Annotated[str, typer.Argument(help="Audience name or id.")],
    tenant_ref: TenantOpt,
    name: Annotated[Optional[str], typer.Option(help="A new name.")] = None,
    labels: Annotated[Optional[str], typer.Option(help="Seed labels to use, comma-separated.")] = None,
    seed_set: SeedSetOpt = None,
    rules: Annotated[Optional[str], typer.Option(help="rules as JSON or @file.json: replaces the rules.")] = None,
    pool_size: PoolSizeOpt = None,
    pool_by: PoolByOpt = None,
    description: DescriptionOpt = None,
) -> None:
    """Change an audience's name, seed set, rules, pool size or what chooses its pool; validated now, built at
    the next refresh."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.domain.audience import AudienceDefinitionError
    from lookalike_assets.domain.rules import RuleError
    from lookalike_assets.pipeline.admin import AdminError, edit_audience

    ss = json_arg(seed_set, "--seed-set") if seed_set else ({"labels": split_list(labels)} if labels is not None else None)
    new_rules = json_arg(rules, "--rules") if rules is not None else None
    if all(v is None for v in (name, ss, new_rules, pool_size, pool_by, description)):
        fail("nothing to change: give --name, --labels, --seed-set, --rules, --pool-size, --pool-by or "
             "--description")
    with service_connection(APP_ROLE) as conn:
        try:
            now = edit_audience(conn, tenant(tenant_ref), audience, name=name, seed_set=ss, rules=new_rules,
                                pool_size=pool_size, description=description, pool_by=pool_by)
        except (AdminError, RuleError, AudienceDefinitionError) as exc:
            fail(str(exc))
    console.print(f"audience {now!r} updated (rebuilt at the next refresh)")


@app.command("delete")
def audiences_delete(
    audience: Annotated[str, typer.Argument(help="Audience name or id.")],
    tenant_ref: TenantOpt,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete an audience with its pool, members, export log and attributed facts, and its export files."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.pipeline.admin import AdminError, delete_audience
    from lookalike_assets.settings import get_settings

    (tid, slug), = resolve_tenants([tenant_ref])
    if not yes and not typer.confirm(f"delete audience {audience!r} of {slug} with its members and history?"):
        raise typer.Exit(1)
    with service_connection(APP_ROLE) as conn:
        try:
            _audience_id, name, files = delete_audience(conn, uuid.UUID(tid), audience, get_settings().exports_dir)
        except AdminError as exc:
            fail(str(exc))
    console.print(f"audience {name!r} deleted" + (f", {len(files)} export folder(s) removed" if files else ""))
