"""Erasure: after `lookalike leads erase`, nothing of the person remains in any table, mart or export file,
except the suppression list's hash of their email, which keeps them out of audiences when they come back."""

from __future__ import annotations

import uuid

from conftest import build_tenant, cli, dbt, tenant_profile

from lookalike_assets.db.connect import APP_ROLE, PIPELINE_ROLE, tenant_transaction
from lookalike_assets.domain.exports import LocalFolderDestination, norm_email, norm_phone_digits, norm_phone_e164, sha256
from lookalike_assets.pipeline.conversions import rebuild_facts, record_conversions
from lookalike_assets.pipeline.demo import load_tenant
from lookalike_assets.pipeline.exports import run_exports
from lookalike_assets.pipeline.importer import import_leads


def occurrences(owner, schema: str, needles: set[str], skip: dict[str, set[str]] | None = None) -> list[str]:
    """Every (table, needle) where a row of a table of ``schema`` mentions a needle, as text."""
    skip = skip or {}
    tables = [r[0] for r in owner.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relkind = 'r'", (schema,)).fetchall()]
    found = []
    for t in tables:
        for needle in needles - skip.get(t, set()):
            n = owner.execute(f'select count(*) from {schema}."{t}" x where x::text ilike %s',
                              (f"%{needle}%",)).fetchone()[0]
            if n:
                found.append(f"{schema}.{t}: {needle[:12]}")
    return found


def test_an_erased_person_is_nowhere(cli_env, owner, conn, app, new_slug, test_url, tmp_path):
    t = load_tenant(owner, tenant_profile(0, new_slug("erase")), 300, pool_size=120)
    build_tenant(conn, t.tenant_id, 120, memberships=True)
    with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
        lead_id, ext, email, phone, country = conn.execute(
            # a member of the audience with all four destinations (so in four files), the same one on every run
            "select l.lead_id, l.external_id, l.email, l.phone, l.country from lookalike_audience_member m "
            "join lookalike_candidate c using (tenant_id, candidate_id) join leads l using (tenant_id, lead_id) "
            "join lookalike_audience a on a.tenant_id = m.tenant_id and a.audience_id = m.audience_id "
            "where a.name = 'Lookalikes of won deals' and l.email is not null and l.phone is not null "
            "order by l.external_id limit 1").fetchone()
        conn.execute("update lookalike_audience set status = 'published'")
        candidate = str(conn.execute("select candidate_id from lookalike_candidate where lead_id = %s limit 1",
                                     (lead_id,)).fetchone()[0])
    days = record_conversions(app, t.tenant_id, [
        {"event_id": f"e-{ext}", "lead_id": str(lead_id), "event_type": "deal_closed", "value": 10,
         "occurred_at": "2026-11-01T10:00:00+00:00"},
        {"event_id": f"q-{ext}", "lead_external_id": ext, "event_type": "bought",  # quarantined, names the lead
         "occurred_at": "2026-11-01T10:00:00+00:00"},
        # quarantined events that name the person otherwise: the id padded and in another case, a candidate of
        # theirs only, their email and phone only in the metadata of an event about nobody known
        {"event_id": f"q2-{ext}", "lead_external_id": f"  {ext.upper()} ", "event_type": "deal_closed",
         "occurred_at": "2026-11-01T10:00:00+00:00"},
        {"event_id": f"q3-{ext}", "candidate_id": candidate, "event_type": "bought",
         "occurred_at": "2026-11-01T10:00:00+00:00"},
        {"event_id": f"q4-{ext}", "lead_external_id": "someone-unknown", "event_type": "deal_closed",
         "metadata": {"contact": email.upper(), "phone": phone}, "occurred_at": "2026-11-01T10:00:00+00:00"}]).days
    rebuild_facts(conn, [str(t.tenant_id)], sorted(days))
    assert dbt(test_url, "build").returncode == 0
    exports = cli_env / "exports"
    run_exports(conn, t.tenant_id, LocalFolderDestination(exports), min_sizes={"meta": 1, "google": 1, "linkedin": 1})
    rejects = cli_env / "rejects"
    rejects.mkdir(parents=True, exist_ok=True)
    (rejects / f"{t.slug}-old-import.csv").write_text(f"row,external_id,reason\n3,{ext},duplicate id\n")
    with tenant_transaction(app, t.tenant_id, APP_ROLE):
        assert app.execute("select count(*) from lookalike_conversion_quarantine where event_id like %s",
                           (f"q%-{ext}",)).fetchone()[0] >= 3  # quarantined, as the reviewer found them
    needles = {str(lead_id), ext, email.lower(), candidate} | {
        sha256(v) for v in (norm_email(email), norm_email(email, google=True), norm_phone_digits(phone, country),
                            norm_phone_e164(phone, country)) if v}
    files_before = [p for p in exports.rglob("*.csv") if any(n.encode() in p.read_bytes() for n in needles)]
    assert len(files_before) >= 4 and occurrences(owner, "marts", needles)  # the person is everywhere first

    code, out = cli("leads", "erase", "--tenant", t.slug, "--lead", ext, "--yes")
    assert code == 0, out
    out = " ".join(out.split())
    assert "erased 1 lead(s)" in out and "1 email(s) suppressed" in out and email not in out and ext not in out

    email_hash = sha256(email.strip().lower())
    assert not occurrences(owner, "public", needles, skip={"suppression_list": {email_hash}}), "left in a table"
    assert not occurrences(owner, "marts", needles), "left in a mart"
    left = [str(p) for p in (cli_env).rglob("*") if p.is_file() and any(n.encode() in p.read_bytes() for n in needles)]
    assert not left, left
    with owner.transaction():
        reason = owner.execute("select reason from suppression_list where tenant_id = %s and email_sha256 = %s",
                               (t.tenant_id, email_hash)).fetchone()[0]
        audit = owner.execute("select leads, counts::text from lookalike_erasure where tenant_id = %s",
                              (t.tenant_id,)).fetchone()
    assert reason == "erasure" and audit[0] == 1
    assert not any(n in audit[1] for n in needles)  # counts only

    # the person comes back in a later import: kept out of every audience by the suppression list
    f = tmp_path / "again.csv"
    f.write_text(f"external_id,email,industry\n{ext},{email},software\n")
    import_leads(app, t.tenant_id, f, update_spec=True)
    build_tenant(conn, t.tenant_id, 120, memberships=True)
    with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
        assert conn.execute("select count(*) from lookalike_candidate c join leads l using (tenant_id, lead_id) "
                            "where l.external_id = %s", (ext,)).fetchone()[0] == 0


def test_erasing_nobody_is_refused_and_an_unknown_email_is_still_suppressed(cli_env, owner, app, new_slug):
    t = load_tenant(owner, tenant_profile(1, new_slug("erase-none")), 40, pool_size=10)
    code, out = cli("leads", "erase", "--tenant", t.slug, "--yes")
    assert code == 2 and "no one to erase" in out
    code, out = cli("leads", "erase", "--tenant", t.slug, "--email", "Not.Yet@Lead.com", "--lead", "nobody", "--yes")
    out = " ".join(out.split())
    assert code == 0 and "erased 0 lead(s)" in out and "1 email(s) suppressed" in out
    assert "not a lead of this tenant: nobody" in out
    with tenant_transaction(app, t.tenant_id, APP_ROLE):
        assert app.execute("select count(*) from suppression_list where email_sha256 = %s",
                           (sha256("not.yet@lead.com"),)).fetchone()[0] == 1
    assert uuid.UUID(str(t.tenant_id))


def _files(root):
    """Every file of the tenant's export and rejects folders (the marts' rebuild adds logs and reports elsewhere)."""
    return {str(p.relative_to(root)): p.read_bytes() for d in ("exports", "rejects") if (root / d).exists()
            for p in (root / d).rglob("*") if p.is_file()}


def test_erasure_rewrites_only_the_rows_of_the_erased_person_and_deletes_no_file(cli_env, owner, conn, app, new_slug):
    """External id `1` is a substring of nearly every file: matching by substring emptied the export folder. Only
    rows whose identifying cell (id, email, phone, or their platform hashes) is the person's go, and are counted."""
    from lookalike_assets.pipeline.leads import upsert_leads

    t = load_tenant(owner, tenant_profile(2, new_slug("erase-precise")), 300, pool_size=120)
    build_tenant(conn, t.tenant_id, 120, memberships=True)
    with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
        conn.execute("update lookalike_audience set status = 'published'")
    exports = cli_env / "exports"
    run_exports(conn, t.tenant_id, LocalFolderDestination(exports), min_sizes={"meta": 1, "google": 1, "linkedin": 1})
    rejects = cli_env / "rejects"
    rejects.mkdir(parents=True, exist_ok=True)
    (rejects / f"{t.slug}-old-import.csv").write_text("row,external_id,reason\n1,x-1,duplicate id\n11,1,bad email\n")
    upsert_leads(app, t.tenant_id, [{"external_id": "1", "email": "one@example.com", "industry": "software"}])
    before = _files(cli_env)
    assert sum(n.endswith(".csv") for n in before) >= 5 and any(n.endswith("index.csv") for n in before)

    code, out = cli("leads", "erase", "--tenant", t.slug, "--lead", "1", "--yes")
    assert code == 0, out
    after = _files(cli_env)
    assert set(after) == set(before), set(before) ^ set(after)  # not one file deleted
    # (index.csv is written again by the exports erasure runs, with the minimum sizes of the command line)
    changed = [n for n in before if before[n] != after[n] and not n.endswith("index.csv")]
    assert changed == [f"rejects/{t.slug}-old-import.csv"], changed  # the one file that named the lead
    assert after[changed[0]] == b"row,external_id,reason\n1,x-1,duplicate id\n"  # its row only, not row 1 or x-1
    out = " ".join(out.split())
    assert "1 file(s) rewritten without them (1 row(s))" in out and "file(s) that still named them deleted" not in out
    with owner.transaction():
        counts = owner.execute("select counts from lookalike_erasure where tenant_id = %s", (t.tenant_id,)).fetchone()[0]
    assert counts["files_rewritten"] == 1 and counts["file_rows_removed"] == 1

    # a member of an audience: its rows leave every file it is in, every other row stays
    with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
        ext = conn.execute("select l.external_id from lookalike_audience_member m join lookalike_candidate c "
                           "using (tenant_id, candidate_id) join leads l using (tenant_id, lead_id) "
                           "order by l.external_id limit 1").fetchone()[0]
    before = _files(cli_env)
    code, out = cli("leads", "erase", "--tenant", t.slug, "--lead", ext, "--yes")
    assert code == 0, out
    after = _files(cli_env)
    assert set(after) >= set(before)
    for name, data in before.items():
        old, new = data.decode().splitlines(), after[name].decode().splitlines()
        assert len(new) >= len(old) - 1 and old[0] == new[0], name  # at most the person's one row left it
        assert set(new) <= set(old) or name.endswith("index.csv"), name


def test_no_lead_content_reaches_dagster_storage(cli_env, owner, new_slug, tmp_path):
    """Dagster's run and event storage is out of erasure's reach: a refresh puts no lead's id, words or email in
    it (no previews in metadata, counts only in logs)."""
    import os
    from pathlib import Path

    t = load_tenant(owner, tenant_profile(0, new_slug("dagster-clean")), 120, pool_size=40)
    rows = owner.execute("select external_id, email, bio from leads where tenant_id = %s and bio is not null",
                         (t.tenant_id,)).fetchall()
    code, out = cli("materialize", "--tenant", t.slug)
    assert code == 0, out
    storage = [f for f in Path(os.environ["DAGSTER_HOME"]).rglob("*") if f.is_file()]
    assert storage
    blob = b"".join(f.read_bytes() for f in storage)
    for ext, email, bio in rows:
        assert ext.encode() not in blob, ext
        assert email is None or email.encode() not in blob
        assert bio[:40].encode() not in blob
