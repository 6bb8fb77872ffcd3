"""What the asset modules share: the conventions every Python asset follows (owners, a code version, the table it
writes and its standard table metadata), the tenant step, progress logging and markdown previews."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg
import psycopg

from lookalike_assets.db import locks
from lookalike_assets.db.connect import (
    PIPELINE_ROLE,
    TenantError,
    parse_tenant_id,
    role_transaction,
    tenant_transaction,
)
from lookalike_assets.db.queries import Q
from lookalike_assets.defs.partitions import TENANTS_PARTITION
from lookalike_assets.domain.health import Finding
from lookalike_assets.faults import fault_point
from lookalike_assets.pipeline import health

# The per-tenant assets in graph order: what a full refresh of a tenant materializes.
TENANT_REFRESH_ASSETS = ("lead_features", "lead_embeddings", "seed_profiles", "ranking_model", "candidate_pools",
                         "audience_memberships", "audience_segments", "audience_exports", "destination_syncs")


OWNERS = ["team:lookalike-platform"]
# Tenant assets are refreshed every night (02:00 UTC) and on changes: late after a day and two hours.
NIGHTLY = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=25))
# The marts and reports are rebuilt every hour: late after three.
HOURLY = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=3), warn_window=timedelta(hours=2))


def code_version(*modules: ModuleType) -> str:
    """A version of the code an asset runs: a hash of the source of its modules (the asset's own and the domain and
    pipeline modules it calls) and of the query file beside each (``pipeline/pools.sql``). A change there makes the
    asset's materializations stale in the UI."""
    h = hashlib.sha256()
    for m in modules:
        h.update(inspect.getsource(m).encode())
        queries = Path(inspect.getfile(m)).with_suffix(".sql")
        if queries.exists():
            h.update(queries.read_bytes())
    return h.hexdigest()[:12]


def lookalike_asset(*, table: str | None, code: Sequence[ModuleType], rows: str | None = None, **kwargs: Any):
    """``dg.asset`` with lookalike's conventions: its owners, a code version from ``code`` (the asset's module and
    the domain and pipeline modules it calls), a link to its source, the nightly freshness policy for a tenant
    asset, and the table it writes: ``dagster/table_name`` on the definition, and with every materialization the
    table's column schema and (for a tenant's partition) the tenant's row count (``table_metadata``, read after the
    asset's own work, on its ``db`` resource).

    A tenant asset's every step, succeeded or failed, is written to the step log (``lookalike_step_log``, read by
    mart_pipeline_health): its duration, the root cause's class if it failed, the rows it processed (the metadata
    value named ``rows``) and its numeric metadata."""
    metadata = dict(kwargs.pop("metadata", {}) or {})
    if table:
        metadata["dagster/table_name"] = f"public.{table}"
    per_tenant = kwargs.get("partitions_def") is not None and getattr(kwargs["partitions_def"], "name", None) == \
        TENANTS_PARTITION

    def decorate(fn):
        @functools.wraps(fn)
        def with_table_metadata(*args, **kw):
            context, db = (args[0] if args else kw.get("context")), kw.get("db")
            started, t0 = datetime.now(timezone.utc), time.perf_counter()
            try:
                result = fn(*args, **kw)
            except Exception as exc:
                if per_tenant and db is not None:
                    log_step(context, db, started, time.perf_counter() - t0, error=exc)
                raise
            seconds = time.perf_counter() - t0
            if db is None or not isinstance(result, dg.MaterializeResult) or not (per_tenant or table):
                return result
            with db.connect() as conn:  # one connection and one tenant look-up for the step log and the table
                tid = tenant_for_key(conn, context.partition_key) if per_tenant else None
                if per_tenant:
                    log_step(context, conn, started, seconds, tenant_id=tid, metadata=result.metadata, rows_key=rows)
                if table:
                    result = result._replace(metadata={**table_metadata(conn, tid, table), **(result.metadata or {})})
            return result

        if per_tenant:
            kwargs.setdefault("freshness_policy", NIGHTLY)
        asset = dg.asset(owners=OWNERS, code_version=code_version(*code), metadata=metadata, **kwargs)(
            with_table_metadata)
        return with_code_references(asset)

    return decorate


_BETA_SAID: set[str] = set()


def with_code_references(asset: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """The asset with a link to its code in the UI (``dg.with_source_code_references``: a beta API of Dagster, and
    the only one for this). Dagster warns about it for every asset (and about each beta class it uses inside);
    the beta use is said here once per process, in one warning of the same category, not once per asset."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", dg.BetaWarning)
        out = dg.with_source_code_references([asset])[0]
    others = [w for w in caught if not issubclass(w.category, dg.BetaWarning)]
    for w in others:  # anything else it warned about is passed on as it was
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    betas = sorted({str(w.message).split(" is currently in beta")[0] for w in caught
                    if issubclass(w.category, dg.BetaWarning)} - _BETA_SAID)
    if betas:
        _BETA_SAID.update(betas)
        warnings.warn(f"lookalike links each asset to its code in the Dagster UI with Dagster's beta API "
                      f"({'; '.join(betas)}): it may change in a minor release of Dagster (said once, not per "
                      "asset)", dg.BetaWarning, stacklevel=2)
    return out


def log_step(context: dg.AssetExecutionContext, db, started: datetime, seconds: float, *,
             tenant_id: uuid.UUID | None = None, error: BaseException | None = None, metadata=None,
             rows_key: str | None = None) -> None:
    """Write the step to the step log, on ``db`` (a resource, or an open connection with the step's
    ``tenant_id``). Monitoring must not change what the step did: when the log cannot be written (the database is
    what failed, the tenant is gone), a warning says so and the step's own outcome stands."""
    try:
        with contextlib.ExitStack() as stack:
            conn = db if tenant_id is not None else stack.enter_context(db.connect())
            tid = tenant_id if tenant_id is not None else tenant_for_key(conn, context.partition_key)
            health.record_step(conn, tid, run_id=context.run.run_id, asset=context.asset_key.to_user_string(),
                               started_at=started, seconds=seconds, error=error, metadata=metadata,
                               rows_key=rows_key)
    except Exception as exc:  # noqa: BLE001 - reported, and the step's own error (if any) is what is raised
        context.log.warning(f"step log not written ({type(exc).__name__}): mart_pipeline_health misses this step")


def check_result(check_name: str, finding: Finding) -> dg.AssetCheckResult:
    """An asset check result of a health finding (domain/health.py): its severity, its one-line summary as the
    description, its figures as metadata."""
    metadata = {k: dg.MetadataValue.json(v) if isinstance(v, list | dict) else v
                for k, v in finding.details.items() if v is not None}
    return dg.AssetCheckResult(
        check_name=check_name, passed=finding.passed, description=finding.summary,
        severity=dg.AssetCheckSeverity.ERROR if finding.severity == "error" else dg.AssetCheckSeverity.WARN,
        metadata={"summary": finding.summary, **metadata})


def table_metadata(conn: psycopg.Connection, tenant_id: uuid.UUID | None, table: str) -> dict:
    """Dagster's standard table metadata of ``table`` now: its full name, column schema, and (for a tenant's
    partition) the tenant's row count, read under Row-Level Security. An asset over many tenants gets no row count:
    no login lookalike uses may count other tenants' rows."""
    with role_transaction(conn, PIPELINE_ROLE):
        columns = dg.TableSchema(columns=[
            dg.TableColumn(name, data_type, constraints=dg.TableColumnConstraints(nullable=not required))
            for name, data_type, required in Q.session.table_columns(conn, table=table)])
    rows = None
    if tenant_id is not None:
        with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
            rows = Q.session.tenant_rows(conn, table=table)
    out = {"dagster/table_name": f"{conn.info.dbname}.public.{table}",
           "dagster/column_schema": dg.MetadataValue.table_schema(columns)}
    if rows is not None:
        out["dagster/row_count"] = dg.MetadataValue.int(rows)
    return out


def tenant_for_key(conn: psycopg.Connection, key: str) -> uuid.UUID:
    """The tenant a partition key names: its slug (or its id, for a partition made before keys were slugs)."""
    try:
        return parse_tenant_id(key)
    except TenantError:
        pass
    with role_transaction(conn, PIPELINE_ROLE):
        tid = Q.changes.tenant_id_of_slug(conn, slug=key)
    if tid is None:
        raise dg.Failure(f"there is no tenant {key!r} (deleted? the change sensor removes its partition; "
                         "`lookalike tenants list` shows the tenants)")
    return tid


def run_position(context: dg.AssetExecutionContext) -> tuple[Callable[[], bool], bool]:
    """(a question asked when this step ends: is every other tenant step of the run over; does the run refresh
    the whole tenant). Independent steps (the exports and the destination syncs) finish in either order, so the
    last one is known only when it ends: a fixed "last step" gave the lease up early and took it again."""
    keys = context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys
    names = {k.to_user_string() for k in keys}
    in_run = [a for a in TENANT_REFRESH_ASSETS if a in names]
    me = context.asset_key.to_user_string()
    others = set(in_run) - {me}

    def last() -> bool:
        if not others:
            return True
        done = {s.step_key for s in context.instance.get_run_step_stats(context.run.run_id)
                if s.status is not None and s.status.value in ("SUCCESS", "FAILURE", "SKIPPED")}
        return others <= done

    return last, set(TENANT_REFRESH_ASSETS) <= names


def run_finished(context: dg.AssetExecutionContext) -> Callable[[str], bool]:
    """Whether a run (by id) is over, for a step waiting on the tenant's lease."""
    def finished(run_id: str) -> bool:
        run = context.instance.get_run_by_id(run_id)
        return run is not None and run.is_finished
    return finished


@contextmanager
def tenant_step(context: dg.AssetExecutionContext, db) -> Iterator[tuple[uuid.UUID, psycopg.Connection]]:
    """A tenant asset's connection, holding the run's tenant lease for the step (see db/locks.py): one run per
    tenant at a time, for the whole run."""
    last, whole = run_position(context)
    with db.connect() as conn:
        tid = tenant_for_key(conn, context.partition_key)
        other = locks.holder(conn, tid)
        if other is not None and other != context.run.run_id:
            run = context.instance.get_run_by_id(other)
            if run is not None and run.is_finished and locks.release_leftover(conn, tid, other):
                context.log.info(f"run {other} finished ({run.status.value}) without giving the tenant's lease "
                                 "back: released")
    with db.connect() as conn, locks.tenant_step(
        conn, db.conninfo(), tid, context.run.run_id, last=last, watermark="refresh" if whole else None,
        wait_seconds=db.lock_wait_seconds, ttl_seconds=db.lease_ttl_seconds, finished=run_finished(context),
    ):
        yield tid, conn
    fault_point(f"after:{context.asset_key.to_user_string()}")


def tenant_name(conn, tenant_id: uuid.UUID) -> str:
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        row = Q.tenants.get_tenant(conn, tenant_id=tenant_id)
    if row is None:
        raise dg.Failure(f"tenant {tenant_id} does not exist (is the partition stale?)")
    return f"{row[2]} ({row[1]})"


class ProgressLog:
    """Logs 'done/total (rate/s)' at most every few seconds."""

    def __init__(self, context: dg.AssetExecutionContext, what: str, every: float = 5.0) -> None:
        self.context, self.what, self.every = context, what, every
        self.started = self.last = time.perf_counter()

    def __call__(self, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if now - self.last < self.every and done != total:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        of = f"/{total}" if total else ""
        self.context.log.info(f"{self.what}: {done}{of} ({rate:,.0f}/s)")


def md_table(headers: Sequence[str], rows: Sequence[Sequence]) -> dg.MetadataValue:
    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:.4f}"
        return str(v).replace("|", "\\|").replace("\n", " ")[:120]

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return dg.MetadataValue.md("\n".join(lines))
