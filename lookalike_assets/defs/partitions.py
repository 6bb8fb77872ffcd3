import dagster as dg

TENANTS_PARTITION = "tenants"

# One partition per tenant, keyed by tenant_id (a UUID): RLS is set from the key with no lookup.
tenant_partitions = dg.DynamicPartitionsDefinition(name=TENANTS_PARTITION)
