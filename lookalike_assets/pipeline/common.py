"""Shared by the pipeline modules. Logging convention: what a step skipped or could not do is in the result it
returns, and its caller (an asset, the CLI, the API) reports it once; the pipeline itself logs that at INFO, and
logs WARNING only for what its result does not carry."""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from lookalike_assets.db.queries import Q
from lookalike_assets.settings import get_settings

Progress = Callable[[int, int], None]  # (done, total)

log = logging.getLogger("lookalike")


@dataclass
class Timer:
    started: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def rate(self, n: int) -> float:
        s = self.seconds
        return n / s if s > 0 else 0.0


def analyze_after_bulk(conn, table: str, rows: int) -> bool:
    """Refresh ``table``'s planner statistics after a write of ``rows`` rows when that is at least
    LOOKALIKE_ANALYZE_AFTER_ROWS (plans made from the statistics of a nearly empty table stay slow). Outside any
    tenant transaction; ``lookalike_analyze`` names the tables it may analyze."""
    if rows < get_settings().analyze_after_rows:
        return False
    Q.session.analyze_table(conn, table=table)
    return True


def uuid_refs(refs) -> list[str]:
    """The references that are ids in their canonical text form (as PostgreSQL prints a uuid): what a query
    compares with a uuid column through its index (``lead_id = any(:ids::uuid[])``) instead of casting every
    row's id to text. Any other reference (an external id) matches no id, as before."""
    out = []
    for ref in refs:
        if isinstance(ref, str) and len(ref) == 36:
            try:
                if str(uuid.UUID(ref)) == ref:
                    out.append(ref)
            except ValueError:
                pass
    return out


def uuid_ref(ref) -> str | None:
    """The reference when it is an id in canonical text form, else None (see ``uuid_refs``)."""
    return next(iter(uuid_refs([ref])), None)


def batched(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


@contextmanager
def termination_as_exit() -> Iterator[None]:
    """While inside, SIGTERM raises SystemExit (as Ctrl-C raises KeyboardInterrupt), so that ``finally`` blocks
    clean up after a `timeout` or a cancelled job. Only in the main thread, where signal handlers live."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
