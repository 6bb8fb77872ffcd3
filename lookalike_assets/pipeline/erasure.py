"""Erasure ("right to be forgotten", GDPR art. 17 / CCPA): remove a person everywhere lookalike keeps them.

In the database, in one transaction as the application: the lead and everything that hangs off it (features,
embedding, seeds, candidates and memberships, conversions and their facts), quarantined events that name it,
and an entry in the suppression list for each of its email addresses (as SHA-256 only), so that a re-import
does not bring the person back into audiences. An audit row records counts, never who.

Outside the database (``lookalike leads erase`` does all of it): the marts' rows of the lead are deleted and the
marts rebuilt (db/admin.py), the tenant's export files are rewritten without the lead, and any file under the
tenant's export and rejects folders is rewritten without the rows whose identifying cell is the person's
(``scrub_files``): never a whole file, never by substring.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from lookalike_assets.db.connect import APP_ROLE, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.csvfiles import without_rows_naming
from lookalike_assets.domain.exports import (
    norm_email,
    norm_phone_digits,
    norm_phone_e164,
    sha256,
    write_atomically,
)
from lookalike_assets.domain.identifiers import normalize_email
from lookalike_assets.pipeline.admin import AdminError, email_sha256
from lookalike_assets.pipeline.common import uuid_refs


@dataclass
class Erasure:
    erasure_id: uuid.UUID | None = None
    leads: int = 0
    not_found: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    suppressed: int = 0
    # what identified the erased people in files (kept in memory only, to find them in files)
    lead_ids: list[str] = field(default_factory=list)
    markers: set[str] = field(default_factory=set)


def _markers(rows: list[tuple]) -> set[str]:
    """Every form in which a person appears in lookalike's files: ids, and the hashes the platforms get."""
    out: set[str] = set()
    for lead_id, ext, email, phone, country in rows:
        out |= {str(lead_id), ext}
        if email:
            out |= {sha256(e) for e in (norm_email(email), norm_email(email, google=True)) if e}
        if phone:
            out |= {sha256(p) for p in (norm_phone_digits(phone, country), norm_phone_e164(phone, country)) if p}
    return {m for m in out if m}


def _needles(rows: list[tuple]) -> set[str]:
    """What to search a quarantined event's raw text for (lower case): the leads' emails and phones, clear and
    hashed, never their ids (an id may be a short number that any text contains)."""
    out: set[str] = set()
    for _lead_id, _ext, email, phone, country in rows:
        if email and email.strip():
            out.add(email.strip().lower())
        if phone:
            out |= {p for p in (norm_phone_e164(phone, country), norm_phone_digits(phone, country)) if p
                    and len(p.lstrip("+")) >= 7}
    hashed = _markers(rows) - {str(r[0]) for r in rows} - {r[1] for r in rows}
    return {n.lower() for n in out | hashed if n and len(n) >= 6}


def erase(conn: psycopg.Connection, tenant_id: uuid.UUID, *, refs: list[str] = (), emails: list[str] = ()
          ) -> Erasure:
    """Erase the tenant's leads named by external id or lead id, and the leads with these emails. An email that
    is not (yet) a lead is still suppressed."""
    refs = [r.strip() for r in refs if r and r.strip()]
    normalized = [normalize_email(e) or e.strip().lower() for e in emails if e and e.strip()]
    if not refs and not normalized:
        raise AdminError("no one to erase: give lead ids, external ids or emails")
    out = Erasure()
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        rows = list(Q.admin.erasure_leads(conn, tenant_id=tenant_id, refs=refs, ids=uuid_refs(refs),
                                          emails=normalized))
        found = {str(r[0]) for r in rows} | {r[1] for r in rows} | {(r[2] or "").strip().lower() for r in rows}
        out.not_found = [r for r in refs if r not in found]
        lead_ids = [r[0] for r in rows]
        out.lead_ids = [str(x) for x in lead_ids]
        out.markers = _markers(rows)
        if lead_ids:
            out.counts = dict(zip(
                ("features", "embeddings", "seeds", "candidates", "memberships", "conversions", "facts"),
                (int(n) for n in Q.admin.erasure_counts(conn, tenant_id=tenant_id, lead_ids=lead_ids))))
            candidates = [r[0] for r in Q.admin.candidate_ids_of(conn, tenant_id=tenant_id, lead_ids=lead_ids)]
            out.counts["quarantined_events"] = Q.admin.erase_quarantined(
                conn, tenant_id=tenant_id, lead_ids=[str(x).lower() for x in lead_ids],
                external_ids=[r[1].strip().lower() for r in rows], candidate_ids=[c.lower() for c in candidates],
                needles=sorted(_needles(rows)))
            out.leads = len(list(Q.admin.erase_leads(conn, tenant_id=tenant_id, lead_ids=lead_ids)))
        for e in sorted({*(r[2].strip().lower() for r in rows if r[2]), *normalized}):
            if Q.admin.add_suppression(conn, tenant_id=tenant_id, lead_id=None, email_sha256=email_sha256(e),
                                 reason="erasure") is not None:
                out.suppressed += 1
        out.erasure_id = Q.admin.log_erasure(conn, tenant_id=tenant_id, leads=out.leads,
                                       counts=Jsonb({**out.counts, "suppressed": out.suppressed}))
    return out


@dataclass
class FileScrub:
    """What erasure did to the files of a tenant's export and rejects folders."""

    rewritten: list[Path] = field(default_factory=list)
    rows_removed: int = 0


def scrub_files(paths: list[Path], markers: set[str]) -> FileScrub:
    """Rewrite every CSV file of ``paths`` (files, or folders searched recursively) without the rows whose
    identifying cell (an id, an email or phone, clear or hashed) is one of ``markers``; atomically, each file as
    a whole. Other rows, other files and files with no identifying column are left exactly as they were: nothing
    is deleted (after exports were rewritten, what still names the person: files of retired audiences, formats no
    longer exported, rejects)."""
    out = FileScrub()
    for path in paths:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*.csv") if p.is_file()) \
            if path.exists() else []
        for f in files:
            data, removed = without_rows_naming(f.read_bytes(), markers)
            if not removed:
                continue
            write_atomically(f, data)
            out.rewritten.append(f)
            out.rows_removed += removed
    return out


def record_file_scrub(conn: psycopg.Connection, tenant_id: uuid.UUID, erasure_id: uuid.UUID, scrub: FileScrub) -> None:
    """Add the files' part to the erasure's audit row (counts only)."""
    with tenant_transaction(conn, tenant_id, APP_ROLE):
        Q.admin.record_erasure_files(conn, tenant_id=tenant_id, erasure_id=erasure_id,
                                     counts=Jsonb({"files_rewritten": len(scrub.rewritten),
                                                   "file_rows_removed": scrub.rows_removed}))
