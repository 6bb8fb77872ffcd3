-- name: leads_to_embed
-- Leads whose features changed since their embedding, or whose embedding came from another model.
select f.lead_id, f.features, f.text_blob, f.content_hash, l.external_id
from lead_features f
join leads l on l.tenant_id = f.tenant_id and l.lead_id = f.lead_id
left join lead_embeddings e on e.tenant_id = f.tenant_id and e.lead_id = f.lead_id
where f.tenant_id = :tenant_id
  and (e.lead_id is null or e.content_hash <> f.content_hash or e.model_version <> :model_version)
order by f.lead_id;

-- name: create_embeddings_stage#
create temp table embeddings_stage (lead_id uuid, content_hash text, embedding vector(512)) on commit drop;

-- name: copy_embeddings_stage!
copy embeddings_stage (lead_id, content_hash, embedding) from stdin (format binary);

-- name: merge_embeddings_stage$
with up as (
  insert into lead_embeddings as e (tenant_id, lead_id, embedding, content_hash, model_version)
  select :tenant_id, s.lead_id, s.embedding, s.content_hash, :model_version from embeddings_stage s
  on conflict (tenant_id, lead_id) do update set
    embedding = excluded.embedding, content_hash = excluded.content_hash,
    model_version = excluded.model_version, computed_at = now()
  returning 1
)
select count(*) from up;

-- name: embedding_coverage^
select (select count(*) from leads where tenant_id = :tenant_id) as leads,
       (select count(*) from lead_embeddings where tenant_id = :tenant_id) as embedded,
       (select count(*) from lead_embeddings e join lead_features f using (tenant_id, lead_id)
         where e.tenant_id = :tenant_id and (e.content_hash <> f.content_hash or e.model_version <> :model_version)) as stale;

-- name: copy_tenant_vectors
-- Every embedding of the current tenant, for exact search (binary COPY, parsed in bulk).
copy (select lead_id, embedding from lead_embeddings where tenant_id = :tenant_id) to stdout (format binary);

-- name: seed_vectors
select s.seed_id, s.lead_id, s.label, s.weight, e.embedding
from lookalike_seed s
left join lead_embeddings e on e.tenant_id = s.tenant_id and e.lead_id = s.lead_id
where s.tenant_id = :tenant_id and s.deleted_at is null
order by s.seed_id;

-- name: live_seeds
-- Live seeds and whether they are embedded, without reading the vectors.
select s.seed_id, s.lead_id, s.label, s.weight, (e.lead_id is not null) as embedded
from lookalike_seed s
left join lead_embeddings e on e.tenant_id = s.tenant_id and e.lead_id = s.lead_id
where s.tenant_id = :tenant_id and s.deleted_at is null
order by s.seed_id;

-- name: sample_text_blobs
-- Distinct non-empty texts of the tenant, a deterministic sample (for the text calibration).
select text_blob from (select distinct text_blob from lead_features
                       where tenant_id = :tenant_id and text_blob <> '') t
order by md5(text_blob) limit :n;

-- name: tenant_ann_index$
select lookalike_tenant_ann_index(:tenant_id, :min_rows);
