"""No tenant's session stalls the platform's work: while the marts build (or any platform session a caller
guards) waits on a lock that a tenant's own login holds (a BI session that read a mart in a transaction it leaves
open, which would also queue every other tenant's reads of that mart behind the build's pending exclusive lock),
that session is ended after a short grace. Tenants' logins cannot take stronger locks than that (migration 0020)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import namedtuple_row

from lookalike_assets.db.queries import Q

log = logging.getLogger(__name__)


class StallGuard:
    """A thread with the owner's connection that ends tenant sessions the platform's sessions wait on for more
    than ``grace_seconds``. ``ended``: (login, state) of each session it ended."""

    def __init__(self, owner_conninfo: str, grace_seconds: float = 3.0, poll_seconds: float = 0.5) -> None:
        self.conninfo, self.grace, self.poll = owner_conninfo, grace_seconds, poll_seconds
        self.ended: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self, conn: psycopg.Connection) -> int:
        n = 0
        for row in Q.stalls.tenant_blockers(conn, grace_seconds=self.grace):
            if Q.stalls.end_session(conn, pid=row.blocker):
                n += 1
                self.ended.append((row.role, row.state or ""))
                log.warning("ended a session of tenant login %s (%s): %s waited %.1f s on a lock it held",
                            row.role, row.state, row.waiter_role, row.waited)
        return n

    def _run(self) -> None:
        try:
            with psycopg.connect(self.conninfo, autocommit=True, application_name="lookalike stall guard",
                                 row_factory=namedtuple_row) as conn:
                while not self._stop.wait(self.poll):
                    self.check(conn)
        except Exception as exc:  # noqa: BLE001 - the guard never breaks what it guards; it says why it stopped
            log.warning("the stall guard stopped: %s", exc)

    def __enter__(self) -> StallGuard:
        # one check at once, so that a guard that cannot work says so before the work it should guard
        with psycopg.connect(self.conninfo, autocommit=True, row_factory=namedtuple_row) as conn:
            self.check(conn)
        self._thread = threading.Thread(target=self._run, name="stall-guard", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


@contextmanager
def guarded(owner_conninfo: str, grace_seconds: float | None = None) -> Iterator[StallGuard]:
    from lookalike_assets.settings import get_settings

    with StallGuard(owner_conninfo, grace_seconds or get_settings().stall_grace_seconds) as guard:
        yield guard
