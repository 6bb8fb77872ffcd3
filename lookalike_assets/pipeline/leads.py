"""Writing leads: one upsert path (by external id) for the demo loader and the importers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable

import psycopg

from lookalike_assets.db.connect import APP_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q

LEAD_COLUMNS = ("lead_id", "external_id", "email", "phone", "first_name", "last_name", "company", "industry",
                "company_size", "country", "region", "title", "seniority", "bio", "property_type", "email_opens",
                "web_visits", "last_activity_at", "attributes")


def upsert_leads(conn: psycopg.Connection, tenant_id: uuid.UUID, rows: Iterable[dict],
                 role: str = APP_ROLE) -> tuple[int, int]:
    """Insert or update leads by external id in one transaction. Returns (inserted, updated)."""
    with tenant_transaction(conn, tenant_id, role):
        Q.create_leads_stage(conn)
        with conn.cursor() as cur, cur.copy(Q.copy_leads_stage.sql) as copy:
            for r in rows:
                vals = [r.get(c) for c in LEAD_COLUMNS]
                vals[-1] = json.dumps(r.get("attributes") or {}, default=str)
                copy.write_row(vals)
        res = Q.merge_leads_stage(conn, tenant_id=tenant_id)
    if int(res[0]) >= 10000:
        Q.analyze_leads(conn)  # many new rows: fresh planner statistics
    return int(res[0]), int(res[1])
