{#
  Like `relationships`, within the tenant: every (tenant_id, column) of the model exists as (tenant_id, field)
  in `to`. A key that exists only in another tenant fails.
#}
{% test relationships_in_tenant(model, column_name, to, field) %}
select child.tenant_id, child.{{ column_name }}
from {{ model }} as child
left join {{ to }} as parent
    on parent.tenant_id = child.tenant_id
   and parent.{{ field }} = child.{{ column_name }}
where child.{{ column_name }} is not null
  and parent.{{ field }} is null
{% endtest %}
