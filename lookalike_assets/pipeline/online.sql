-- name: lead_vector^
-- One lead's vector by lead id (:ref_id, when the reference is one) or external id; the id first.
select l.lead_id, l.external_id, e.embedding
from leads l left join lead_embeddings e using (tenant_id, lead_id)
where l.tenant_id = :tenant_id and (l.lead_id = :ref_id::uuid or l.external_id = :ref)
order by coalesce(l.lead_id = :ref_id::uuid, false) desc limit 1;

-- name: set_ef_search!
-- How many candidates the approximate index keeps while searching (this transaction only): at least twice k.
select set_config('hnsw.ef_search', :ef::text, true);

-- name: nearest_leads
-- Nearest neighbours among the tenant's own vectors. A large tenant has a partial HNSW index of its own
-- (lookalike_tenant_ann_index): the inner query, ordered by distance alone, is what that index answers; a small
-- tenant's rows are scanned exactly. Ties are broken by lead id outside.
select n.lead_id, l.external_id, n.embedding, n.similarity
from (
  select e.lead_id, e.embedding, 1 - (e.embedding <=> :vector) as similarity
  from lead_embeddings e
  where e.tenant_id = :tenant_id and e.lead_id <> all(:exclude::uuid[])
  order by e.embedding <=> :vector
  limit :k
) n
join leads l on l.tenant_id = :tenant_id and l.lead_id = n.lead_id
order by n.similarity desc, n.lead_id;

-- name: nearest_leads_exact
-- The same, never through an approximate index (the order is by an expression no index has): the reference
-- for recall, and the fallback when the index returned fewer than k rows.
select n.lead_id, l.external_id, n.embedding, n.similarity
from (
  select e.lead_id, e.embedding, 1 - (e.embedding <=> :vector) as similarity
  from lead_embeddings e
  where e.tenant_id = :tenant_id and e.lead_id <> all(:exclude::uuid[])
  order by (e.embedding <=> :vector) + 0
  limit :k
) n
join leads l on l.tenant_id = :tenant_id and l.lead_id = n.lead_id
order by n.similarity desc, n.lead_id;

-- name: eligible_count$
select count(*) from lead_embeddings where tenant_id = :tenant_id and lead_id <> all(:exclude::uuid[]);

-- name: published_profiles
select p.audience_id, a.name, p.profile
from lookalike_seed_profile p join lookalike_audience a using (tenant_id, audience_id)
where p.tenant_id = :tenant_id and a.status = 'published' order by a.name;

-- name: nearest_customer^
-- The existing customer (a live 'won' seed or a closed deal) most like a vector; exact (an approximate index
-- would search all leads and filter afterwards, and could miss every customer).
with customers as (
  select lead_id from lookalike_seed where tenant_id = :tenant_id and deleted_at is null and label = 'won'
  union
  select lead_id from lookalike_conversion where tenant_id = :tenant_id and event_type = 'deal_closed'
)
select e.lead_id, 1 - (e.embedding <=> :vector) as similarity
from lead_embeddings e join customers c using (lead_id)
where e.tenant_id = :tenant_id
order by (e.embedding <=> :vector) + 0 limit 1;

-- name: duplicate_lead^
-- A stored lead with the same external id or the same normalized email.
select lead_id from leads
where tenant_id = :tenant_id
  and ((:external_id::text is not null and external_id = :external_id)
       or (:email::text is not null and lower(btrim(email)) = :email))
order by (external_id = :external_id) desc nulls last, lead_id limit 1;

-- name: audience_deciles
-- The lowest score of each decile of an audience's pool, in the order it is cut by.
select decile, min(coalesce(rank_score, similarity_score)) as floor
from lookalike_candidate where tenant_id = :tenant_id and audience_id = :audience_id
group by decile order by decile desc;

-- name: insert_job^
insert into lookalike_api_job (tenant_id, kind, audience_id, platform)
values (:tenant_id, :kind, :audience_id, :platform)
returning job_id, created_at;

-- name: get_job^
select j.job_id, j.kind, j.audience_id, j.platform, j.created_at, t.slug
from lookalike_api_job j join tenants t using (tenant_id)
where j.tenant_id = :tenant_id and j.job_id::text = :job_id;

-- name: members_page
-- An audience's members, best first, from a cursor (the last row's order key). The scores are `real`: the key is
-- read and compared as float8 (exact widening), so the cursor carries the very value it is compared with; a
-- float4 read as its shortest decimal and widened again is not the same number, and a page would repeat a row.
select c.candidate_id, l.lead_id, l.external_id, c.similarity_score, c.rank_score, c.decile, c.reasons,
       s.segment_no, m.arm, coalesce(c.rank_score, c.similarity_score)::float8 as score
from lookalike_audience_member m
join lookalike_candidate c using (tenant_id, candidate_id)
join leads l on l.tenant_id = c.tenant_id and l.lead_id = c.lead_id
left join lookalike_segment_member s
  on s.tenant_id = m.tenant_id and s.audience_id = m.audience_id and s.candidate_id = m.candidate_id
where m.tenant_id = :tenant_id and m.audience_id = :audience_id
  and (:after_score::float8 is null
       or (coalesce(c.rank_score, c.similarity_score)::float8, c.candidate_id) < (:after_score::float8, :after_id::uuid))
order by coalesce(c.rank_score, c.similarity_score) desc, c.candidate_id desc
limit :n;

-- name: live_seed_ids
select s.seed_id from lookalike_seed s join leads l using (tenant_id, lead_id)
where s.tenant_id = :tenant_id and s.deleted_at is null and s.label = :label
  and (l.external_id = any(:refs) or l.lead_id = any(:ids::uuid[]))
order by s.seed_id;

-- name: candidate_lead^
select lead_id from lookalike_candidate
where tenant_id = :tenant_id and audience_id = :audience_id and candidate_id = :candidate_id;

-- name: event_time^
select occurred_at from lookalike_conversion where tenant_id = :tenant_id and event_id = :event_id;

-- name: member_count$
select count(*) from lookalike_audience_member where tenant_id = :tenant_id and audience_id = :audience_id;

-- name: audience_summary^
-- An audience's row of the summary mart (as of the marts' last build).
select audience_name, status, members, candidates, seeds, embedding_coverage, last_refresh_at, conversions,
       conversion_rate, candidate_conversions, candidate_conversion_rate, tenant_base_rate, conversion_value,
       last_export_status, last_export_at
from marts.mart_audience_summary where tenant_id = :tenant_id and audience_id = :audience_id;

-- name: audience_deciles_performance
-- Conversion by decile of the pool (10 = the best tenth), from the decile mart.
select decile, min_similarity, max_similarity, members, member_conversions, conversion_rate, lift_vs_audience,
       lift_vs_base, candidates, candidate_conversions, candidate_conversion_rate
from marts.mart_audience_performance_by_decile
where tenant_id = :tenant_id and audience_id = :audience_id order by decile desc;
