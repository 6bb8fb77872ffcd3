-- name: tenant_settings$
select settings from tenants where tenant_id = :tenant_id;

-- name: set_tenant_ranking_settings!
-- Admin connection.
update tenants set settings = jsonb_set(settings, '{ranking}', :ranking::jsonb, true) where tenant_id = :tenant_id;

-- name: all_lead_features
select lead_id, features from lead_features where tenant_id = :tenant_id order by lead_id;

-- name: live_seed_leads_embedded
select distinct s.lead_id from lookalike_seed s
join lead_embeddings e on e.tenant_id = s.tenant_id and e.lead_id = s.lead_id
where s.tenant_id = :tenant_id and s.deleted_at is null;

-- name: labelled_outcomes
-- Leads with a known outcome: exposed candidates (exported) and converted ones, with when it became known:
-- the first event that came back for the lead, or else when the candidate was exported.
select c.lead_id,
       bool_or(c.status = 'converted') as converted,
       coalesce(min(cv.occurred_at), max(c.updated_at)) as known_at
from lookalike_candidate c
left join lookalike_conversion cv on cv.tenant_id = c.tenant_id and cv.lead_id = c.lead_id
where c.tenant_id = :tenant_id and c.status in ('exported', 'converted')
group by c.lead_id;

-- name: candidate_leads
select distinct lead_id from lookalike_candidate where tenant_id = :tenant_id;

-- name: champion_model^
select model_id, version, kind, model_text, metrics, trained_at, coalesce(eval_model_text, model_text)
from lookalike_ranking_model
where tenant_id = :tenant_id and status = 'champion';

-- name: next_model_version$
select coalesce(max(version), 0) + 1 from lookalike_ranking_model where tenant_id = :tenant_id;

-- name: retire_champion!
update lookalike_ranking_model set status = 'retired' where tenant_id = :tenant_id and status = 'champion';

-- name: insert_model$
insert into lookalike_ranking_model (tenant_id, version, kind, status, model_text, eval_model_text, features,
                                     metrics, promoted_at, run_id)
values (:tenant_id, :version, :kind, :status, :model_text, :eval_model_text, :features, :metrics,
        case when :status = 'champion' then now() end, :run_id)
returning model_id;

-- name: create_rank_stage#
create temp table rank_stage (lead_id uuid primary key, rank_score real) on commit drop;

-- name: copy_rank_stage!
copy rank_stage (lead_id, rank_score) from stdin;

-- name: apply_rank_stage$
with up as (
  update lookalike_candidate c set rank_score = s.rank_score
  from rank_stage s
  where c.tenant_id = :tenant_id and c.lead_id = s.lead_id and c.rank_score is distinct from s.rank_score
  returning 1
)
select count(*) from up;

-- name: clear_rank_scores$
with up as (
  update lookalike_candidate set rank_score = null where tenant_id = :tenant_id and rank_score is not null
  returning 1
)
select count(*) from up;

-- name: model_history
select version, kind, status, metrics, trained_at, promoted_at from lookalike_ranking_model
where tenant_id = :tenant_id order by version desc limit :n;
