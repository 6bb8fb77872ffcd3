"""Per-tenant performance report: read from the marts as lookalike_bi (what a BI tool sees), charts, HTML."""

from __future__ import annotations

import html
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from lookalike_assets.db.connect import BI_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.reporting.charts import data_uri, decile_lift_png, reach_curve_png


@dataclass
class TenantReport:
    tenant_id: str
    name: str
    deciles: list[tuple] = field(default_factory=list)
    reach: list[tuple] = field(default_factory=list)
    summary: list[tuple] = field(default_factory=list)
    decile_png: bytes | None = None
    reach_png: bytes | None = None

    @property
    def base_rate(self) -> float | None:
        rates = [r[10] for r in self.summary if r[10] is not None]
        return float(rates[0]) if rates else None

    def top_decile_lift(self) -> dict[str, float | None]:
        return {r[0]: (None if r[6] is None else float(r[6])) for r in self.deciles if r[1] == 10}


def build_report(conn: psycopg.Connection, tenant_id: str | uuid.UUID, name: str) -> TenantReport:
    with tenant_transaction(conn, tenant_id, BI_ROLE):
        rep = TenantReport(str(tenant_id), name,
                           deciles=list(Q.report_deciles(conn)),
                           reach=list(Q.report_reach(conn)),
                           summary=list(Q.report_summary(conn)))
    series = defaultdict(list)
    for aud, decile, _c, _conv, rate, *_ in rep.deciles:
        series[aud].append((int(decile), float(rate or 0)))
    if series:
        rep.decile_png = decile_lift_png(series, rep.base_rate, title=f"{name}: conversion rate by decile")
    curves = defaultdict(list)
    for aud, _point, threshold, size, _conv, _rate in rep.reach:
        curves[aud].append({"threshold": float(threshold), "size": int(size)})
    if curves:
        rep.reach_png = reach_curve_png(curves, title=f"{name}: reach vs. similarity")
    return rep


def _table(headers: list[str], rows: list[tuple]) -> str:
    def cell(v) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.4f}"
        if isinstance(v, datetime):
            return v.strftime("%Y-%m-%d %H:%M")
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(rep: TenantReport) -> str:
    charts = ""
    for png, alt in ((rep.decile_png, "Conversion rate by similarity decile"), (rep.reach_png, "Reach curve")):
        if png:
            charts += f'<figure><img alt="{alt}" src="{data_uri(png)}"><figcaption>{alt}</figcaption></figure>'
    base = f"{rep.base_rate:.2%}" if rep.base_rate is not None else "n/a"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lookalike: {html.escape(rep.name)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem;color:#222}}
table{{border-collapse:collapse;margin:1rem 0;font-size:.9rem}}th,td{{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}}
th{{background:#f4f4f4}}td:first-child,th:first-child{{text-align:left}}figure{{display:inline-block;margin:0 1rem 1rem 0}}
</style></head><body>
<h1>{html.escape(rep.name)}</h1>
<p>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from the marts (as <code>lookalike_bi</code>). Tenant base
conversion rate: <b>{base}</b>. Decile 10 holds the candidates most similar to the seeds.</p>
{charts}
<h2>Audiences</h2>
{_table(["audience", "status", "members", "candidates", "seeds", "embedding coverage", "last refresh", "conversions",
         "conversion rate", "conversion value", "base rate", "last export", "exported at"], rep.summary)}
<h2>Performance by similarity decile</h2>
{_table(["audience", "decile", "candidates", "conversions", "conversion rate", "lift vs audience", "lift vs base",
         "min similarity", "max similarity"], rep.deciles)}
<h2>Reach vs. precision</h2>
{_table(["audience", "point", "min similarity", "audience size", "conversions", "conversion rate"], rep.reach)}
</body></html>
"""


def write_report(rep: TenantReport, folder: Path, slug: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug}.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_html(rep), encoding="utf-8")
    tmp.replace(path)
    return path
