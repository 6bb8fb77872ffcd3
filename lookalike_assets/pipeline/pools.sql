-- name: upsert_profile!
insert into lookalike_seed_profile (tenant_id, audience_id, profile, seed_count, weight_total, seed_hash, model_version)
values (:tenant_id, :audience_id, :profile, :seed_count, :weight_total, :seed_hash, :model_version)
on conflict (tenant_id, audience_id) do update set
  profile = excluded.profile, seed_count = excluded.seed_count, weight_total = excluded.weight_total,
  seed_hash = excluded.seed_hash, model_version = excluded.model_version, computed_at = now()
where lookalike_seed_profile.seed_hash <> excluded.seed_hash
   or lookalike_seed_profile.model_version <> excluded.model_version;

-- name: profiles
select p.audience_id, a.name, p.profile, p.seed_count, p.model_version, a.metadata
from lookalike_seed_profile p join lookalike_audience a using (tenant_id, audience_id)
where p.tenant_id = :tenant_id and a.status <> 'retired' order by a.name;

-- name: scored_lead_count$
-- Leads the champion scored (0 when the tenant has no ranking model), leaving out some.
select count(*) from lookalike_lead_score where tenant_id = :tenant_id and lead_id <> all(:exclude::uuid[]);

-- name: top_scored_leads
-- The top :n leads by the champion's score, leaving out some (seeds, suppressed).
select lead_id, score from lookalike_lead_score
where tenant_id = :tenant_id and lead_id <> all(:exclude::uuid[])
order by score desc, lead_id
limit :n;

-- name: clear_pool_stage!
delete from lookalike_pool_stage where tenant_id = :tenant_id and audience_id = :audience_id;

-- name: create_pool_copy#
create temp table pool_copy (lead_id uuid, similarity_score real, rank_score real, decile smallint,
                             reasons jsonb) on commit drop;

-- name: copy_pool_copy!
copy pool_copy (lead_id, similarity_score, rank_score, decile, reasons) from stdin;

-- name: stage_pool!
insert into lookalike_pool_stage (tenant_id, audience_id, lead_id, similarity_score, rank_score, decile, reasons,
                                  run_id)
select :tenant_id, :audience_id, lead_id, similarity_score, rank_score, decile, reasons, :run_id from pool_copy;

-- name: staged_pool_preview
select l.external_id, l.title, l.industry, s.rank_score, s.similarity_score, s.decile, s.reasons
from lookalike_pool_stage s join leads l using (tenant_id, lead_id)
where s.tenant_id = :tenant_id and s.audience_id = :audience_id
order by coalesce(s.rank_score, s.similarity_score) desc, s.lead_id limit :n;
