-- name: change_horizon$
-- Every transaction below this id has finished: rows under it can no longer appear.
select pg_snapshot_xmin(pg_current_snapshot())::text;

-- name: changes_between
-- What changed per tenant between two horizons (run as lookalike_changes, which can read nothing else).
select tenant_id, entity, sum(row_count)::bigint as rows, max(changed_at) as last_changed_at
from lookalike_change_log
where xid >= :after::xid8 and xid < :horizon::xid8
group by tenant_id, entity
order by tenant_id, entity;
