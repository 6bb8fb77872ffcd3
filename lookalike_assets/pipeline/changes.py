"""Reading the change log (tenant, entity, counts; no lead data) as the lookalike_changes role."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import psycopg

from lookalike_assets.db.connect import CHANGES_ROLE, role_transaction
from lookalike_assets.db.queries import Q

# Entities whose changes call for a tenant refresh (conversions feed conversion_facts instead).
REFRESH_ENTITIES = frozenset({"tenant", "lead", "seed", "audience", "suppression"})


@dataclass
class ChangeBatch:
    after: str
    horizon: str
    by_tenant: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def tenants(self) -> list[str]:
        return sorted(self.by_tenant)

    def tenants_with(self, entities: frozenset[str]) -> list[str]:
        return sorted(t for t, ents in self.by_tenant.items() if entities & set(ents))


def read_changes(conn: psycopg.Connection, after: str | None) -> ChangeBatch:
    """Changes with ``after <= xid < horizon``; the caller stores ``horizon`` as its next cursor."""
    after = after or "0"
    with role_transaction(conn, CHANGES_ROLE):
        horizon = Q.change_horizon(conn)
        rows = list(Q.changes_between(conn, after=after, horizon=horizon))
    by_tenant: dict[str, dict[str, int]] = defaultdict(dict)
    for tenant_id, entity, n, _last in rows:
        by_tenant[str(tenant_id)][entity] = int(n)
    return ChangeBatch(after=after, horizon=horizon, by_tenant=dict(by_tenant))
