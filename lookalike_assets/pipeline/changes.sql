-- name: change_horizon$
-- Every transaction below this id has finished: rows under it can no longer appear.
select pg_snapshot_xmin(pg_current_snapshot())::text;

-- name: changes_between
-- What changed per tenant between two horizons (run as lookalike_changes, which can read nothing else), with the
-- last change's transaction id. Changes written by :ignore_actor (the pipeline's own derived columns) and changes
-- below the tenant's :kind watermark (already covered by a finished run) are left out.
select c.tenant_id, c.entity, sum(c.row_count)::bigint as rows, max(c.xid)::text as last_xid
from lookalike_change_log c
left join lookalike_watermark w on w.tenant_id = c.tenant_id and w.kind = :kind
where c.xid >= :after::xid8 and c.xid < :horizon::xid8
  and c.actor <> :ignore_actor
  and (w.horizon is null or c.xid >= w.horizon)
group by c.tenant_id, c.entity
order by c.tenant_id, c.entity;

-- name: tenants_between
-- Every tenant the log mentions between two horizons, and whether its last entry deleted it.
select tenant_id, bool_or(entity = 'tenant' and op = 'DELETE') as deleted
from lookalike_change_log
where xid >= :after::xid8 and xid < :horizon::xid8
group by tenant_id
order by tenant_id;

-- name: conversions_since_watermark
-- Per tenant: conversion events logged since its last ranking training (all of them before any training).
select c.tenant_id, sum(c.row_count)::bigint as events, coalesce(w.horizon::text, '0') as watermark
from lookalike_change_log c
left join lookalike_watermark w on w.tenant_id = c.tenant_id and w.kind = 'ranking'
where c.entity = 'conversion' and c.op = 'INSERT' and c.xid < :horizon::xid8
  and (w.horizon is null or c.xid >= w.horizon)
group by c.tenant_id, w.horizon
order by c.tenant_id;

-- name: tenant_directory
-- tenant id -> slug and name, for naming runs (no tenant data).
select tenant_id::text, slug, name from lookalike_tenant_directory();

-- name: tenant_id_of_slug$
-- The tenant a partition key (its slug) names.
select tenant_id from lookalike_tenant_directory() where slug = :slug;
