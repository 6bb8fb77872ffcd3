"""audience_memberships: apply each audience's rules to its next pool (the one the pool step staged, else the
current one) and publish pool, members, size and status of each audience in one transaction."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

import psycopg

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.audience import AudienceDefinitionError, SeedRow, parse_seed_set, select_seeds
from lookalike_assets.domain.holdout import arm
from lookalike_assets.domain.rules import (
    FieldType,
    RuleError,
    Rules,
    apply_rules,
    exclusion_order,
    overlap,
    parse_rules,
)
from lookalike_assets.faults import fault_point
from lookalike_assets.pipeline.common import log
from lookalike_assets.pipeline.features import load_spec
from lookalike_assets.pipeline.tuning import apply_auto_tuning


@dataclass
class MembershipResult:
    audience_id: uuid.UUID
    name: str
    status: str  # "built", "skipped" (the last memberships are kept) or "waiting" (new: the next run builds it)
    size: int = 0
    added: int = 0
    removed: int = 0
    cap: int | None = None
    published: bool = False
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    reach_curve: list[dict] = field(default_factory=list)
    scored_by: str = "similarity"  # what the reach curve's thresholds are
    overlap: dict[str, dict] = field(default_factory=dict)
    pool_changes: dict[str, int] = field(default_factory=dict)  # candidates inserted/updated/removed by the swap
    holdout: dict = field(default_factory=dict)  # percent, treatment and control members
    tuned: dict | None = None  # the reach auto-tuning set before this build: before, after, reason
    old_members: set = field(default_factory=set, repr=False)


def attribute_types(conn: psycopg.Connection, tenant_id: uuid.UUID) -> dict[str, FieldType]:
    """Imported columns a rule may name, numeric when the tenant's feature spec says so."""
    spec = load_spec(conn, tenant_id)
    numeric = {c.name for b in (spec.blocks if spec else []) for c in b.columns if c.kind == "numeric"}
    return {k: ("number" if k in numeric else "text") for (k,) in Q.memberships.attribute_keys(conn, tenant_id=tenant_id)}


def validate_audience(conn: psycopg.Connection, tenant_id: uuid.UUID, rules_raw, seed_set_raw) -> Rules:
    """The checks every writer of an audience goes through (CLI, sensors, the asset)."""
    parse_seed_set(seed_set_raw)
    return parse_rules(rules_raw, attribute_types(conn, tenant_id))


def refresh_memberships(conn: psycopg.Connection, tenant_id: uuid.UUID, min_seeds: int = 3,
                        warn_seeds: int = 20) -> list[MembershipResult]:
    results: dict[uuid.UUID, MembershipResult] = {}
    # audiences with rules.auto_tune take their recommended reach first (from the marts; logged)
    tuned = {c.audience_id: c for c in apply_auto_tuning(conn, tenant_id)}
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        audiences = list(Q.audiences.active_audiences(conn, tenant_id=tenant_id))
        attrs = attribute_types(conn, tenant_id)
        seeds = [SeedRow(*r) for r in Q.embeddings.live_seeds(conn, tenant_id=tenant_id)]
        seed_leads = {r[0] for r in Q.memberships.live_seed_lead_ids(conn, tenant_id=tenant_id)}
        customers = {r[0] for r in Q.memberships.customer_lead_ids(conn, tenant_id=tenant_id)}
        suppressed = {r[0] for r in Q.audiences.suppressed_lead_ids(conn, tenant_id=tenant_id)}
        eligible = Q.memberships.eligible_lead_count(conn, tenant_id=tenant_id)
        members = defaultdict(set)
        for aid, lead in Q.memberships.member_lead_ids(conn, tenant_id=tenant_id):
            members[aid].add(lead)

    by_name = {a.name: a for a in audiences}
    by_id = {str(a.audience_id): a for a in audiences}
    parsed: dict[str, Rules] = {}
    never_built = {a[0] for a in audiences if not (a[4] or {}).get("membership")}
    for audience_id, name, seed_set, rules_raw, _meta, _status in audiences:
        res = MembershipResult(audience_id, name, "skipped")
        results[audience_id] = res
        if audience_id in tuned:
            c = tuned[audience_id]
            res.tuned = {"before": c.before, "after": c.after, "reason": c.reason}
        try:
            sel = select_seeds(parse_seed_set(seed_set), seeds)
            rules = parse_rules(rules_raw, attrs)
        except (RuleError, AudienceDefinitionError) as exc:
            res.reason = f"invalid definition: {exc}"
            continue
        if len(sel.seeds) < min_seeds:
            res.reason = (f"{len(sel.seeds)} usable seed(s), fewer than the minimum of {min_seeds}: "
                          "the last memberships are kept")
            continue
        if len(sel.seeds) < warn_seeds:
            res.warnings.append(f"only {len(sel.seeds)} seeds")
        unknown = [ref for ref in rules.exclude.audiences if ref not in by_name and ref not in by_id]
        if unknown:
            res.reason = f"invalid definition: rules.exclude.audiences names unknown audience(s): {', '.join(unknown)}"
            continue
        parsed[name] = rules

    def excluded_names(rules: Rules) -> list[str]:
        return [by_name[r].name if r in by_name else by_id[r].name for r in rules.exclude.audiences]

    try:
        order = exclusion_order({n: excluded_names(r) for n, r in parsed.items()})
    except RuleError as exc:
        for n in parsed:
            results[by_name[n][0]].reason = f"invalid definition: {exc}"
        order = []

    # 1. plans, in exclusion order (an audience sees the new members of the audiences it excludes)
    plans = {}
    for name in order:
        audience_id = by_name[name][0]
        rules = parsed[name]
        res = results[audience_id]
        with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
            pool = [dict(zip(POOL_COLUMNS, r))
                    for r in Q.memberships.pool_rows(conn, tenant_id=tenant_id, audience_id=audience_id)]
            res.old_members = set(members.get(audience_id, set()))
        if not pool and audience_id in never_built:
            # created while this run was going (after its pools were chosen): not a failure, the next run builds it
            res.status = "waiting"
            res.reason = "created after this run chose its candidate pools: the next run of the tenant builds it"
            continue
        if not pool:
            res.reason = "no candidate pool yet: materialize candidate_pools first"
            continue
        excluded: dict[str, set] = {"suppression list": suppressed}
        if rules.exclude.seeds:
            excluded["seed"] = seed_leads
        if rules.exclude.customers:
            excluded["customer"] = customers
        for other in excluded_names(rules):
            excluded[f"member of {other}"] = members.get(by_name[other][0], set())
        plan = apply_rules(rules, pool, tenant_eligible=eligible, excluded=excluded, attribute_types=attrs)
        members[audience_id] = set(plan.members)
        plans[audience_id] = plan

    # 2. overlaps against every other active audience's (new or kept) members; 3. one transaction each
    for audience_id, plan in plans.items():
        res = results[audience_id]
        rules = parsed[res.name]
        others = {a.name: members.get(a.audience_id, set()) for a in audiences if a.audience_id != audience_id}
        res.overlap = overlap(members[audience_id], others)
        res.dropped = dict(plan.dropped)
        res.reach_curve = plan.reach_curve
        res.scored_by = plan.scored_by
        res.cap = plan.cap
        percent = rules.holdout.percent
        arms = {lead: arm(tenant_id, audience_id, lead, percent) for lead in plan.members}
        control = sum(1 for a in arms.values() if a == "control")
        res.holdout = {"percent": percent, "treatment": len(arms) - control, "control": control}
        stats = {
            "size": len(plan.members), "pool": plan.considered, "cap": plan.cap, "dropped": res.dropped,
            "reach_curve": plan.reach_curve, "reach_scored_by": plan.scored_by, "overlap": res.overlap,
            "holdout": res.holdout,
            "refreshed_at": datetime.now(timezone.utc).isoformat(), "skipped": None,
        }
        # one transaction: a reader sees the old pool, members, size and status, or all of the new ones
        with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
            res.pool_changes = dict(zip(("inserted", "updated", "removed", "staged"), Q.memberships.merge_staged_pool(
                conn, tenant_id=tenant_id, audience_id=audience_id)))
            Q.memberships.create_members_stage(conn)
            with conn.cursor() as cur, cur.copy(Q.memberships.copy_members_stage.sql) as copy:
                for lead_id in plan.members:
                    copy.write_row((lead_id, arms[lead_id]))
            Q.memberships.resolve_members_stage(conn, tenant_id=tenant_id, audience_id=audience_id)
            merged = Q.memberships.merge_members_stage(conn, tenant_id=tenant_id, audience_id=audience_id)
            Q.memberships.record_holdout_assignments(conn, tenant_id=tenant_id, audience_id=audience_id)
            size = merged.size
            Q.memberships.update_audience_after_membership(conn, tenant_id=tenant_id, audience_id=audience_id, size=size,
                                               auto_publish=rules.auto_publish, stats=json.dumps(stats))
        new = members[audience_id]
        res.status, res.size = "built", size
        res.added, res.removed = len(new - res.old_members), len(res.old_members - new)
        fault_point("memberships:after-first-audience")
        res.published = rules.auto_publish

    for res in results.values():
        if res.status == "skipped":
            log.info("audience %s skipped: %s", res.name, res.reason)
            with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
                Q.memberships.record_membership_skip(conn, tenant_id=tenant_id, audience_id=res.audience_id, reason=res.reason)
    return [results[a[0]] for a in audiences]


POOL_COLUMNS = ("lead_id", "similarity_score", "rank_score", "decile", "status", "industry",
                "company", "company_size", "country", "region", "title", "seniority", "bio", "property_type",
                "email_opens", "web_visits", "last_activity_at", "email", "phone", "attributes")
