"""One run per tenant at a time: a PostgreSQL advisory lock held for the duration of a tenant's asset."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from lookalike_assets.db.queries import Q


class TenantBusyError(RuntimeError):
    pass


@contextmanager
def tenant_lock(conn: psycopg.Connection, tenant_id: uuid.UUID, wait_seconds: float = 600.0,
                poll: float = 1.0) -> Iterator[None]:
    """Hold the tenant's session-level advisory lock on ``conn`` (released on exit, or when the connection
    closes if the process dies). Waits up to ``wait_seconds`` for another run, then raises TenantBusyError."""
    deadline = time.monotonic() + wait_seconds
    while not Q.acquire_tenant_lock(conn, tenant_id=str(tenant_id)):
        if time.monotonic() >= deadline:
            raise TenantBusyError(f"another run is working on tenant {tenant_id}; gave up after {wait_seconds:.0f}s")
        time.sleep(poll)
    try:
        yield
    finally:
        Q.release_tenant_lock(conn, tenant_id=str(tenant_id))
