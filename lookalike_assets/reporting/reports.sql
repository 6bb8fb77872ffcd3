-- name: report_deciles
-- Read as lookalike_bi for one tenant: Row-Level Security on the marts limits it to that tenant.
select audience_name, decile, members, member_conversions, conversion_rate, lift_vs_audience, lift_vs_base,
       candidates, candidate_conversions, candidate_conversion_rate, min_similarity, max_similarity
from marts.mart_audience_performance_by_decile order by audience_name, decile;

-- name: report_reach
select s.audience_name, r.point, r.threshold, r.audience_size, r.conversions, r.conversion_rate
from marts.mart_reach_precision_curve r
join marts.mart_audience_summary s on s.tenant_id = r.tenant_id and s.audience_id = r.audience_id
order by s.audience_name, r.point;

-- name: report_summary
select audience_name, status, members, candidates, seeds, embedding_coverage, last_refresh_at, conversions,
       conversion_rate, candidate_conversions, candidate_conversion_rate, conversion_value, tenant_base_rate,
       last_export_status, last_export_at
from marts.mart_audience_summary order by audience_name;

-- name: report_incrementality
select audience_name, period, holdout_percent, treatment_members, control_members, treatment_conversions,
       control_conversions, treatment_rate, control_rate, absolute_lift, relative_lift, ci_low, ci_high, significant
from marts.mart_audience_incrementality order by audience_name, period_start nulls first;
