{#
  Every mart carries tenant_id. After each build: the same tenant isolation as the raw tables (Row-Level
  Security enabled and forced, the tenant policy: lookalike_protect_table from the migrations), and SELECT for
  the groups lookalike_bi (tenants' BI logins: the only thing they may read) and lookalike_app_access.
#}
{% macro lookalike_protect_mart(relation) %}
  select public.lookalike_protect_table('{{ relation }}'::regclass);
  grant select on {{ relation }} to lookalike_bi, lookalike_app_access;
{% endmacro %}
