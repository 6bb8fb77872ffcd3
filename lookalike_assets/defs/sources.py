"""Tables that applications write and lookalike reads: external assets upstream of the graph."""

import dagster as dg

from lookalike_assets.defs.partitions import tenant_partitions

SOURCE_GROUP = "sources"


OWNERS = ["team:lookalike-platform"]


def _source(name: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        name, description=description, group_name=SOURCE_GROUP, partitions_def=tenant_partitions,
        kinds={"postgres"}, owners=OWNERS, metadata={"dagster/table_name": f"public.{name}"},
    )


leads = _source("leads", "Leads of each tenant, written by importers and applications.")
lookalike_seed = _source("lookalike_seed", "Seeds: leads a tenant marks as the ones to look like.")
lookalike_audience = _source("lookalike_audience", "Audience definitions: seed set, rules, metadata.")
suppression_list = _source("suppression_list", "Leads or email hashes that must never be targeted.")

lookalike_conversion = _source("lookalike_conversion", "Conversion events written by applications.")
tenants = dg.AssetSpec("tenants", description="The tenants (one partition each, keyed by slug).",
                       group_name=SOURCE_GROUP, kinds={"postgres"}, owners=OWNERS,
                       metadata={"dagster/table_name": "public.tenants"})

source_specs = [tenants, leads, lookalike_seed, lookalike_audience, suppression_list, lookalike_conversion]
