-- name: tenant_settings$
select settings from tenants where tenant_id = :tenant_id;

-- name: set_tenant_ranking_settings!
-- Admin connection.
update tenants set settings = jsonb_set(settings, '{ranking}', :ranking::jsonb, true) where tenant_id = :tenant_id;

-- name: lead_features_of
-- Some leads' external ids and features.
select f.lead_id, l.external_id, f.features
from lead_features f join leads l using (tenant_id, lead_id)
where f.tenant_id = :tenant_id and f.lead_id = any(:lead_ids)
order by f.lead_id;

-- name: copy_vectors_of
-- Some leads' embeddings (binary COPY, parsed in bulk).
copy (select lead_id, embedding from lead_embeddings where tenant_id = :tenant_id and lead_id = any(:lead_ids)
      order by lead_id) to stdout (format binary);

-- name: embedded_lead_ids
select lead_id from lead_embeddings where tenant_id = :tenant_id order by lead_id;

-- name: stable_lead_sample
-- A sample of the tenant's embedded leads that does not depend on when or in which order they were imported:
-- ordered by a hash of their external id (and a salt), the first :n.
select l.lead_id from leads l join lead_embeddings e using (tenant_id, lead_id)
where l.tenant_id = :tenant_id and not l.is_seed
order by md5(:salt || ':' || l.external_id), l.external_id
limit :n;

-- name: live_seed_leads_embedded
select distinct s.lead_id from lookalike_seed s
join lead_embeddings e on e.tenant_id = s.tenant_id and e.lead_id = s.lead_id
where s.tenant_id = :tenant_id and s.deleted_at is null
order by s.lead_id;

-- name: labelled_outcomes
-- Leads with a known outcome: exposed (exported in an audience) or converted, with when it became known: the
-- first event that came back for the lead, or else its first export. History kept whatever pools become.
with exposed as (
  select lead_id, min(first_exported_at) as exposed_at from lookalike_exposure
  where tenant_id = :tenant_id group by lead_id
), converted as (
  select lead_id, min(occurred_at) as converted_at from lookalike_conversion
  where tenant_id = :tenant_id and event_type = any(:conversion_types) group by lead_id
), events as (
  select lead_id, min(occurred_at) as first_event_at from lookalike_conversion
  where tenant_id = :tenant_id group by lead_id
)
select coalesce(x.lead_id, c.lead_id) as lead_id, (c.lead_id is not null) as converted,
       coalesce(e.first_event_at, x.exposed_at, c.converted_at) as known_at
from exposed x
full join converted c on c.lead_id = x.lead_id
left join events e on e.lead_id = coalesce(x.lead_id, c.lead_id)
order by 1;

-- name: champion_model^
select model_id, version, kind, model_text, metrics, trained_at,
       coalesce(eval_model_text, model_text) as eval_model_text
from lookalike_ranking_model
where tenant_id = :tenant_id and status = 'champion';

-- name: champion_model_id^
select model_id, version from lookalike_ranking_model where tenant_id = :tenant_id and status = 'champion';

-- name: vectors_written_at$
-- When the vectors of some leads were last written (part of the key of a cached scorer).
select max(computed_at) from lead_embeddings where tenant_id = :tenant_id and lead_id = any(:lead_ids::uuid[]);

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

-- name: create_score_stage#
create temp table score_stage (lead_id uuid primary key, score real) on commit drop;

-- name: copy_score_stage!
copy score_stage (lead_id, score) from stdin;

-- name: insert_lead_scores!
-- The champion's scores of every lead of the tenant (after clear_lead_scores, in the same transaction).
insert into lookalike_lead_score (tenant_id, lead_id, model_id, score)
select :tenant_id, s.lead_id, :model_id, s.score from score_stage s;

-- name: clear_lead_scores!
delete from lookalike_lead_score where tenant_id = :tenant_id;

-- name: model_history
select version, kind, status, metrics, trained_at, promoted_at from lookalike_ranking_model
where tenant_id = :tenant_id order by version desc limit :n;
