"""Small helpers shared by the asset modules: progress logging and markdown previews for metadata."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import dagster as dg
import psycopg

from lookalike_assets.db import locks
from lookalike_assets.db.connect import PIPELINE_ROLE, parse_tenant_id, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.faults import fault_point

# The per-tenant assets in graph order: what a full refresh of a tenant materializes.
TENANT_REFRESH_ASSETS = ("lead_features", "lead_embeddings", "seed_profiles", "ranking_model", "candidate_pools",
                         "audience_memberships", "audience_exports")


def tenant_of(context: dg.AssetExecutionContext) -> uuid.UUID:
    return parse_tenant_id(context.partition_key)


def run_position(context: dg.AssetExecutionContext) -> tuple[bool, bool]:
    """(is this the run's last tenant step, does the run refresh the whole tenant)."""
    keys = context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys
    names = {k.to_user_string() for k in keys}
    in_run = [a for a in TENANT_REFRESH_ASSETS if a in names]
    me = context.asset_key.to_user_string()
    return (not in_run or in_run[-1] == me), set(TENANT_REFRESH_ASSETS) <= names


@contextmanager
def tenant_step(context: dg.AssetExecutionContext, db) -> Iterator[tuple[uuid.UUID, psycopg.Connection]]:
    """A tenant asset's connection, holding the run's tenant lease for the step (see db/locks.py): one run per
    tenant at a time, for the whole run."""
    tid = tenant_of(context)
    last, whole = run_position(context)
    with db.connect() as conn:
        other = locks.holder(conn, tid)
        if other is not None and other != context.run.run_id:
            run = context.instance.get_run_by_id(other)
            if run is not None and run.is_finished and locks.release_leftover(conn, tid, other):
                context.log.info(f"run {other} finished ({run.status.value}) without giving the tenant's lease "
                                 "back: released")
    with db.connect() as conn, locks.tenant_step(
        conn, db.conninfo(), tid, context.run.run_id, last=last, watermark="refresh" if whole else None,
        wait_seconds=db.lock_wait_seconds, ttl_seconds=db.lease_ttl_seconds,
    ):
        yield tid, conn
    fault_point(f"after:{context.asset_key.to_user_string()}")


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
