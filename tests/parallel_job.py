"""A reconstructable job for the parallel test: child processes rebuild it from this file, and take everything
(database, encoder) from the environment, as workers in a cluster would."""

import dagster as dg

from lookalike_assets.defs.partitions import tenant_partitions
from lookalike_assets.resources import default_resources


def tenant_refresh_multiprocess() -> dg.JobDefinition:
    return _job("tenant_refresh_multiprocess", dg.multiprocess_executor)


def tenant_refresh_in_process() -> dg.JobDefinition:
    return _job("tenant_refresh_in_process", dg.in_process_executor)


def _job(name: str, executor) -> dg.JobDefinition:
    from lookalike_assets.definitions import tenant_assets

    job = dg.define_asset_job(name, selection=dg.AssetSelection.assets(*tenant_assets),
                              partitions_def=tenant_partitions, executor_def=executor)
    defs = dg.Definitions(assets=tenant_assets, jobs=[job], resources=default_resources())
    return defs.resolve_job_def(name)


if __name__ == "__main__":  # one run of one tenant partition, as a run launcher would start it
    import json
    import sys

    tid = sys.argv[1]
    job = tenant_refresh_in_process if sys.argv[2:] == ["in-process"] else tenant_refresh_multiprocess
    with dg.DagsterInstance.get() as instance, dg.execute_job(
        dg.reconstructable(job), instance=instance,
        tags={"dagster/partition": tid, "lookalike/tenant": tid},
    ) as result:
        print(json.dumps({"run_id": result.run_id, "success": result.success}))
