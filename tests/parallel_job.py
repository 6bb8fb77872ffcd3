"""A reconstructable job for the parallel test: child processes rebuild it from this file, and take everything
(database, encoder) from the environment, as workers in a cluster would."""

import dagster as dg

from lookalike_assets.defs.partitions import tenant_partitions
from lookalike_assets.defs.resources import default_resources


def tenant_refresh_multiprocess() -> dg.JobDefinition:
    from lookalike_assets.definitions import tenant_assets

    job = dg.define_asset_job("tenant_refresh_multiprocess", selection=dg.AssetSelection.assets(*tenant_assets),
                              partitions_def=tenant_partitions, executor_def=dg.multiprocess_executor)
    defs = dg.Definitions(assets=tenant_assets, jobs=[job], resources=default_resources())
    return defs.resolve_job_def("tenant_refresh_multiprocess")


if __name__ == "__main__":  # one run of one tenant partition, as a run launcher would start it
    import json
    import sys

    tid = sys.argv[1]
    with dg.DagsterInstance.get() as instance, dg.execute_job(
        dg.reconstructable(tenant_refresh_multiprocess), instance=instance,
        tags={"dagster/partition": tid, "lookalike/tenant": tid},
    ) as result:
        print(json.dumps({"run_id": result.run_id, "success": result.success}))
