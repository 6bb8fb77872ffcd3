-- name: reach_curves
-- Each audience's reach-precision curve (as of the marts' last build), in a tenant transaction.
select audience_id, threshold, audience_size, conversions
from marts.mart_reach_precision_curve
where tenant_id = :tenant_id
order by audience_id, point;

-- name: tenant_tuning$
select settings -> 'tuning' from tenants where tenant_id = :tenant_id;

-- name: auto_tuned_audiences
select audience_id, name, rules from lookalike_audience
where tenant_id = :tenant_id and status <> 'retired' and coalesce((rules ->> 'auto_tune')::boolean, false)
order by name;

-- name: set_audience_reach!
update lookalike_audience set rules = jsonb_set(rules, '{reach}', :reach::jsonb, true)
where tenant_id = :tenant_id and audience_id = :audience_id;

-- name: log_tuning!
insert into lookalike_tuning_log (tenant_id, audience_id, before, after, basis, reason)
values (:tenant_id, :audience_id, :before::jsonb, :after::jsonb, :basis, :reason);

-- name: tuning_history
select changed_at, before, after, basis, reason from lookalike_tuning_log
where tenant_id = :tenant_id and audience_id = :audience_id
order by changed_at desc, tuning_id desc limit :n;

-- name: set_tenant_tuning!
update tenants set settings = jsonb_set(settings, '{tuning}', :tuning::jsonb, true) where tenant_id = :tenant_id;
