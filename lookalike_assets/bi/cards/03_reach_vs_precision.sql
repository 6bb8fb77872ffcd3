-- title: Reach against precision
-- display: line
-- dimensions: audience_size, audience_name
-- metrics: conversion_rate
-- description: Cutting an audience deeper reaches more leads at a lower conversion rate.
select s.audience_name, r.point, r.audience_size, r.conversion_rate
from marts.mart_reach_precision_curve as r
join marts.mart_audience_summary as s on s.tenant_id = r.tenant_id and s.audience_id = r.audience_id
order by s.audience_name, r.point
