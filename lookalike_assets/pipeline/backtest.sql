-- name: delete_tenant!
-- Admin connection: a tenant and everything of it (cascades).
delete from tenants where tenant_id = :tenant_id;

-- name: backtest_reset^
-- Between backtest trials: forget seeds, outcomes, models, scores, pools and members (the leads and embeddings
-- stay).
with conv as (delete from lookalike_conversion where tenant_id = :tenant_id returning 1),
     exposure as (delete from lookalike_exposure where tenant_id = :tenant_id returning 1),
     stage as (delete from lookalike_pool_stage where tenant_id = :tenant_id returning 1),
     scores as (delete from lookalike_lead_score where tenant_id = :tenant_id returning 1),
     models as (delete from lookalike_ranking_model where tenant_id = :tenant_id returning 1),
     seeds as (delete from lookalike_seed where tenant_id = :tenant_id returning 1),
     cands as (delete from lookalike_candidate where tenant_id = :tenant_id returning 1),
     profiles as (delete from lookalike_seed_profile where tenant_id = :tenant_id returning 1)
select (select count(*) from conv), (select count(*) from models), (select count(*) from seeds),
       (select count(*) from cands), (select count(*) from profiles);

-- name: backtest_expose!
-- The revealed rows were shown to the market: exported in the audience.
insert into lookalike_exposure (tenant_id, audience_id, lead_id)
select :tenant_id, :audience_id, unnest(:lead_ids::uuid[])
on conflict do nothing;

-- name: backtest_members
-- An audience's members in the order it is cut by.
select c.lead_id from lookalike_audience_member m
join lookalike_candidate c using (tenant_id, candidate_id)
where m.tenant_id = :tenant_id and m.audience_id = :audience_id
order by coalesce(c.rank_score, c.similarity_score) desc, c.lead_id;

-- name: backtest_lead_scores
select lead_id, score from lookalike_lead_score where tenant_id = :tenant_id;

-- name: backtest_profile$
select profile from lookalike_seed_profile where tenant_id = :tenant_id and audience_id = :audience_id;

-- name: lead_external_ids
select lead_id, external_id from leads where tenant_id = :tenant_id order by external_id;
