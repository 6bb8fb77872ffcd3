{#
  Every mart carries tenant_id. After each build: the same tenant isolation as the raw tables (Row-Level
  Security enabled and forced, the tenant policy: lookalike_protect_table from the migrations), and SELECT for
  the groups lookalike_bi (tenants' BI logins: the only thing they may read), lookalike_app_access and
  lookalike_pipeline (assets show what the marts say, e.g. an audience's incrementality).
#}
{% macro lookalike_protect_mart(relation) %}
  select public.lookalike_protect_table('{{ relation }}'::regclass);
  grant select on {{ relation }} to lookalike_bi, lookalike_app_access, lookalike_pipeline;
{% endmacro %}
