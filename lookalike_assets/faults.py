"""Fault points: where the fault-injection tests kill lookalike to prove that nothing is lost or half-done.

``LOOKALIKE_FAULT=<point>`` makes the process kill itself with SIGKILL (no clean-up, no ``finally``, as an
out-of-memory kill or a pulled plug would) when it reaches that point; ``LOOKALIKE_FAULT=pause:<point>`` makes it
create the file ``LOOKALIKE_FAULT_MARK`` there and wait until the test removes it (to stop the database under a
running step, say). Unset (always, outside those tests), a fault point is one dictionary lookup. The points are
the boundaries between steps (``after:<asset>``) and the places inside a write where a process could die between
two transactions (listed in ``POINTS``).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

POINTS = (
    "pools:after-first-audience",  # one audience's pool staged, the others not yet
    "memberships:after-first-audience",  # one audience published, the others not yet
    "ranking:before-scores",  # a challenger recorded, the leads not yet scored
    "exports:after-first-file",  # one export file delivered, the others not yet
    "import:before-commit",  # every row staged and merged, the transaction not committed
    "facts:after-first-tenant",  # one tenant's facts rebuilt, the others not yet
    "destinations:after-first-batch",  # one batch of a sync sent and recorded, the next not yet sent
)


def fault_point(name: str) -> None:
    """Die (or pause) here, at once, if the fault-injection tests asked for it."""
    wanted = os.environ.get("LOOKALIKE_FAULT")
    if wanted is None:
        return
    if wanted == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if wanted == f"pause:{name}":
        mark = Path(os.environ["LOOKALIKE_FAULT_MARK"])
        mark.write_text(str(os.getpid()))
        deadline = time.monotonic() + 120
        while mark.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
