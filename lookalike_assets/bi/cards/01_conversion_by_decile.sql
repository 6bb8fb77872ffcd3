-- title: Conversion rate by decile
-- display: bar
-- dimensions: decile, audience_name
-- metrics: conversion_rate
-- description: Per audience and decile of its pool (10 = best), the share of members that converted.
select audience_name, decile, members, member_conversions, conversion_rate, lift_vs_audience, lift_vs_base
from marts.mart_audience_performance_by_decile
order by audience_name, decile
