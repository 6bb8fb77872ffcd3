-- name: feature_hashes
select lead_id, content_hash from lead_features where tenant_id = :tenant_id;

-- name: create_features_stage#
create temp table features_stage (lead_id uuid, features jsonb, text_blob text, content_hash text) on commit drop;

-- name: copy_features_stage!
copy features_stage (lead_id, features, text_blob, content_hash) from stdin;

-- name: merge_features_stage$
with up as (
  insert into lead_features as f (tenant_id, lead_id, features, text_blob, content_hash, feature_version)
  select :tenant_id, s.lead_id, s.features, s.text_blob, s.content_hash, :feature_version from features_stage s
  on conflict (tenant_id, lead_id) do update set
    features = excluded.features, text_blob = excluded.text_blob, content_hash = excluded.content_hash,
    feature_version = excluded.feature_version, computed_at = now()
  where f.content_hash is distinct from excluded.content_hash
  returning 1
)
select count(*) from up;

-- name: feature_summary^
-- What the features hold, in counts only (never a lead's content: metadata goes to Dagster's storage, which
-- erasure cannot reach): leads with words to embed, and the mean length of their text.
select count(*) as leads, count(*) filter (where coalesce(f.text_blob, '') <> '') as with_text,
       round(avg(length(f.text_blob)) filter (where coalesce(f.text_blob, '') <> ''))::int as mean_text_chars
from lead_features f where f.tenant_id = :tenant_id;
