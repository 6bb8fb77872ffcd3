"""Small helpers shared by the asset modules: progress logging and markdown previews for metadata."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

import dagster as dg

from lookalike_assets.db.connect import PIPELINE_ROLE, parse_tenant_id, tenant_transaction
from lookalike_assets.db.queries import Q


def tenant_of(context: dg.AssetExecutionContext) -> uuid.UUID:
    return parse_tenant_id(context.partition_key)


def tenant_name(conn, tenant_id: uuid.UUID) -> str:
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        row = Q.get_tenant(conn, tenant_id=tenant_id)
    if row is None:
        raise dg.Failure(f"tenant {tenant_id} does not exist (is the partition stale?)")
    return f"{row[2]} ({row[1]})"


class ProgressLog:
    """Logs 'done/total (rate/s)' at most every few seconds."""

    def __init__(self, context: dg.AssetExecutionContext, what: str, every: float = 5.0) -> None:
        self.context, self.what, self.every = context, what, every
        self.started = self.last = time.perf_counter()

    def __call__(self, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if now - self.last < self.every and done != total:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        of = f"/{total}" if total else ""
        self.context.log.info(f"{self.what}: {done}{of} ({rate:,.0f}/s)")


def md_table(headers: Sequence[str], rows: Sequence[Sequence]) -> dg.MetadataValue:
    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:.4f}"
        return str(v).replace("|", "\\|").replace("\n", " ")[:120]

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return dg.MetadataValue.md("\n".join(lines))
