{#
  Every mart carries tenant_id. After each build: Row-Level Security ENABLE + FORCE with the same policy as the
  raw tables, and SELECT for lookalike_bi (the only thing that role may read).
#}
{% macro lookalike_protect_mart(relation) %}
  alter table {{ relation }} enable row level security;
  alter table {{ relation }} force row level security;
  drop policy if exists tenant_isolation on {{ relation }};
  create policy tenant_isolation on {{ relation }}
    using (tenant_id = (select public.lookalike_current_tenant()))
    with check (tenant_id = (select public.lookalike_current_tenant()));
  grant select on {{ relation }} to lookalike_bi, lookalike_app;
{% endmacro %}
