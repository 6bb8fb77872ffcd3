-- name: create_leads_stage#
-- Staging table for a batch of leads (dropped at commit).
create temp table leads_stage (
  lead_id uuid, external_id text, email text, phone text, first_name text, last_name text, company text,
  industry text, company_size integer, country text, region text, title text, seniority text, bio text,
  property_type text, email_opens integer, web_visits integer, last_activity_at timestamptz,
  attributes jsonb
) on commit drop;

-- name: copy_leads_stage!
copy leads_stage (lead_id, external_id, email, phone, first_name, last_name, company, industry, company_size,
  country, region, title, seniority, bio, property_type, email_opens, web_visits, last_activity_at, attributes)
from stdin;

-- name: merge_leads_stage^
-- Upsert the staged leads by external id. Only the columns the file has (:present, lead field names; and the
-- attribute keys :attribute_keys) are written: a file with a few columns updates those and keeps the rest.
-- Counts what was inserted and what changed.
with merged as (
  select s.external_id,
    coalesce(l.lead_id, s.lead_id, gen_random_uuid()) as lead_id,
    case when 'email' = any(:present) then s.email else l.email end as email,
    case when 'phone' = any(:present) then s.phone else l.phone end as phone,
    case when 'first_name' = any(:present) then s.first_name else l.first_name end as first_name,
    case when 'last_name' = any(:present) then s.last_name else l.last_name end as last_name,
    case when 'company' = any(:present) then s.company else l.company end as company,
    case when 'industry' = any(:present) then s.industry else l.industry end as industry,
    case when 'company_size' = any(:present) then s.company_size else l.company_size end as company_size,
    case when 'country' = any(:present) then s.country else l.country end as country,
    case when 'region' = any(:present) then s.region else l.region end as region,
    case when 'title' = any(:present) then s.title else l.title end as title,
    case when 'seniority' = any(:present) then s.seniority else l.seniority end as seniority,
    case when 'bio' = any(:present) then s.bio else l.bio end as bio,
    case when 'property_type' = any(:present) then s.property_type else l.property_type end as property_type,
    case when 'email_opens' = any(:present) then s.email_opens else l.email_opens end as email_opens,
    case when 'web_visits' = any(:present) then s.web_visits else l.web_visits end as web_visits,
    case when 'last_activity_at' = any(:present) then s.last_activity_at else l.last_activity_at end as last_activity_at,
    (coalesce(l.attributes, '{}'::jsonb) - :attribute_keys::text[]) || coalesce(s.attributes, '{}'::jsonb) as attributes
  from leads_stage s
  left join leads l on l.tenant_id = :tenant_id and l.external_id = s.external_id
), written as (
  insert into leads as l (tenant_id, lead_id, external_id, email, phone, first_name, last_name, company,
    industry, company_size, country, region, title, seniority, bio, property_type, email_opens, web_visits,
    last_activity_at, attributes)
  select :tenant_id, m.lead_id, m.external_id, m.email, m.phone, m.first_name, m.last_name, m.company, m.industry,
    m.company_size, m.country, m.region, m.title, m.seniority, m.bio, m.property_type, m.email_opens, m.web_visits,
    m.last_activity_at, m.attributes
  from merged m
  on conflict (tenant_id, external_id) do update set
    email = excluded.email, phone = excluded.phone, first_name = excluded.first_name,
    last_name = excluded.last_name, company = excluded.company, industry = excluded.industry,
    company_size = excluded.company_size, country = excluded.country, region = excluded.region,
    title = excluded.title, seniority = excluded.seniority, bio = excluded.bio,
    property_type = excluded.property_type, email_opens = excluded.email_opens,
    web_visits = excluded.web_visits, last_activity_at = excluded.last_activity_at,
    attributes = excluded.attributes
  where (l.email, l.phone, l.first_name, l.last_name, l.company, l.industry, l.company_size, l.country,
         l.region, l.title, l.seniority, l.bio, l.property_type, l.email_opens, l.web_visits,
         l.last_activity_at, l.attributes)
     is distinct from
        (excluded.email, excluded.phone, excluded.first_name, excluded.last_name, excluded.company,
         excluded.industry, excluded.company_size, excluded.country, excluded.region, excluded.title,
         excluded.seniority, excluded.bio, excluded.property_type, excluded.email_opens, excluded.web_visits,
         excluded.last_activity_at, excluded.attributes)
  returning (xmax = 0) as inserted
)
select count(*) filter (where inserted) as inserted, count(*) filter (where not inserted) as updated,
       (select count(*) from leads_stage) as staged
from written;

-- name: stream_leads_for_features
-- Every column a feature spec may name: the dedicated columns and the imported attributes.
select lead_id, external_id, company, industry, company_size, country, region, title, seniority, bio,
       property_type, email_opens, web_visits, last_activity_at, attributes
from leads where tenant_id = :tenant_id order by lead_id;

-- name: upsert_propensity*!
insert into demo_lead_propensity (tenant_id, lead_id, propensity)
values (:tenant_id, :lead_id, :propensity)
on conflict (tenant_id, lead_id) do update set propensity = excluded.propensity;
