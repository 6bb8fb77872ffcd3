-- name: acquire_tenant_lease^
-- Take (or keep) the tenant's lease for a run. A lease held by another run is taken over only when its heartbeat
-- stopped (a killed process). Returns nothing while another live run holds it. The horizon is kept from the run's
-- first step: every change below it was committed before the run read anything.
insert into lookalike_tenant_lease as l (tenant_id, run_id, horizon)
values (:tenant_id, :run_id, pg_snapshot_xmin(pg_current_snapshot()))
on conflict (tenant_id) do update set
  run_id = excluded.run_id,
  horizon = case when l.run_id = excluded.run_id then l.horizon else excluded.horizon end,
  acquired_at = case when l.run_id = excluded.run_id then l.acquired_at else now() end,
  heartbeat_at = now()
where l.run_id = excluded.run_id or l.heartbeat_at < now() - make_interval(secs => :ttl_seconds)
returning run_id, horizon::text;

-- name: lease_holder^
select run_id, acquired_at, heartbeat_at from lookalike_tenant_lease where tenant_id = :tenant_id;

-- name: heartbeat_tenant_lease$
update lookalike_tenant_lease set heartbeat_at = now()
where tenant_id = :tenant_id and run_id = :run_id
returning 1;

-- name: release_tenant_lease$
-- Give the lease up; with a kind, record the run's horizon as that kind's watermark (the run covered every
-- change below it).
with gone as (
  delete from lookalike_tenant_lease where tenant_id = :tenant_id and run_id = :run_id returning horizon
), mark as (
  insert into lookalike_watermark (tenant_id, kind, horizon, run_id)
  select :tenant_id, :kind, horizon, :run_id from gone where :kind::text is not null
  on conflict (tenant_id, kind) do update set horizon = greatest(lookalike_watermark.horizon, excluded.horizon),
    run_id = excluded.run_id, updated_at = now()
  returning 1
)
select count(*) from gone;

-- name: set_watermark!
insert into lookalike_watermark (tenant_id, kind, horizon, run_id)
values (:tenant_id, :kind, :horizon::xid8, :run_id)
on conflict (tenant_id, kind) do update set horizon = greatest(lookalike_watermark.horizon, excluded.horizon),
  run_id = excluded.run_id, updated_at = now();

-- name: set_day_watermarks!
insert into lookalike_day_watermark (event_day, horizon, run_id)
select d, :horizon::xid8, :run_id from unnest(:days::date[]) as d
on conflict (event_day) do update set horizon = greatest(lookalike_day_watermark.horizon, excluded.horizon),
  run_id = excluded.run_id, updated_at = now();

-- name: lease_is_stale$
-- Whether the tenant's lease (if any) missed its heartbeats for longer than its time-to-live.
select coalesce((select heartbeat_at < now() - make_interval(secs => :ttl_seconds)
                 from lookalike_tenant_lease where tenant_id = :tenant_id), true);
