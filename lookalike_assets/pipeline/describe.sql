-- name: catalog_values
-- Values of the categorical lead fields and of imported text columns, most frequent first, over a bounded sample of
-- the tenant's leads (what a description is matched against).
with sample as (
  select industry, country, region, title, seniority, property_type, attributes
  from leads where tenant_id = :tenant_id limit 200000
)
select field, value, count(*) as n from (
  select 'industry' as field, industry as value from sample
  union all select 'country', country from sample
  union all select 'region', region from sample
  union all select 'title', title from sample
  union all select 'seniority', seniority from sample
  union all select 'property_type', property_type from sample
  union all select 'attributes.' || a.key, a.value from sample s, jsonb_each_text(s.attributes) a
  where jsonb_typeof(s.attributes -> a.key) in ('string', 'boolean')
) v
where value is not null and btrim(value) <> ''
group by field, value
order by field, n desc, value;

-- name: catalog_presence^
-- Which number and date fields of the tenant hold any value.
select count(company_size) as company_size, count(email_opens) as email_opens, count(web_visits) as web_visits,
       count(last_activity_at) as last_activity_at
from leads where tenant_id = :tenant_id;

-- name: live_seed_labels
select label, count(*) from lookalike_seed where tenant_id = :tenant_id and deleted_at is null group by label;

-- name: numeric_stats
-- The imported number columns' range, whether every value is whole, and their values when there are few (what a
-- column's unit and kind are inferred from: 0/1 flags, small counts, calendar years).
with sample as (select attributes from leads where tenant_id = :tenant_id limit 200000),
nums as (
  select a.key, (a.value)::numeric as v
  from sample s, jsonb_each_text(s.attributes) a
  where jsonb_typeof(s.attributes -> a.key) = 'number'
)
select key, min(v)::float8 as minimum, max(v)::float8 as maximum, bool_and(v = trunc(v)) as integral,
       count(distinct v) as distinct_values,
       (array_agg(distinct v::float8 order by v::float8))[1 : 12] as few_values
from nums group by key;

-- name: column_corrections
-- The tenant's corrections of its columns' meanings (empty ones are none).
select column_name, correction from lookalike_column_meaning
where tenant_id = :tenant_id and correction <> '{}'::jsonb;

-- name: put_column_correction!
insert into lookalike_column_meaning (tenant_id, column_name, correction)
values (:tenant_id, :column_name, :correction::jsonb)
on conflict (tenant_id, column_name) do update set correction = excluded.correction, updated_at = now();

-- name: set_glossary!
-- The tenant's own abbreviations for the reader of descriptions (settings.describe.glossary), replaced whole.
update tenants
   set settings = jsonb_set(coalesce(settings, '{}'::jsonb), '{describe}',
                            coalesce(settings -> 'describe', '{}'::jsonb) || jsonb_build_object('glossary', :glossary::jsonb),
                            true)
 where tenant_id = :tenant_id;
