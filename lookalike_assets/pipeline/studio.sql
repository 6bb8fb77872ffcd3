-- The studio's reads: one tenant's audiences as a marketer sees them (names and figures, never ids on screen).

-- name: audiences
-- Every audience with its status, size, seeds, last refresh and the last export per format.
select a.audience_id, a.name, a.description, a.status, a.size_estimate, a.seed_set, a.rules, a.updated_at,
       a.metadata->'membership'->>'refreshed_at' as refreshed_at,
       a.metadata->'membership'->>'skipped' as skipped,
       p.seed_count,
       coalesce((select jsonb_agg(jsonb_build_object('format', e.format, 'status', e.status, 'rows', e.row_count,
                                                     'at', e.started_at) order by e.format)
                 from (select distinct on (j.format) j.format, j.status, j.row_count, j.started_at
                       from lookalike_export_job j
                       where j.tenant_id = a.tenant_id and j.audience_id = a.audience_id and j.segment_no is null
                       order by j.format, j.started_at desc) e), '[]'::jsonb) as exports
from lookalike_audience a
left join lookalike_seed_profile p on p.tenant_id = a.tenant_id and p.audience_id = a.audience_id
where a.tenant_id = :tenant_id
order by a.name;

-- name: top_decile_rates
-- From the marts (as of their last build): the conversion rate of each audience's best tenth.
select audience_id, conversion_rate, members from marts.mart_audience_performance_by_decile
where tenant_id = :tenant_id and decile = 10;

-- name: holdout_lifts
select audience_id, absolute_lift, ci_low, ci_high, significant, treatment_rate, control_rate, treatment_members,
       control_members
from marts.mart_audience_incrementality where tenant_id = :tenant_id and period = 'all';

-- name: reach_curve
select point, threshold, audience_size, conversions, conversion_rate from marts.mart_reach_precision_curve
where tenant_id = :tenant_id and audience_id = :audience_id order by point;

-- name: deciles
select decile, members, member_conversions, conversion_rate, lift_vs_base from marts.mart_audience_performance_by_decile
where tenant_id = :tenant_id and audience_id = :audience_id order by decile desc;

-- name: member_count$
select count(*) from lookalike_audience_member where tenant_id = :tenant_id and audience_id = :audience_id;

-- name: members
-- One page of an audience's members with the lead fields a person recognizes. :sort is one of a fixed list.
select c.candidate_id, l.external_id, nullif(concat_ws(' ', l.first_name, l.last_name), '') as person, l.company,
       l.title, l.industry, l.country, c.similarity_score, c.rank_score, c.decile, c.reasons, m.arm, s.segment_no,
       percent_rank() over (order by coalesce(c.rank_score, c.similarity_score)) as percentile
from lookalike_audience_member m
join lookalike_candidate c using (tenant_id, candidate_id)
join leads l on l.tenant_id = c.tenant_id and l.lead_id = c.lead_id
left join lookalike_segment_member s
  on s.tenant_id = m.tenant_id and s.audience_id = m.audience_id and s.candidate_id = m.candidate_id
where m.tenant_id = :tenant_id and m.audience_id = :audience_id
order by case when :sort = 'score' then null else
           lower(case :sort when 'name' then concat_ws(' ', l.first_name, l.last_name, l.external_id)
                            when 'company' then l.company when 'title' then l.title end) end nulls last,
         case when :sort = 'decile' then c.decile end desc nulls last,
         coalesce(c.rank_score, c.similarity_score) desc, c.candidate_id
limit :n offset :skip;

-- name: export_history
select format, segment_no, status, row_count, attempts, error, started_at, finished_at
from lookalike_export_job where tenant_id = :tenant_id and audience_id = :audience_id
order by started_at desc limit 20;

-- name: audience_names
select audience_id, name from lookalike_audience where tenant_id = :tenant_id;

-- name: eligible$
select count(*) from lead_embeddings where tenant_id = :tenant_id;

-- name: lead_sample
-- A fixed sample of the tenant's embedded leads with the fields rules may name (the same on every call): the first
-- n by lead id, read through the primary key; lead ids are random UUIDs, so that is a uniform sample.
select l.industry, l.company, l.company_size, l.country, l.region, l.title, l.seniority, l.bio, l.property_type,
       l.email_opens, l.web_visits, l.last_activity_at, l.email, l.phone, l.attributes
from lead_embeddings e join leads l on l.tenant_id = e.tenant_id and l.lead_id = e.lead_id
where e.tenant_id = :tenant_id
order by e.lead_id
limit :n;

-- name: pooled_reach
-- Every audience's reach curve of the tenant (from the marts), to read an expected conversion rate at a size.
select r.audience_id, r.audience_size, r.conversion_rate from marts.mart_reach_precision_curve r
where r.tenant_id = :tenant_id and r.audience_size > 0 order by r.audience_id, r.audience_size;

-- name: seed_labels
select label, count(*) as n from lookalike_seed where tenant_id = :tenant_id and deleted_at is null
group by label order by n desc;

-- name: performance_summary
select audience_id, audience_name, status, members, conversions, conversion_rate, candidates,
       candidate_conversion_rate, tenant_base_rate, last_refresh_at, last_export_status
from marts.mart_audience_summary where tenant_id = :tenant_id order by audience_name;

-- name: performance_deciles
select audience_id, decile, conversion_rate, lift_vs_base from marts.mart_audience_performance_by_decile
where tenant_id = :tenant_id order by audience_id, decile desc;

-- name: find_leads
-- Leads a person looks for by their id in the CRM (exactly), or by words of their name, company, title or email.
select l.lead_id, l.external_id, nullif(concat_ws(' ', l.first_name, l.last_name), '') as person, l.company, l.title,
       l.industry, l.country, l.is_seed
from leads l
where l.tenant_id = :tenant_id
  and (l.external_id = :q
       or concat_ws(' ', l.first_name, l.last_name, l.company, l.title, l.email, l.external_id) ilike :pattern)
order by (l.external_id = :q) desc, lower(l.company) nulls last, lower(l.last_name) nulls last, l.external_id
limit :n;

-- name: lead_card^
-- One lead as a person reads it, with whether it has a vector yet and its live seed labels.
select l.lead_id, l.external_id, nullif(concat_ws(' ', l.first_name, l.last_name), '') as person, l.company, l.title,
       l.seniority, l.industry, l.company_size, l.country, l.region, l.bio, l.email_opens, l.web_visits,
       l.last_activity_at, l.attributes, l.updated_at,
       exists (select 1 from lead_embeddings e where e.tenant_id = l.tenant_id and e.lead_id = l.lead_id) as embedded,
       (select array_agg(s.label order by s.label) from lookalike_seed s
        where s.tenant_id = l.tenant_id and s.lead_id = l.lead_id and s.deleted_at is null) as seed_labels
from leads l
where l.tenant_id = :tenant_id and l.lead_id = :lead_id;

-- name: lead_names
-- Names a person recognizes for leads given by id (the similar leads of a lead).
select l.lead_id, l.external_id, nullif(concat_ws(' ', l.first_name, l.last_name), '') as person, l.company, l.title
from leads l where l.tenant_id = :tenant_id and l.lead_id = any(:ids::uuid[]);

-- name: seed_choices
-- The tenant's live seeds to pick from for an audience, with the lead's name and company.
select s.seed_id, s.label, l.external_id, nullif(concat_ws(' ', l.first_name, l.last_name), '') as person, l.company
from lookalike_seed s join leads l using (tenant_id, lead_id)
where s.tenant_id = :tenant_id and s.deleted_at is null
order by s.label, lower(l.company) nulls last, l.external_id
limit :n;

-- name: suppressed_count$
select count(*) from suppression_list where tenant_id = :tenant_id;
