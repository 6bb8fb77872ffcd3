-- name: tenant_blockers
-- Sessions of tenants' own logins that a platform session has waited on for a lock longer than :grace_seconds:
-- the waiter (the platform's: the owner or a service login) and the blocker (a login in lookalike_tenant_role).
select distinct b.pid as blocker, b.usename as role, b.state, w.pid as waiter, w.usename as waiter_role,
       extract(epoch from now() - w.query_start)::float8 as waited
from pg_stat_activity w
cross join lateral unnest(pg_blocking_pids(w.pid)) as bp(pid)
join pg_stat_activity b on b.pid = bp.pid
join lookalike_tenant_role t on t.role_name::text = b.usename::text
where w.wait_event_type = 'Lock'
  and w.pid <> pg_backend_pid()
  and not exists (select 1 from lookalike_tenant_role t2 where t2.role_name::text = w.usename::text)
  and now() - w.query_start > make_interval(secs => :grace_seconds);

-- name: end_session$
select pg_terminate_backend(:pid);
