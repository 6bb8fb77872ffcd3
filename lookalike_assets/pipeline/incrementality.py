"""What the incrementality mart says of a tenant's audiences with a holdout (treatment against control), for the
assets' metadata, `audiences show`, the report and the API."""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg

from lookalike_assets.db.connect import tenant_transaction
from lookalike_assets.db.queries import Q

NOT_BUILT = "the marts have not been built yet (`lookalike marts`, or the marts_refresh job)"


def audience_incrementality(conn: psycopg.Connection, tenant_id: uuid.UUID, role: str) -> list[dict] | None:
    """One dict per audience with a control arm, over all time; None when the mart does not exist yet."""
    try:
        with tenant_transaction(conn, tenant_id, role):
            rows = list(Q.incrementality.audience_incrementality(conn, tenant_id=tenant_id))
    except psycopg.errors.UndefinedTable:
        return None
    return [{k: float(v) if isinstance(v, Decimal) else v for k, v in r._asdict().items()} for r in rows]


def describe_lift(row: dict) -> str:
    """One line a person reads: "+12.3 points (95 % CI +4.1 to +20.5), significant"."""
    if row.get("absolute_lift") is None:
        return "no figures"
    verdict = "significant" if row["significant"] else "not significant"
    return (f"{row['absolute_lift'] * 100:+.1f} points ({row['treatment_rate']:.1%} vs. {row['control_rate']:.1%}; "
            f"95 % CI {row['ci_low'] * 100:+.1f} to {row['ci_high'] * 100:+.1f}), {verdict}")
