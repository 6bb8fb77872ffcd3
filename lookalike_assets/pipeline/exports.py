"""audience_exports: for each published audience and each of its destinations' formats, the file the
platform's upload accepts, delivered through a Destination with retries, and logged in lookalike_export_job.

Logs and metadata carry counts, formats and file locations only: never an email, phone or name.
"""

from __future__ import annotations

import io
import re
import shutil
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from tenacity import RetryError, Retrying, stop_after_attempt, wait_exponential

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.csvfiles import SafeWriter
from lookalike_assets.domain.exports import AudienceTooSmall, Destination, ExportError, LocalFolderDestination, render
from lookalike_assets.domain.rules import DestinationSpec, RuleError, destinations_of
from lookalike_assets.faults import fault_point
from lookalike_assets.pipeline.common import log

EXPORT_COLUMNS = ("lead_id", "external_id", "audience_id", "audience", "similarity_score", "rank_score", "decile",
                  "reasons", "email", "phone", "first_name", "last_name", "country", "title", "company", "zip")


@dataclass
class ExportResult:
    audience_id: uuid.UUID
    audience: str
    format: str
    destination: str
    status: str  # succeeded, failed, skipped
    rows: int = 0
    attempts: int = 0
    file: str | None = None
    error: str | None = None
    segment_no: int | None = None
    note: str | None = None  # what the platform's columns could not take (Google: names without a postal code)


def audience_folder(name: str, audience_id: uuid.UUID) -> str:
    """A folder name a person can read and that stays unique: the audience's name made file-safe, then the first
    8 characters of its id (``lookalikes-of-won-deals--3e7c40bb``)."""
    s = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    s = re.sub(r"[^a-z0-9]+", "-", s).strip("-")[:60].strip("-") or "audience"
    return f"{s}--{str(audience_id)[:8]}"


def remove_audience_files(exports_dir: str | Path, tenant_slug: str, audience_id: uuid.UUID,
                          keep: str | None = None) -> list[str]:
    """Export folders of an audience under a local exports folder (all of them, or all but ``keep``: the
    folders an audience left behind under its old names)."""
    root = Path(exports_dir) / tenant_slug
    if not root.is_dir():
        return []
    gone = []
    for d in root.glob(f"*--{str(audience_id)[:8]}"):
        if d.is_dir() and d.name != keep:
            shutil.rmtree(d)
            gone.append(str(d))
    return gone


@dataclass
class ExportFile:
    path: str  # relative to the audience's folder: "meta.csv", "segment-02/google.csv"
    size: int
    modified: datetime
    location: Path


def audience_files(exports_dir: str | Path, tenant_slug: str, audience_id: uuid.UUID) -> list[ExportFile]:
    """The export files of an audience under a local exports folder (its current folder), newest first."""
    root = Path(exports_dir) / tenant_slug
    if not root.is_dir():
        return []
    out = []
    for d in root.glob(f"*--{str(audience_id)[:8]}"):
        if not d.is_dir() or d.is_symlink():
            continue
        for f in d.rglob("*.csv"):
            if f.is_file() and not f.is_symlink():
                st = f.stat()
                out.append(ExportFile(f.relative_to(d).as_posix(), st.st_size,
                                      datetime.fromtimestamp(st.st_mtime, timezone.utc), f))
    return sorted(out, key=lambda f: (-f.modified.timestamp(), f.path))


def audience_file(exports_dir: str | Path, tenant_slug: str, audience_id: uuid.UUID, path: str) -> Path | None:
    """One of ``audience_files`` by its relative path, or None: only a file listed there, so a path cannot reach
    outside the audience's folder."""
    return next((f.location for f in audience_files(exports_dir, tenant_slug, audience_id) if f.path == path), None)


def remove_stale_parts(folder: Path, fmt: str, current: list[str]) -> None:
    """A format's files that an earlier export wrote and this one did not (it has fewer parts now)."""
    for f in list(folder.glob(f"{fmt}.csv")) + list(folder.glob(f"{fmt}-part-*.csv")):
        if f.name not in current:
            f.unlink(missing_ok=True)


def index_csv(results: list[ExportResult]) -> bytes:
    """``index.csv`` beside a tenant's export folders: which folder holds which audience."""
    buf = io.StringIO()
    w = SafeWriter(buf)
    w.writerow(["audience_id", "audience", "folder", "segment", "format", "status", "rows", "file"])
    for r in sorted(results, key=lambda r: (r.audience, r.format, r.segment_no or 0)):
        folder = audience_folder(r.audience, r.audience_id)
        if r.segment_no:
            folder += f"/segment-{r.segment_no:02d}"
        w.writerow([str(r.audience_id), r.audience, folder, r.segment_no or "", r.format, r.status,
                    r.rows, Path(r.file).name if r.file else ""])
    return buf.getvalue().encode("utf-8")


def _safe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def run_exports(
    conn: psycopg.Connection,
    tenant_id: uuid.UUID,
    destination: Destination,
    *,
    run_id: str | None = None,
    attempts: int = 3,
    backoff_seconds: float = 1.0,
    min_sizes: dict[str, int] | None = None,
    audience: uuid.UUID | None = None,
    platforms: list[str] | None = None,
) -> list[ExportResult]:
    """Export the tenant's published audiences to their destinations' formats; or, on request (the API's export
    jobs), one published ``audience`` to the given ``platforms`` whatever its destinations say (then the
    tenant's index.csv, which lists every audience, is left as it is)."""
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        tenant = Q.tenants.get_tenant(conn, tenant_id=tenant_id)
        audiences = [a for a in Q.exports.published_audiences(conn, tenant_id=tenant_id)
                     if audience is None or a[0] == audience]
    slug = tenant[1]
    out: list[ExportResult] = []
    for audience_id, name, rules_raw in audiences:
        try:
            specs = [DestinationSpec(platform=p) for p in platforms] if platforms else destinations_of(rules_raw)
        except (RuleError, ValueError) as exc:
            log.info("audience %s: no exports: %s", name, exc)
            out.append(ExportResult(audience_id, name, "-", destination.name, "skipped", error=str(exc)))
            continue
        with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
            members = [dict(zip(EXPORT_COLUMNS, r)) for r in Q.exports.export_members(conn, tenant_id=tenant_id,
                                                                                      audience_id=audience_id)]
            segments = list(Q.exports.segment_member_leads(conn, tenant_id=tenant_id, audience_id=audience_id)) \
                if any(d.per_segment for d in specs) else []
        folder = audience_folder(name, audience_id)
        job = _Export(conn, tenant_id, destination, slug, run_id, attempts, backoff_seconds, min_sizes or {})
        for spec in specs:
            res = job.export(audience_id, name, spec.platform, members, [folder])
            out.append(res)
            if res.status == "succeeded":
                with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
                    Q.exports.mark_members_exported(conn, tenant_id=tenant_id, audience_id=audience_id)
                fault_point("exports:after-first-file")
            if not spec.per_segment:
                continue
            by_segment: dict[int, set] = {}
            for segment_no, lead_id in segments:
                by_segment.setdefault(segment_no, set()).add(lead_id)
            if not by_segment:
                out.append(ExportResult(audience_id, name, spec.platform, destination.name, "skipped",
                                        error="per-segment export asked for, but the audience has no segments "
                                        "(materialize audience_segments; small audiences are not split)"))
            for segment_no, leads in sorted(by_segment.items()):
                part = [m for m in members if m["lead_id"] in leads]
                out.append(job.export(audience_id, name, spec.platform, part, [folder, f"segment-{segment_no:02d}"],
                                      segment_no=segment_no))
            if isinstance(destination, LocalFolderDestination):
                remove_stale_segment_folders(destination.root / slug / folder, spec.platform, set(by_segment))
        if isinstance(destination, LocalFolderDestination):
            remove_audience_files(destination.root, slug, audience_id, keep=folder)
    if out and audience is None:
        try:
            destination.deliver([slug, "index.csv"], index_csv(out))
        except Exception as exc:  # the index is for people; the exports themselves are logged above
            log.warning("export index for %s not written: %s", slug, _safe_error(exc))
    return out


def remove_stale_segment_folders(folder: Path, fmt: str, current: set[int]) -> None:
    """A format's files of segments the audience no longer has (it has fewer segments now)."""
    for d in folder.glob("segment-*"):
        try:
            no = int(d.name.removeprefix("segment-"))
        except ValueError:
            continue
        if d.is_dir() and no not in current:
            remove_stale_parts(d, fmt, [])
            if not any(d.iterdir()):
                d.rmdir()


@dataclass
class _Export:
    """One format of one audience (or segment) rendered, delivered with retries, and logged as an export job."""

    conn: psycopg.Connection
    tenant_id: uuid.UUID
    destination: Destination
    slug: str
    run_id: str | None
    attempts: int
    backoff_seconds: float
    min_sizes: dict[str, int]

    def export(self, audience_id: uuid.UUID, name: str, fmt: str, members: list[dict], path: list[str],
               segment_no: int | None = None) -> ExportResult:
        conn, tenant_id, destination = self.conn, self.tenant_id, self.destination
        res = ExportResult(audience_id, name, fmt, destination.name, "failed", segment_no=segment_no)
        with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
            job = Q.exports.start_export_job(conn, tenant_id=tenant_id, audience_id=audience_id,
                                             destination=destination.name, format=fmt, run_id=self.run_id,
                                             segment_no=segment_no)
        what = f"{name}/{fmt}" + (f" segment {segment_no}" if segment_no else "")
        try:
            rendered = render(fmt, members, self.min_sizes.get(fmt))
        except (AudienceTooSmall, ExportError) as exc:
            res.status, res.error = "skipped", str(exc)
            _finish(conn, tenant_id, job, res, None)
            log.info("export %s skipped: %s", what, exc)
            return res
        res.rows = rendered.rows
        res.note = "; ".join(rendered.notes) or None
        if res.note:
            log.warning("export %s: %s", what, res.note)
        for file_name, part in zip(rendered.file_names(), rendered.parts):
            _deliver(conn, tenant_id, job, res, destination, [self.slug, *path, file_name], part, self.attempts,
                     self.backoff_seconds)
            if res.status == "failed":
                break
        if res.status != "failed" and isinstance(destination, LocalFolderDestination):
            remove_stale_parts(destination.root.joinpath(self.slug, *path), fmt, rendered.file_names())
        _finish(conn, tenant_id, job, res, rendered.sha256 if res.status == "succeeded" else None)
        if res.status == "succeeded":
            log.info("export %s: %d rows to %s", what, res.rows, res.file)
        else:
            log.info("export %s to %s failed after %d attempt(s)", what, destination.name, res.attempts)
        return res


def _deliver(conn, tenant_id, job, res: ExportResult, destination: Destination, path: list[str], content: bytes,
             attempts: int, backoff_seconds: float) -> None:
    """Deliver with retries and exponential backoff; every failed attempt is recorded on the export job."""

    def attempt() -> str:
        res.attempts += 1
        try:
            return destination.deliver(path, content)
        except Exception as exc:
            with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
                Q.exports.export_job_attempt(conn, tenant_id=tenant_id, export_job_id=job, attempts=res.attempts,
                                     error=_safe_error(exc))
            log.info("export %s/%s to %s: attempt %d failed: %s", res.audience, res.format, destination.name,
                        res.attempts, type(exc).__name__)
            raise

    try:
        for tryer in Retrying(stop=stop_after_attempt(attempts), reraise=True,
                              wait=wait_exponential(multiplier=backoff_seconds, max=30)):
            with tryer:
                where = attempt()
                res.file = res.file or where  # the first file of a multi-part export
        res.status = "succeeded"
    except (Exception, RetryError) as exc:
        res.status, res.error = "failed", _safe_error(exc)


def _finish(conn, tenant_id, job, res: ExportResult, sha: str | None) -> None:
    with tenant_transaction(conn, tenant_id, PIPELINE_ROLE):
        Q.exports.finish_export_job(conn, tenant_id=tenant_id, export_job_id=job, status=res.status, attempts=res.attempts,
                            file=res.file, row_count=res.rows, sha=sha, error=res.error, note=res.note)
