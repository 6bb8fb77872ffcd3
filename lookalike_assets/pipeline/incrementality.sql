-- name: audience_incrementality
-- What the incrementality mart says of a tenant's audiences over all time (as of the marts' last build); read in
-- a tenant transaction, so Row-Level Security limits it to the tenant.
select audience_id, audience_name, holdout_percent, treatment_members, control_members, treatment_conversions,
       control_conversions, treatment_rate, control_rate, absolute_lift, relative_lift, ci_low, ci_high, z_score,
       significant
from marts.mart_audience_incrementality
where tenant_id = :tenant_id and period = 'all'
order by audience_name;
