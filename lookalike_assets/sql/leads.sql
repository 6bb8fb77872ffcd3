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
-- Upsert the staged leads by external id; counts what was inserted and what changed.
with merged as (
  insert into leads as l (tenant_id, lead_id, external_id, email, phone, first_name, last_name, company,
    industry, company_size, country, region, title, seniority, bio, property_type, email_opens, web_visits,
    last_activity_at, attributes)
  select :tenant_id, coalesce(s.lead_id, gen_random_uuid()), s.external_id, s.email, s.phone, s.first_name,
    s.last_name, s.company, s.industry, s.company_size, s.country, s.region, s.title, s.seniority, s.bio,
    s.property_type, s.email_opens, s.web_visits, s.last_activity_at, coalesce(s.attributes, '{}'::jsonb)
  from leads_stage s
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
select count(*) filter (where inserted) as inserted, count(*) filter (where not inserted) as updated
from merged;

-- name: stream_leads_for_features
-- Every column a feature spec may name: the dedicated columns and the imported attributes.
select lead_id, external_id, company, industry, company_size, country, region, title, seniority, bio,
       property_type, email_opens, web_visits, last_activity_at, attributes
from leads where tenant_id = :tenant_id order by lead_id;

-- name: upsert_propensity*!
insert into demo_lead_propensity (tenant_id, lead_id, propensity)
values (:tenant_id, :lead_id, :propensity)
on conflict (tenant_id, lead_id) do update set propensity = excluded.propensity;
