-- title: Lift against the base rate, by decile
-- display: line
-- dimensions: decile, audience_name
-- metrics: lift_vs_base
-- description: How many times better than targeting at random each decile converts (1 = no better).
select audience_name, decile, lift_vs_base
from marts.mart_audience_performance_by_decile
where lift_vs_base is not null
order by audience_name, decile
