"""One run per tenant at a time, for the whole run: a lease in PostgreSQL held by the run's id.

Every step of a run takes the lease (the run's own lease passes, another run's waits), keeps it alive with a
heartbeat while it works, and the run's last step gives it up. A failing step gives it up at once; a killed
process stops its heartbeat, and the lease is free again ``ttl_seconds`` later (Dagster's run monitoring marks
such runs failed). The lease lives in a table under Row-Level Security, so no other role can see or take it,
and it remembers the change-log horizon the run started from: a run that finished a whole refresh records it
as the tenant's watermark, and sensors only ask for work on changes at or above it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from lookalike_assets.db.connect import PIPELINE_ROLE, TenantError, connect, tenant_transaction
from lookalike_assets.db.queries import Q


class TenantBusyError(RuntimeError):
    pass


@dataclass
class Lease:
    tenant_id: uuid.UUID
    run_id: str
    horizon: str


def acquire(conn: psycopg.Connection, tenant_id: uuid.UUID, run_id: str, *, wait_seconds: float = 600.0,
            ttl_seconds: float = 120.0, poll: float = 1.0,
            finished: Callable[[str], bool] | None = None) -> Lease:
    """Take the tenant's lease for ``run_id``, waiting up to ``wait_seconds`` for another live run.
    ``finished(run_id)``: whether a run is known to be over (its lease, if it still holds one, is given back at
    once instead of waiting for its heartbeat to age)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
                row = Q.locks.acquire_tenant_lease(conn, tenant_id=tenant_id, run_id=run_id, ttl_seconds=ttl_seconds)
                holder = None if row else Q.locks.lease_holder(conn, tenant_id=tenant_id)
        except psycopg.errors.ForeignKeyViolation:
            raise TenantError(f"tenant {tenant_id} does not exist (a stale partition? `lookalike tenants list` "
                              "shows the tenants)") from None
        if row:
            return Lease(tenant_id, run_id, row[1])
        if holder and finished is not None and holder[0] != run_id and finished(holder[0]):
            release_leftover(conn, tenant_id, holder[0])
            continue
        if time.monotonic() >= deadline:
            other = holder[0] if holder else "another run"
            raise TenantBusyError(f"run {other} is working on this tenant; gave up waiting after {wait_seconds:.0f}s "
                                  "(one run per tenant at a time)")
        time.sleep(poll)


def release(conn: psycopg.Connection, lease: Lease, watermark: str | None = None) -> bool:
    """Give the lease up; with ``watermark`` ('refresh'), record the run's horizon as that watermark."""
    with tenant_transaction(conn, lease.tenant_id, PIPELINE_ROLE):
        return bool(Q.locks.release_tenant_lease(conn, tenant_id=lease.tenant_id, run_id=lease.run_id, kind=watermark))


def holder(conn: psycopg.Connection, tenant_id: uuid.UUID) -> str | None:
    """The run id holding the tenant's lease, if any."""
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        row = Q.locks.lease_holder(conn, tenant_id=tenant_id)
    return row[0] if row else None


def release_leftover(conn: psycopg.Connection, tenant_id: uuid.UUID, run_id: str) -> bool:
    """Give back a lease left by a run known to have finished (it failed while the database was down, say)."""
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        return bool(Q.locks.release_tenant_lease(conn, tenant_id=tenant_id, run_id=run_id, kind=None))


class Heartbeat:
    """Refreshes the lease every ``every`` seconds on a connection of its own while a step works."""

    def __init__(self, conninfo: str, lease: Lease, every: float = 30.0) -> None:
        """``conninfo``: the deployment's (owner) URL; the heartbeat logs in as lookalike_pipeline."""
        self.conninfo, self.lease, self.every = conninfo, lease, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-heartbeat-{lease.tenant_id}", daemon=True)

    def _run(self) -> None:
        conn = None
        while not self._stop.wait(self.every):
            try:
                conn = conn or connect(self.conninfo, role=PIPELINE_ROLE)
                with tenant_transaction(conn, self.lease.tenant_id, PIPELINE_ROLE):
                    Q.locks.heartbeat_tenant_lease(conn, tenant_id=self.lease.tenant_id, run_id=self.lease.run_id)
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                conn = None  # the next beat reconnects; a database outage shows in the step itself
        if conn is not None:
            conn.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextmanager
def tenant_step(conn: psycopg.Connection, conninfo: str, tenant_id: uuid.UUID, run_id: str, *,
                last: bool | Callable[[], bool], watermark: str | None = None, wait_seconds: float = 600.0,
                ttl_seconds: float = 120.0, heartbeat_seconds: float = 30.0,
                finished: Callable[[str], bool] | None = None) -> Iterator[Lease]:
    """One step of a tenant run: holds the run's lease while it works. The run's last step gives the lease up on
    success (recording ``watermark``); any step gives it up when it fails. ``last``: whether this step is the
    run's last, or a question asked when the step ends (independent steps finish in any order)."""
    lease = acquire(conn, tenant_id, run_id, wait_seconds=wait_seconds, ttl_seconds=ttl_seconds, finished=finished)
    try:
        with Heartbeat(conninfo, lease, heartbeat_seconds):
            yield lease
    except BaseException:
        try:
            release(conn, lease)
        except psycopg.Error:
            pass  # the database is gone: the lease expires with its heartbeat; the step's own error is what matters
        raise
    if last() if callable(last) else last:
        release(conn, lease, watermark)
