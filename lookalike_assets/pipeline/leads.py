"""Writing leads: one staged upsert (by external id) for the demo loader, the importer and applications."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence

import psycopg

from lookalike_assets.db.connect import APP_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.pipeline.common import analyze_after_bulk

LEAD_COLUMNS = ("lead_id", "external_id", "email", "phone", "first_name", "last_name", "company", "industry",
                "company_size", "country", "region", "title", "seniority", "bio", "property_type", "email_opens",
                "web_visits", "last_activity_at", "attributes")
FIELDS = LEAD_COLUMNS[2:-1]  # what a file may set, besides its attributes


class LeadStage:
    """A batch of leads staged in a temporary table inside the caller's tenant transaction, merged at the end:
    a file is written whole or not at all."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.rows = 0
        Q.leads.create_leads_stage(conn)

    def add(self, rows: Iterable[dict]) -> None:
        with self.conn.cursor() as cur, cur.copy(Q.leads.copy_leads_stage.sql) as copy:
            for r in rows:
                vals = [r.get(c) for c in LEAD_COLUMNS]
                vals[-1] = json.dumps(r.get("attributes") or {}, default=str)
                copy.write_row(vals)
                self.rows += 1

    def merge(self, tenant_id: uuid.UUID, present: Sequence[str] = FIELDS,
              attribute_keys: Sequence[str] = ()) -> tuple[int, int, int]:
        """(inserted, updated, unchanged). Only the ``present`` lead fields and ``attribute_keys`` are written."""
        ins, upd, staged = Q.leads.merge_leads_stage(self.conn, tenant_id=tenant_id, present=list(present),
                                               attribute_keys=list(attribute_keys))
        return int(ins), int(upd), int(staged) - int(ins) - int(upd)


def upsert_leads(conn: psycopg.Connection, tenant_id: uuid.UUID, rows: Iterable[dict],
                 role: str = APP_ROLE) -> tuple[int, int]:
    """Insert or update leads (every field) by external id in one transaction. Returns (inserted, updated)."""
    with tenant_transaction(conn, tenant_id, role):
        stage = LeadStage(conn)
        stage.add(rows)
        ins, upd, _ = stage.merge(tenant_id)
    analyze_after_bulk(conn, "leads", ins)  # many new rows: fresh planner statistics
    return ins, upd
