{# True when the event type counts as a conversion (var conversion_event_types; clicks and opens do not). #}
{% macro is_conversion(column) -%}
    {{ column }} in ({% for t in var('conversion_event_types') %}'{{ t }}'{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}
