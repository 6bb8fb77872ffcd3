"""`lookalike ranking`: the learned ranking's models."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from lookalike_assets.cli.audiences import print_factors
from lookalike_assets.cli.common import TenantOpt, console, tenant

app = typer.Typer(help="The learned ranking: models, champion and challenger.", no_args_is_help=True)


@app.command("show")
def ranking_show(tenant_ref: TenantOpt,
                 history: Annotated[int, typer.Option(help="Models to list.", min=1)] = 10) -> None:
    """The champion model, its metrics and influential factors, and the latest challengers."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection, tenant_transaction
    from lookalike_assets.db.queries import Q

    tid = tenant(tenant_ref)
    table = Table("version", "kind", "status", "holdout AUC (95% interval)", "holdout lift@10", "holdout rows",
                  "champion on same holdout", "decision", "trained", title="ranking models")
    champion = None
    with service_connection(APP_ROLE) as conn, tenant_transaction(conn, tid, APP_ROLE):
        for version, kind, status, metrics, trained, _promoted in Q.ranking.model_history(conn, tenant_id=tid, n=history):
            h = metrics.get("holdout") or {}
            c = metrics.get("champion_on_same_holdout") or {}
            ci = h.get("auc_ci")
            auc_text = f"{h.get('auc', '-')}" + (f" ({ci[0]} to {ci[1]})" if ci else "")
            rows = f"{h['rows']} ({h['positives']} positive)" if "rows" in h else "-"
            decision = (metrics.get("decision") or {}).get("reason", "-")
            table.add_row(str(version), kind, status, auc_text, f"{h.get('lift_at_10', '-')}", rows,
                          f"AUC {c['auc']}" if c else "-", decision, f"{trained:%Y-%m-%d %H:%M}")
            if status == "champion":
                champion = (version, metrics)
    console.print(table)
    if champion is None:
        console.print("no champion: pools are chosen and audiences ordered by similarity")
        return
    version, metrics = champion
    console.print(f"champion v{version} chooses every audience's pool (unless it asks for similarity); "
                  f"excluded features: {', '.join(metrics.get('excluded_features') or []) or 'none'}")
    print_factors(metrics.get("importances") or {})
