"""Per-tenant performance report: read from the marts as lookalike_bi (what a BI tool sees), charts, HTML.

Rates are over an audience's members (the people it targets); the same over every candidate of its pool is a
second, labelled figure. A report says so when the marts have not been built or no conversion has been
attributed yet, instead of drawing zeros.
"""

from __future__ import annotations

import html
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from lookalike_assets.db.connect import BI_ROLE, PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.tuning import TuningError
from lookalike_assets.pipeline.tuning import recommendations
from lookalike_assets.reporting.charts import data_uri, decile_lift_png, incrementality_png, reach_rate_png

NO_MARTS = "the marts have not been built yet: run `lookalike marts` (or the marts_refresh job)"
NO_FACTS = ("no conversion has been attributed to this tenant's audiences yet: load events with `lookalike "
            "conversions ingest` (it builds their facts), then `lookalike marts`")


@dataclass
class TenantReport:
    tenant_id: str
    name: str
    deciles: list[dict] = field(default_factory=list)
    reach: list[dict] = field(default_factory=list)
    summary: list[dict] = field(default_factory=list)
    incrementality: list[dict] = field(default_factory=list)  # audiences with a holdout, 'all' and per month
    recommendations: list[dict] = field(default_factory=list)  # audience_name + the tuning recommendation
    recommendation_note: str | None = None
    decile_png: bytes | None = None
    lift_png: bytes | None = None
    reach_png: bytes | None = None
    missing: str | None = None  # why there is nothing to show

    @property
    def base_rate(self) -> float | None:
        rates = [r["tenant_base_rate"] for r in self.summary if r["tenant_base_rate"] is not None]
        return float(rates[0]) if rates else None

    @property
    def has_outcomes(self) -> bool:
        return any(r["candidate_conversions"] for r in self.summary)

    def top_decile_lift(self) -> dict[str, float | None]:
        return {r["audience_name"]: (None if r["lift_vs_base"] is None else float(r["lift_vs_base"]))
                for r in self.deciles if r["decile"] == 10}


def build_report(conn: psycopg.Connection, tenant_id: str | uuid.UUID, name: str) -> TenantReport:
    rep = TenantReport(str(tenant_id), name)
    try:
        with tenant_transaction(conn, tenant_id, BI_ROLE), conn.cursor(row_factory=dict_row) as cur:
            rep.deciles = cur.execute(Q.reports.report_deciles.sql).fetchall()
            rep.reach = cur.execute(Q.reports.report_reach.sql).fetchall()
            rep.summary = cur.execute(Q.reports.report_summary.sql).fetchall()
            rep.incrementality = cur.execute(Q.reports.report_incrementality.sql).fetchall()
    except psycopg.errors.UndefinedTable:
        rep.missing = NO_MARTS
        return rep
    if not rep.has_outcomes:
        rep.missing = NO_FACTS
        return rep
    members = defaultdict(list)
    pool = defaultdict(list)
    for r in rep.deciles:
        if r["conversion_rate"] is not None:
            members[r["audience_name"]].append((int(r["decile"]), float(r["conversion_rate"])))
        pool[r["audience_name"]].append((int(r["decile"]), float(r["candidate_conversion_rate"] or 0)))
    rep.decile_png = decile_lift_png(members, rep.base_rate, pool=pool, title=f"{name}: conversion rate by decile")
    curves = defaultdict(list)
    for r in rep.reach:
        if r["conversion_rate"] is not None and int(r["audience_size"]) > 0:
            curves[r["audience_name"]].append((int(r["audience_size"]), float(r["conversion_rate"])))
    if curves:
        rep.reach_png = reach_rate_png({k: sorted(v) for k, v in curves.items()}, rep.base_rate,
                                       title=f"{name}: expected conversion rate by reach")
    names = {r["audience_name"]: r for r in rep.summary}
    try:
        recs, rep.recommendation_note = recommendations(conn, tenant_id, PIPELINE_ROLE)
    except TuningError as exc:
        recs, rep.recommendation_note = {}, str(exc)
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        ids = {r.audience_id: r.name for r in Q.admin.list_audiences(conn, tenant_id=tenant_id)}
    rep.recommendations = [{"audience_name": ids[aid], **rec.as_dict()} for aid, rec in recs.items()
                           if aid in ids and ids[aid] in names]
    overall = [r for r in rep.incrementality if r["period"] == "all"]
    if overall:
        rep.lift_png = incrementality_png([{k: float(v) if k in ("absolute_lift", "ci_low", "ci_high") else v
                                            for k, v in r.items()} for r in overall],
                                          title=f"{name}: lift over the holdout")
    return rep


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    return html.escape(str(v))


def _pct(v) -> str:
    return "" if v is None else f"{float(v):.1%}"


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(rep: TenantReport) -> str:
    charts = ""
    for png, alt in ((rep.decile_png, "Conversion rate by decile"),
                     (rep.reach_png, "Expected conversion rate by reach (the best N candidates)"),
                     (rep.lift_png, "Incrementality: lift of treatment over control")):
        if png:
            charts += f'<figure><img alt="{alt}" src="{data_uri(png)}"><figcaption>{alt}</figcaption></figure>'
    base = f"{rep.base_rate:.1%}" if rep.base_rate is not None else "n/a"
    if rep.missing:
        body = f"<p class=\"missing\"><b>Nothing to show yet:</b> {html.escape(rep.missing)}.</p>"
    else:
        body = f"""{charts}
<h2>Audiences</h2>
{_table(["audience", "status", "members", "conversions (members)", "conversion rate (members)",
         "pool candidates", "conversions (pool)", "conversion rate (pool)", "seeds", "embedding coverage",
         "last refresh", "last export"],
        [[_cell(r["audience_name"]), _cell(r["status"]), _cell(r["members"]), _cell(r["conversions"]),
          _pct(r["conversion_rate"]), _cell(r["candidates"]), _cell(r["candidate_conversions"]),
          _pct(r["candidate_conversion_rate"]), _cell(r["seeds"]), _pct(r["embedding_coverage"]),
          _cell(r["last_refresh_at"]), _cell(r["last_export_status"])] for r in rep.summary])}
<h2>By decile of the pool (10 = best)</h2>
{_table(["audience", "decile", "members", "conversion rate (members)", "lift vs base", "pool candidates",
         "conversion rate (pool)", "similarity"],
        [[_cell(r["audience_name"]), _cell(r["decile"]), _cell(r["members"]), _pct(r["conversion_rate"]),
          "" if r["lift_vs_base"] is None else f"{float(r['lift_vs_base']):.2f}x", _cell(r["candidates"]),
          _pct(r["candidate_conversion_rate"]), f"{r['min_similarity']:.3f} to {r['max_similarity']:.3f}"]
         for r in rep.deciles])}
{_incrementality_html(rep)}
{_recommendations_html(rep)}
<h2>Reach: the best N candidates and how they convert</h2>
{_table(["audience", "the best N", "conversions among them", "their conversion rate"],
        [[_cell(r["audience_name"]), _cell(r["audience_size"]), _cell(r["conversions"]),
          _pct(r["conversion_rate"])] for r in rep.reach if r["audience_size"]])}"""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lookalike: {html.escape(rep.name)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem;color:#222}}
table{{border-collapse:collapse;margin:1rem 0;font-size:.9rem}}th,td{{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}}
th{{background:#f4f4f4}}td:first-child,th:first-child{{text-align:left}}figure{{display:inline-block;margin:0 1rem 1rem 0}}
.missing{{background:#fff8e1;padding:1rem;border-left:4px solid #f0b400}}
</style></head><body>
<h1>{html.escape(rep.name)}</h1>
<p>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from the marts (as <code>lookalike_bi</code>). Rates are
over each audience's members; the same over every candidate of its pool is labelled "pool". Tenant base conversion
rate: <b>{base}</b>.</p>
{body}
</body></html>
"""


def _recommendations_html(rep: TenantReport) -> str:
    if not rep.recommendations:
        return (f"<h2>Tuning</h2><p>No recommendation: {html.escape(rep.recommendation_note)}.</p>"
                if rep.recommendation_note else "")
    return f"""<h2>Tuning: recommended reach</h2>
{_table(["audience", "recommended size", "score threshold", "expected conversions", "conversion rate",
         "expected value", "why"],
        [[_cell(r["audience_name"]), _cell(r["max_size"]), _cell(r["threshold"]), _cell(r["expected_conversions"]),
          _pct(r["conversion_rate"]), _cell(r["expected_value"]), _cell(r["reason"])] for r in rep.recommendations])}"""


def _incrementality_html(rep: TenantReport) -> str:
    if not rep.incrementality:
        return ""
    return f"""<h2>Incrementality (holdouts: treatment exported, control never)</h2>
<p>Lift = treatment rate - control rate, with its 95 % interval (two proportions, normal approximation); significant
when the interval excludes 0. Over the audience's current members; a member counts in the month of its first
conversion.</p>
{_table(["audience", "period", "holdout", "treatment", "control", "treatment rate", "control rate", "lift",
         "95 % interval", "relative lift", "significant"],
        [[_cell(r["audience_name"]), _cell(r["period"]), f"{float(r['holdout_percent']):g} %",
          _cell(r["treatment_members"]), _cell(r["control_members"]), _pct(r["treatment_rate"]),
          _pct(r["control_rate"]), f"{float(r['absolute_lift']) * 100:+.1f} pts",
          f"{float(r['ci_low']) * 100:+.1f} to {float(r['ci_high']) * 100:+.1f}",
          "" if r["relative_lift"] is None else f"{float(r['relative_lift']):+.0%}",
          "yes" if r["significant"] else "no"] for r in rep.incrementality])}"""


def write_report(rep: TenantReport, folder: Path, slug: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug}.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_html(rep), encoding="utf-8")
    tmp.replace(path)
    return path
