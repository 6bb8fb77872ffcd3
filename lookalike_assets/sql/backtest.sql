-- name: delete_tenant!
-- Admin connection: a tenant and everything of it (cascades).
delete from tenants where tenant_id = :tenant_id;

-- name: backtest_reset^
-- Between backtest trials: forget seeds, outcomes, models and pools (the leads and embeddings stay).
with conv as (delete from lookalike_conversion where tenant_id = :tenant_id returning 1),
     models as (delete from lookalike_ranking_model where tenant_id = :tenant_id returning 1),
     seeds as (delete from lookalike_seed where tenant_id = :tenant_id returning 1),
     cands as (delete from lookalike_candidate where tenant_id = :tenant_id returning 1),
     profiles as (delete from lookalike_seed_profile where tenant_id = :tenant_id returning 1)
select (select count(*) from conv), (select count(*) from models), (select count(*) from seeds),
       (select count(*) from cands), (select count(*) from profiles);

-- name: backtest_expose!
-- The revealed rows were shown to the market: their candidates count as exposed.
update lookalike_candidate set status = 'exported' where tenant_id = :tenant_id and lead_id = any(:lead_ids);

-- name: candidate_scores
select lead_id, similarity_score, rank_score from lookalike_candidate where tenant_id = :tenant_id;

-- name: lead_external_ids
select lead_id, external_id from leads where tenant_id = :tenant_id;
