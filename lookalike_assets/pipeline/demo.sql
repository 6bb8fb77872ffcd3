-- name: demo_seed!
insert into lookalike_seed (tenant_id, seed_id, lead_id, label, source)
values (:tenant_id, :seed_id, :lead_id, :label, 'demo')
on conflict (tenant_id, seed_id) do nothing;

-- name: demo_audience!
insert into lookalike_audience (tenant_id, audience_id, name, seed_set, rules, metadata)
values (:tenant_id, :audience_id, :name, :seed_set, :rules, :metadata)
on conflict (tenant_id, audience_id) do update set
  seed_set = excluded.seed_set, rules = excluded.rules,
  metadata = lookalike_audience.metadata || excluded.metadata;

-- name: retire_other_demo_seeds!
-- A re-run of the demo with other parameters soft-deletes the demo seeds it no longer picks.
update lookalike_seed set deleted_at = now()
where tenant_id = :tenant_id and source = 'demo' and deleted_at is null and seed_id <> all(:seed_ids);
