{{
  config(
    materialized='incremental',
    unique_key=['tenant_id', 'conversion_id', 'audience_id'],
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
  )
}}
-- Attributed conversion events, one row per event and audience. Incremental on attribution time: a day
-- whose facts are rebuilt replaces its rows by key, and a run with nothing new changes nothing.
select
    tenant_id,
    conversion_id,
    audience_id,
    candidate_id,
    lead_id,
    event_day,
    event_type,
    is_conversion,
    value::numeric(14, 2) as value,
    occurred_at,
    similarity_score::real as similarity_score,
    decile::smallint as decile,
    rank_score::real as rank_score,
    attributed_at
from {{ ref('stg_conversion_facts') }}
{% if is_incremental() %}
where attributed_at > (select coalesce(max(attributed_at), '-infinity'::timestamptz) from {{ this }})
{% endif %}
