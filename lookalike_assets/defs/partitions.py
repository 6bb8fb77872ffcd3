"""The tenant partitions: one per tenant, keyed by its slug (``northwind-software``, not a UUID), so that a person
reads which tenant a run, a materialization or a backfill is about everywhere Dagster shows a key.

A slug is a tenant's permanent handle (the database refuses to change it; the display name can change), so a key
keeps naming the same tenant. Runs also carry the tenant's id in the ``lookalike/tenant`` tag, and every step
resolves the key to the id before it touches data (Row-Level Security is set from the id).
"""

import dagster as dg

TENANTS_PARTITION = "tenants"

tenant_partitions = dg.DynamicPartitionsDefinition(name=TENANTS_PARTITION)
