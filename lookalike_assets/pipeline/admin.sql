-- name: create_tenant$
insert into tenants (slug, name) values (:slug, :name) returning tenant_id::text;

-- name: resolve_leads
-- Leads of the current tenant by external id or lead id (:ids, the refs that are ids: pipeline/common.uuid_refs).
select l.lead_id, l.external_id from leads l
where l.tenant_id = :tenant_id and (l.external_id = any(:refs) or l.lead_id = any(:ids::uuid[]));

-- name: insert_seed$
insert into lookalike_seed (tenant_id, lead_id, label, weight, source)
values (:tenant_id, :lead_id, :label, :weight, :source)
on conflict (tenant_id, lead_id, label) where deleted_at is null do nothing
returning seed_id;

-- name: list_seeds
select s.seed_id, l.external_id, s.label, s.weight, s.source, s.created_at, s.deleted_at
from lookalike_seed s join leads l using (tenant_id, lead_id)
where s.tenant_id = :tenant_id and (:include_deleted or s.deleted_at is null)
order by s.created_at, l.external_id;

-- name: seed_page
-- A page of the tenant's live seeds in the order they were added, after a position (created_at, seed_id)
-- compared as the same types it was read in.
select s.seed_id, l.external_id, s.label, s.weight, s.source, s.created_at
from lookalike_seed s join leads l using (tenant_id, lead_id)
where s.tenant_id = :tenant_id and s.deleted_at is null
  and (:after_at::timestamptz is null or (s.created_at, s.seed_id) > (:after_at::timestamptz, :after_id::uuid))
order by s.created_at, s.seed_id
limit :limit;

-- name: soft_delete_seeds$
with gone as (
  update lookalike_seed s set deleted_at = now()
  from leads l
  where l.tenant_id = s.tenant_id and l.lead_id = s.lead_id and s.tenant_id = :tenant_id and s.deleted_at is null
    and (s.seed_id = any(:ids::uuid[]) or l.external_id = any(:refs) or l.lead_id = any(:ids::uuid[]))
    and (:label::text is null or s.label = :label)
  returning 1
)
select count(*) from gone;

-- name: insert_audience$
insert into lookalike_audience (tenant_id, name, description, seed_set, rules, metadata)
values (:tenant_id, :name, :description, :seed_set, :rules, :metadata)
returning audience_id;

-- name: find_audience^
select audience_id, name, description, seed_set, rules, metadata, status, size_estimate, updated_at
from lookalike_audience
where tenant_id = :tenant_id and (name = :ref or audience_id::text = :ref);

-- name: set_audience_status$
update lookalike_audience set status = :status
where tenant_id = :tenant_id and audience_id = :audience_id and status <> :status
returning audience_id;

-- name: list_audiences
select audience_id, name, status, size_estimate, updated_at from lookalike_audience
where tenant_id = :tenant_id order by name;

-- name: top_members
select l.external_id, c.similarity_score, c.rank_score, c.decile, c.reasons, c.status
from lookalike_audience_member m
join lookalike_candidate c on c.tenant_id = m.tenant_id and c.candidate_id = m.candidate_id
join leads l on l.tenant_id = c.tenant_id and l.lead_id = c.lead_id
where m.tenant_id = :tenant_id and m.audience_id = :audience_id
order by coalesce(c.rank_score, c.similarity_score) desc, l.external_id
limit :n;

-- name: count_members$
select count(*) from lookalike_audience_member where tenant_id = :tenant_id and audience_id = :audience_id;

-- name: delete_leads
-- Leads of the current tenant by external id or lead id; everything of them goes with them (features, embedding,
-- seeds, candidates and memberships, conversions).
delete from leads l
where l.tenant_id = :tenant_id and (l.external_id = any(:refs) or l.lead_id = any(:ids::uuid[]))
returning l.external_id;

-- name: update_audience^
-- Change what people define: name, description, seed set, rules, metadata (only the values given).
update lookalike_audience set
  name = coalesce(:name, name),
  description = coalesce(:description, description),
  seed_set = coalesce(:seed_set, seed_set),
  rules = coalesce(:rules, rules),
  metadata = metadata || coalesce(:metadata, '{}'::jsonb)
where tenant_id = :tenant_id and audience_id = :audience_id
returning audience_id, name;

-- name: delete_audience$
delete from lookalike_audience where tenant_id = :tenant_id and audience_id = :audience_id returning name;

-- name: add_suppression$
insert into suppression_list (tenant_id, lead_id, email_sha256, reason)
select :tenant_id, :lead_id, :email_sha256, :reason
where not exists (select 1 from suppression_list s where s.tenant_id = :tenant_id
                    and s.lead_id is not distinct from :lead_id and s.email_sha256 is not distinct from :email_sha256)
returning suppression_id;

-- name: list_suppression
select s.suppression_id, l.external_id, s.email_sha256, s.reason, s.created_at
from suppression_list s left join leads l on l.tenant_id = s.tenant_id and l.lead_id = s.lead_id
where s.tenant_id = :tenant_id order by s.created_at, s.suppression_id;

-- name: remove_suppression$
with gone as (
  delete from suppression_list s using (select 1) one
  where s.tenant_id = :tenant_id and (s.suppression_id = any(:ids::uuid[]) or s.email_sha256 = any(:hashes)
    or s.lead_id in (select lead_id from leads where tenant_id = :tenant_id
                     and (external_id = any(:refs) or lead_id = any(:ids::uuid[]))))
  returning 1
)
select count(*) from gone;

-- name: erasure_leads
-- The leads to erase: by external id or lead id, and by (trimmed, lower-cased) email.
select l.lead_id, l.external_id, l.email, l.phone, l.country from leads l
where l.tenant_id = :tenant_id
  and (l.external_id = any(:refs) or l.lead_id = any(:ids::uuid[]) or lower(btrim(l.email)) = any(:emails));

-- name: erasure_counts^
-- What goes with these leads (for the audit row: counts only).
select (select count(*) from lead_features where tenant_id = :tenant_id and lead_id = any(:lead_ids)),
       (select count(*) from lead_embeddings where tenant_id = :tenant_id and lead_id = any(:lead_ids)),
       (select count(*) from lookalike_seed where tenant_id = :tenant_id and lead_id = any(:lead_ids)),
       (select count(*) from lookalike_candidate where tenant_id = :tenant_id and lead_id = any(:lead_ids)),
       (select count(*) from lookalike_audience_member m join lookalike_candidate c using (tenant_id, candidate_id)
         where m.tenant_id = :tenant_id and c.lead_id = any(:lead_ids)),
       (select count(*) from lookalike_conversion where tenant_id = :tenant_id and lead_id = any(:lead_ids)),
       (select count(*) from lookalike_conversion_fact where tenant_id = :tenant_id and lead_id = any(:lead_ids));

-- name: erase_quarantined$
-- Quarantined events that name these leads (their raw rows may hold the lead's identifiers): by lead id, external
-- id or candidate id, trimmed and in any case, and by an email or phone of theirs (clear, or hashed as the
-- platforms hash it) anywhere in the raw event, its metadata included. Ids are compared whole (an id such as "1"
-- is a field's value, never a substring); emails, phones and hashes are long enough to be searched for.
with gone as (
  delete from lookalike_conversion_quarantine q
  where q.tenant_id = :tenant_id
    and (lower(btrim(q.raw->>'lead_id')) = any(:lead_ids)
         or lower(btrim(q.raw->>'lead_external_id')) = any(:external_ids)
         or lower(btrim(q.raw->>'external_id')) = any(:external_ids)
         or lower(btrim(q.raw->>'candidate_id')) = any(:candidate_ids)
         or exists (select 1 from unnest(:needles::text[]) n where strpos(lower(q.raw::text), n) > 0))
  returning 1
)
select count(*) from gone;

-- name: candidate_ids_of
select candidate_id::text from lookalike_candidate where tenant_id = :tenant_id and lead_id = any(:lead_ids);

-- name: erase_leads
delete from leads where tenant_id = :tenant_id and lead_id = any(:lead_ids) returning lead_id;

-- name: log_erasure$
insert into lookalike_erasure (tenant_id, leads, counts) values (:tenant_id, :leads, :counts)
returning erasure_id;

-- name: record_erasure_files!
-- The files' part of an erasure (counts only), added to its audit row.
update lookalike_erasure set counts = counts || :counts
where tenant_id = :tenant_id and erasure_id = :erasure_id;

-- name: marts_with_leads
-- Admin: the marts that keep one row per lead (incremental ones keep rows a rebuild would not remove).
select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attname = 'lead_id' and not a.attisdropped
where n.nspname = 'marts' and c.relkind = 'r' order by 1;

-- name: own_seed_ids
-- Which of these seed ids are seeds of this tenant (another tenant's are not visible, so not among them).
select seed_id from lookalike_seed where tenant_id = :tenant_id and seed_id = any(:ids::uuid[]);

-- name: exportable_member_count$
-- An audience's members an export sends (the held-out control arm never is).
select count(*) from lookalike_audience_member
where tenant_id = :tenant_id and audience_id = :audience_id and arm <> 'control';

-- name: last_exports
-- The latest export of each format of an audience (the whole audience, not its segments), with what it left out.
select distinct on (format) format, status, row_count, finished_at, error, note
from lookalike_export_job
where tenant_id = :tenant_id and audience_id = :audience_id and segment_no is null
order by format, started_at desc;
