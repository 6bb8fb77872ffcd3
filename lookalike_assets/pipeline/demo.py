"""Loading the demo: tenants, leads with their hidden propensity, seeds, and audiences."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from lookalike_assets.db import admin
from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, sibling, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.demo_data import (
    TENANTS,
    TenantProfile,
    generate_leads,
    lead_id_for,
    pick_seeds,
    tenant_id_for,
)
from lookalike_assets.pipeline.leads import upsert_leads


@dataclass
class DemoTenant:
    tenant_id: uuid.UUID
    slug: str
    name: str
    leads: int
    inserted: int
    updated: int
    seeds: int
    audiences: int


def load_demo(conn: psycopg.Connection, leads_per_tenant: int = 1500, tenants: int = 3, seed: int = 7,
              pool_size: int = 500) -> list[DemoTenant]:
    """Create (or refresh, idempotently) ``tenants`` demo tenants with ``leads_per_tenant`` leads each. ``conn``
    is the owner's (onboarding tenants); their data is written by the service logins."""
    if not 1 <= tenants <= len(TENANTS):
        raise ValueError(f"the demo has between 1 and {len(TENANTS)} tenants")
    return [load_tenant(conn, p, leads_per_tenant, seed, pool_size) for p in TENANTS[:tenants]]


def load_tenant(conn: psycopg.Connection, profile: TenantProfile, leads_per_tenant: int, seed: int = 7,
                pool_size: int = 500) -> DemoTenant:
    """One demo tenant: leads, hidden propensities, seeds drawn from the propensity, audiences. ``conn`` is the
    owner's."""
    tid = tenant_id_for(profile.slug)
    admin.upsert_tenant(conn, tid, profile.slug, profile.name)
    if profile.tuning:  # the demo's economics, so that tuning recommendations show
        admin.set_tuning_settings(conn, tid, dict(profile.tuning))
    # what a tenant's people write (leads, seeds, audiences) is written as the app, so that sensors see it; the
    # hidden propensity (the simulation's truth) by the pipeline
    with sibling(conn, APP_ROLE) as app, sibling(conn, PIPELINE_ROLE) as pipe:
        return _load(app, pipe, tid, profile, leads_per_tenant, seed, pool_size)


def _load(conn: psycopg.Connection, pipe: psycopg.Connection, tid: uuid.UUID, profile: TenantProfile,
          leads_per_tenant: int, seed: int, pool_size: int) -> DemoTenant:
    leads, props = [], []
    for lead, p in generate_leads(profile, leads_per_tenant, seed=seed):
        lead["lead_id"] = lead_id_for(profile.slug, lead["external_id"])
        leads.append(lead)
        props.append(p)
    inserted, updated = upsert_leads(conn, tid, leads, APP_ROLE)
    with tenant_transaction(pipe, tid, PIPELINE_ROLE):
        Q.leads.upsert_propensity(pipe, [
            {"tenant_id": tid, "lead_id": lead["lead_id"], "propensity": p} for lead, p in zip(leads, props)
        ])
    rng = np.random.default_rng([seed, leads_per_tenant])
    seeds = pick_seeds(np.array(props), rng)
    with tenant_transaction(conn, tid, APP_ROLE):
        seed_ids = []
        for idx, label in sorted(seeds.items()):
            seed_ids.append(uuid.uuid5(tid, f"seed:{idx}:{label}"))
            Q.demo.demo_seed(conn, tenant_id=tid, seed_id=seed_ids[-1], lead_id=leads[idx]["lead_id"], label=label)
        Q.demo.retire_other_demo_seeds(conn, tenant_id=tid, seed_ids=seed_ids)
        for a in profile.audiences:
            Q.demo.demo_audience(conn, tenant_id=tid, audience_id=uuid.uuid5(tid, f"audience:{a['name']}"),
                            name=a["name"], seed_set=Jsonb(a["seed_set"]), rules=Jsonb(a.get("rules", {})),
                            metadata=Jsonb({"pool_size": pool_size, "source": "demo"}))
    return DemoTenant(tid, profile.slug, profile.name, len(leads), inserted, updated, len(seeds),
                      len(profile.audiences))
