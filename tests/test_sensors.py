"""The change-log sensor on a real instance and the real database: new tenant -> partition, a burst over
four tenants -> four runs, cursor semantics across a restart; the nightly schedule; the reader role."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pytest
from conftest import tenant_profile

from lookalike_assets.db import admin as db_admin
from lookalike_assets.db.connect import CHANGES_ROLE, connect
from lookalike_assets.defs.partitions import TENANTS_PARTITION
from lookalike_assets.defs.resources import LookalikeDatabase
from lookalike_assets.defs.tenants.sensors import nightly_tenant_refresh, tenant_changes_sensor
from lookalike_assets.pipeline import admin
from lookalike_assets.pipeline.changes import read_changes
from lookalike_assets.pipeline.demo import load_tenant


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def tick(instance, test_url, cursor):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor,
                                  resources={"db": LookalikeDatabase(database_url=test_url)})
    return tenant_changes_sensor(ctx)


def horizon(test_url) -> str:
    c = connect(test_url, role=CHANGES_ROLE)
    try:
        return read_changes(c, None).horizon
    finally:
        c.close()


def test_new_tenant_gets_a_partition_and_a_run(owner, instance, test_url, conn, new_slug):
    start = horizon(test_url)
    slug = new_slug("sens")
    tid = db_admin.create_tenant(owner, slug, "Sensor Co")
    res = tick(instance, test_url, start)
    assert slug in res.dynamic_partitions_requests[0].partition_keys  # keyed by slug: a person reads it
    req = next(r for r in res.run_requests if r.partition_key == slug)
    assert req.tags["lookalike/tenant"] == tid and req.tags["lookalike/tenant_slug"] == slug
    # once the partitions exist, no second add request; a partition of no tenant (deleted, or a key from before
    # keys were slugs) is removed
    instance.add_dynamic_partitions(TENANTS_PARTITION, [*res.dynamic_partitions_requests[0].partition_keys, tid])
    again = tick(instance, test_url, start)
    assert [r.partition_keys for r in again.dynamic_partitions_requests] == [[tid]]
    assert isinstance(again.dynamic_partitions_requests[0], dg.DeleteDynamicPartitionsRequest)


def test_burst_over_four_tenants_gives_four_runs(app, owner, instance, test_url, conn, new_slug):
    tenants = [load_tenant(owner, tenant_profile(i % 4, new_slug(f"burst{i}")), 30, pool_size=10) for i in range(4)]
    start = horizon(test_url)
    for t in tenants:  # several changes per tenant within one tick
        with owner.transaction():
            ext = owner.execute("select external_id from leads where tenant_id = %s and not is_seed limit 2",
                               (t.tenant_id,)).fetchall()
        admin.add_seeds(app, t.tenant_id, [e[0] for e in ext], label="won")
        admin.remove_seeds(app, t.tenant_id, [ext[0][0]])
    res = tick(instance, test_url, start)
    keys = sorted(r.partition_key for r in res.run_requests)
    assert keys == sorted(t.slug for t in tenants)
    assert len({r.run_key for r in res.run_requests}) == 4
    assert all("seed" in r.tags["lookalike/changed"].split(",") for r in res.run_requests)


def test_cursor_across_a_restart_loses_nothing_and_runs_nothing_twice(app, owner, instance, test_url, conn, new_slug):
    t = load_tenant(owner, tenant_profile(1, new_slug("restart")), 30, pool_size=10)
    start = horizon(test_url)
    with owner.transaction():
        ext = owner.execute("select external_id from leads where tenant_id = %s and not is_seed limit 1",
                           (t.tenant_id,)).fetchone()[0]
    admin.add_seeds(app, t.tenant_id, [ext], label="won")
    first = tick(instance, test_url, start)
    assert [r.partition_key for r in first.run_requests] == [t.slug]
    # the daemon died before storing the cursor: the same tick again asks for the very same run keys,
    # which Dagster does not launch twice
    replay = tick(instance, test_url, start)
    assert [r.run_key for r in replay.run_requests] == [r.run_key for r in first.run_requests]
    # after a restart from the stored cursor: nothing new, nothing again. (The cursor is the oldest running
    # transaction id of the cluster, so any other transaction meanwhile, even in another database, may move it
    # on; it never moves back.)
    after = tick(instance, test_url, first.cursor)
    assert not after.run_requests and int(after.cursor) >= int(first.cursor)
    # and the next change is seen
    admin.remove_seeds(app, t.tenant_id, [ext])
    nxt = tick(instance, test_url, first.cursor)
    assert [r.partition_key for r in nxt.run_requests] == [t.slug]
    assert nxt.run_requests[0].run_key != first.run_requests[0].run_key


def test_change_open_during_a_tick_is_not_skipped(owner, instance, test_url, conn, new_slug):
    """A transaction that logged a change but has not committed holds the horizon back."""
    t = load_tenant(owner, tenant_profile(2, new_slug("open")), 30, pool_size=10)
    start = horizon(test_url)
    slow = connect(test_url)
    try:
        with slow.transaction():
            slow.execute("update leads set bio = 'later' where tenant_id = %s and external_id = %s",
                         (t.tenant_id, f"{t.slug[:3]}-0000001"))
            during = tick(instance, test_url, start)
            assert t.slug not in [r.partition_key for r in during.run_requests]
        after = tick(instance, test_url, during.cursor)
        assert t.slug in [r.partition_key for r in after.run_requests]
    finally:
        slow.close()


def test_nightly_schedule_requests_every_tenant_by_name(owner, instance, test_url, conn, new_slug):
    assert nightly_tenant_refresh.cron_schedule == "0 2 * * *"
    when = datetime(2026, 11, 21, 2, tzinfo=timezone.utc)
    resources = {"db": LookalikeDatabase(database_url=test_url)}
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when, resources=resources) as ctx:
        assert isinstance(nightly_tenant_refresh(ctx), dg.SkipReason)
    slugs = [new_slug("night"), new_slug("night")]
    tids = [db_admin.create_tenant(owner, s, s) for s in slugs]
    instance.add_dynamic_partitions(TENANTS_PARTITION, [*slugs, "gone-tenant"])  # one deleted
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when, resources=resources) as ctx:
        reqs = nightly_tenant_refresh(ctx)
    assert sorted(r.partition_key for r in reqs) == sorted(slugs)
    assert sorted(r.tags["lookalike/tenant"] for r in reqs) == sorted(tids)
    assert len({r.run_key for r in reqs}) == 2


def _resources(test_url, folder, pool_size=80):
    from lookalike_assets.defs.audiences.resources import ExportDestinationResource
    from lookalike_assets.defs.leads.resources import TextEncoderResource
    from lookalike_assets.defs.resources import LookalikeConfig

    return {"db": LookalikeDatabase(database_url=test_url), "encoder": TextEncoderResource(encoder="hashing"),
            "lookalike": LookalikeConfig(pool_size=pool_size), "exports": ExportDestinationResource(folder=str(folder))}


def test_a_refresh_does_not_trigger_another_refresh(app, owner, instance, test_url, conn, new_slug, tmp_path):
    """The refresh loop: every run updates its audiences (size, status, metadata); those writes are the
    pipeline's own and must not make the sensor ask for the same tenant again."""
    from lookalike_assets.definitions import tenant_assets

    start = horizon(test_url)
    t = load_tenant(owner, tenant_profile(0, new_slug("loop")), 300, pool_size=80)
    tid = t.slug  # the partition key
    first = tick(instance, test_url, start)
    rr = next(r for r in first.run_requests if r.partition_key == tid)
    assert rr.tags["lookalike/tenant_slug"] == t.slug
    instance.add_dynamic_partitions(TENANTS_PARTITION, [tid])
    run = dg.materialize(tenant_assets, partition_key=tid, instance=instance, tags=rr.tags,
                         resources=_resources(test_url, tmp_path))
    assert run.success
    after = tick(instance, test_url, first.cursor)
    assert tid not in [r.partition_key for r in after.run_requests], after.run_requests
    # a daemon that starts only now (no cursor) has nothing to do for this tenant either: the run covered it
    assert tid not in [r.partition_key for r in tick(instance, test_url, None).run_requests]
    # a person's change is seen again
    with owner.transaction():
        ext = owner.execute("select external_id from leads where tenant_id = %s and not is_seed limit 1",
                           (t.tenant_id,)).fetchone()[0]
    admin.add_seeds(app, t.tenant_id, [ext], label="won")
    again = tick(instance, test_url, after.cursor)
    assert [r.partition_key for r in again.run_requests if r.partition_key == tid] == [tid]


def test_a_run_waiting_in_the_queue_is_not_requested_twice(app, owner, instance, test_url, conn, new_slug):
    start = horizon(test_url)
    t = load_tenant(owner, tenant_profile(1, new_slug("queued")), 30, pool_size=10)
    tid = t.slug  # the partition key
    first = tick(instance, test_url, start)
    assert tid in [r.partition_key for r in first.run_requests]
    from lookalike_assets.definitions import defs

    job = defs.resolve_job_def("tenant_refresh")
    instance.add_dynamic_partitions(TENANTS_PARTITION, [tid])
    # launched from the UI: only the partition key names the tenant
    queued = instance.create_run_for_job(job, tags={"dagster/partition": tid},
                                         status=dg.DagsterRunStatus.NOT_STARTED)
    with owner.transaction():
        ext = owner.execute("select external_id from leads where tenant_id = %s and not is_seed limit 1",
                           (t.tenant_id,)).fetchone()[0]
    admin.add_seeds(app, t.tenant_id, [ext], label="won")
    nxt = tick(instance, test_url, first.cursor)
    assert tid not in [r.partition_key for r in nxt.run_requests], "the queued run will see this change"
    instance.delete_run(queued.run_id)


def test_starting_the_daemon_after_the_demo_queues_nothing(test_url, tmp_path, monkeypatch):
    """`make demo` builds everything in-process; a daemon started afterwards must not redo any of it: no tenant
    refresh, no conversion facts of the days the demo built, no ranking retraining."""
    from typer.testing import CliRunner

    from lookalike_assets.cli import app
    from lookalike_assets.defs.feedback.sensors import conversion_facts_sensor
    from lookalike_assets.defs.ranking.assets import ranking_feedback_sensor
    from lookalike_assets.defs.resources import LookalikeConfig
    from lookalike_assets.settings import get_settings

    monkeypatch.setenv("LOOKALIKE_DATABASE_URL", test_url)
    monkeypatch.setenv("LOOKALIKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOOKALIKE_ENCODER", "hashing")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(app, ["demo", "--tenants", "1", "--leads", "400", "--pool-size", "300"])
        assert res.exit_code == 0, res.output
        from lookalike_assets.orchestration import get_instance

        instance = get_instance()
        slug = instance.get_dynamic_partitions(TENANTS_PARTITION)[0]
        db = {"db": LookalikeDatabase(database_url=test_url)}
        changes = tenant_changes_sensor(dg.build_sensor_context(instance=instance, cursor=None, resources=db))
        assert slug not in [r.partition_key for r in changes.run_requests]
        c = connect(test_url)
        with c.transaction():
            tid = c.execute("select tenant_id from tenants where slug = %s", (slug,)).fetchone()[0]
            days = {r[0].isoformat() for r in c.execute(
                "select distinct (occurred_at at time zone 'UTC')::date from lookalike_conversion "
                "where tenant_id = %s", (tid,))}
        c.close()
        assert days
        facts = conversion_facts_sensor(dg.build_sensor_context(instance=instance, cursor=None, resources=db))
        assert not days & {r.partition_key for r in facts.run_requests}
        retrain = ranking_feedback_sensor(dg.build_sensor_context(
            instance=instance, cursor=None, resources={**db, "lookalike": LookalikeConfig(retrain_after_conversions=1)}))
        assert slug not in [r.partition_key for r in retrain.run_requests]
    finally:
        get_settings.cache_clear()


def test_dead_runs_are_failed_and_their_lease_given_back(owner, conn, test_url, new_slug):
    """A run whose process is gone, or which holds no live lease and has been silent too long, is marked failed
    with the reason and its tenant lease is released; a live one is left alone."""
    import subprocess
    import uuid

    from lookalike_assets.db import locks
    from lookalike_assets.defs.resources import LookalikeDatabase
    from lookalike_assets.defs.runs import HOST_TAG, PID_TAG, dead_runs_sensor, process_tags

    t = load_tenant(owner, tenant_profile(1, new_slug("dead")), 20, pool_size=5)
    tid = str(t.tenant_id)
    gone = subprocess.Popen(["true"])
    gone.wait()
    instance = dg.DagsterInstance.ephemeral()

    def started(run_id, **tags):
        instance.add_run(dg.DagsterRun(job_name="tenant_refresh", run_id=run_id, status=dg.DagsterRunStatus.STARTED,
                                       tags={"lookalike/tenant": tid, **tags}))

    killed, alive, silent = (str(uuid.uuid4()) for _ in range(3))
    started(killed, **{**process_tags(), PID_TAG: str(gone.pid)})
    started(alive, **process_tags())
    started(silent)  # launched by a code server: no process tags
    locks.acquire(conn, t.tenant_id, killed, wait_seconds=0)
    db = LookalikeDatabase(database_url=test_url, lock_wait_seconds=0, lease_ttl_seconds=10)
    with dg.build_sensor_context(instance=instance, resources={"db": db}) as ctx:
        dead_runs_sensor(ctx)
    status = {r: instance.get_run_by_id(r).status for r in (killed, alive, silent)}
    assert status[killed] == dg.DagsterRunStatus.FAILURE and status[alive] == dg.DagsterRunStatus.STARTED
    assert locks.holder(conn, t.tenant_id) is None  # the killed run's lease was given back
    # the silent run holds no lease and never logged anything: dead too
    assert status[silent] == dg.DagsterRunStatus.FAILURE
    failure = [e for e in instance.all_logs(killed) if e.dagster_event and e.dagster_event.is_run_failure]
    assert failure and f"its process {gone.pid}" in failure[0].message
    assert instance.get_run_by_id(alive).tags[HOST_TAG]


def test_every_instance_config_lookalike_writes_or_ships_validates_and_monitors_runs(tmp_path):
    import shutil

    import yaml
    from conftest import REPO
    from dagster._core.instance.config import dagster_instance_config

    from lookalike_assets.orchestration import DAGSTER_YAML

    local = tmp_path / "local"
    local.mkdir()
    (local / "dagster.yaml").write_text(DAGSTER_YAML)
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", deploy / "dagster.yaml")
    for folder in (local, deploy):
        config, _cls = dagster_instance_config(str(folder))
        monitoring = yaml.safe_load((folder / "dagster.yaml").read_text())["run_monitoring"]
        assert config["run_monitoring"]["enabled"] and monitoring["start_timeout_seconds"] > 0
        assert monitoring["cancel_timeout_seconds"] > 0 and monitoring["max_runtime_seconds"] > 0
