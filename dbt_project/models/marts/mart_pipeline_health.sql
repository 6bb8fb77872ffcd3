-- How the pipeline ran, per tenant and UTC day: steps and runs, failed steps and which assets failed, seconds
-- in all and per tenant asset (var pipeline_assets), rows processed, the embedding coverage the day's last
-- lead_embeddings step left, and the day's exports with their success rate (a skipped export, below a platform's
-- minimum size, is neither a success nor a failure). A day with exports and no step (an API export) has zero steps.
{%- set assets = var('pipeline_assets') %}
with steps as (
    select * from {{ ref('stg_step_log') }}
),

step_days as (
    select
        tenant_id,
        day,
        count(*) as steps,
        count(distinct run_id) as runs,
        count(*) filter (where status = 'failed') as failed_steps,
        string_agg(distinct asset, ', ' order by asset) filter (where status = 'failed') as failed_assets,
        sum(seconds) as seconds_total,
        sum(row_count) as rows_processed,
        {%- for a in assets %}
        sum(seconds) filter (where asset = '{{ a }}') as {{ a }}_seconds,
        {%- endfor %}
        (array_agg(coverage order by started_at desc)
            filter (where asset = 'lead_embeddings' and status = 'succeeded' and coverage is not null))[1]
            as embedding_coverage
    from steps
    group by tenant_id, day
),

export_days as (
    select
        tenant_id,
        (started_at at time zone 'UTC')::date as day,
        count(*) filter (where status in ('succeeded', 'failed')) as exports,
        count(*) filter (where status = 'failed') as exports_failed
    from {{ ref('stg_export_jobs') }}
    group by tenant_id, (started_at at time zone 'UTC')::date
),

days as (
    select tenant_id, day from step_days
    union
    select tenant_id, day from export_days
)

select
    d.tenant_id,
    d.day,
    coalesce(s.runs, 0)::bigint as runs,
    coalesce(s.steps, 0)::bigint as steps,
    coalesce(s.failed_steps, 0)::bigint as failed_steps,
    s.failed_assets,
    round(coalesce(s.seconds_total, 0)::numeric, 3)::numeric(14, 3) as seconds_total,
    s.rows_processed::bigint as rows_processed,
    {%- for a in assets %}
    round(s.{{ a }}_seconds::numeric, 3)::numeric(14, 3) as {{ a }}_seconds,
    {%- endfor %}
    round(s.embedding_coverage, 4)::numeric(6, 4) as embedding_coverage,
    coalesce(e.exports, 0)::bigint as exports,
    coalesce(e.exports_failed, 0)::bigint as exports_failed,
    round((e.exports - e.exports_failed)::numeric / nullif(e.exports, 0), 4)::numeric(6, 4) as export_success_rate
from days as d
left join step_days as s on s.tenant_id = d.tenant_id and s.day = d.day
left join export_days as e on e.tenant_id = d.tenant_id and e.day = d.day
