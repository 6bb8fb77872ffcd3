"""Reading the change log (tenant, entity, counts, who wrote; no lead data) as the lookalike_changes role.

Two things keep sensors from asking for work that is done already:

* the pipeline's own writes (an audience's size, status and metadata after a refresh) are left out: the log
  records the writing role, and sensors ignore ``lookalike_pipeline``;
* a finished run records the change-log horizon it started from as the tenant's watermark (db/locks.py);
  changes below it were committed before the run read anything, so they are covered.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import psycopg

from lookalike_assets.db.connect import CHANGES_ROLE, PIPELINE_ROLE, role_transaction
from lookalike_assets.db.queries import Q

# Entities whose changes call for a tenant refresh (conversions feed conversion_facts instead).
REFRESH_ENTITIES = frozenset({"tenant", "lead", "seed", "audience", "suppression"})


@dataclass
class ChangeBatch:
    after: str
    horizon: str
    by_tenant: dict[str, dict[str, int]] = field(default_factory=dict)  # uncovered changes by people and apps
    last_xid: dict[str, str] = field(default_factory=dict)  # tenant -> its last uncovered change
    seen: list[str] = field(default_factory=list)  # every tenant the log mentions in the window
    deleted: list[str] = field(default_factory=list)  # tenants deleted in the window

    @property
    def tenants(self) -> list[str]:
        return sorted(self.by_tenant)

    def tenants_with(self, entities: frozenset[str]) -> list[str]:
        return sorted(t for t, ents in self.by_tenant.items() if entities & set(ents))


def read_changes(conn: psycopg.Connection, after: str | None, kind: str = "refresh") -> ChangeBatch:
    """Changes with ``after <= xid < horizon`` not yet covered by the tenants' ``kind`` watermark; the caller
    stores ``horizon`` as its next cursor."""
    after = after or "0"
    with role_transaction(conn, CHANGES_ROLE):
        horizon = Q.changes.change_horizon(conn)
        rows = list(Q.changes.changes_between(conn, after=after, horizon=horizon, kind=kind, ignore_actor=PIPELINE_ROLE))
        tenants = list(Q.changes.tenants_between(conn, after=after, horizon=horizon))
    by_tenant: dict[str, dict[str, int]] = defaultdict(dict)
    last: dict[str, str] = {}
    for tenant_id, entity, n, last_xid in rows:
        t = str(tenant_id)
        by_tenant[t][entity] = int(n)
        last[t] = max(last.get(t, "0"), last_xid, key=int)
    return ChangeBatch(after=after, horizon=horizon, by_tenant=dict(by_tenant), last_xid=last,
                       seen=[str(t) for t, _ in tenants], deleted=[str(t) for t, d in tenants if d])


def conversions_since_training(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """tenant -> (conversion events logged since its last ranking training, that training's watermark)."""
    with role_transaction(conn, CHANGES_ROLE):
        horizon = Q.changes.change_horizon(conn)
        return {str(t): (int(n), w) for t, n, w in Q.changes.conversions_since_watermark(conn, horizon=horizon)}
