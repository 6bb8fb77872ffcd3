-- title: Audiences
-- display: table
-- description: Every audience: size, conversions and rates, the tenant's base rate, the last refresh and export.
select audience_name, status, members, conversions, conversion_rate, tenant_base_rate, candidates,
       candidate_conversion_rate, seeds, embedding_coverage, last_refresh_at, last_export_status, last_export_at
from marts.mart_audience_summary
order by audience_name
