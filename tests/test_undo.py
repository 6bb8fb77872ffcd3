"""Undo from the command line: delete leads (a bad import), edit and delete audiences, delete a tenant with its
data, partition and files, and keep a suppression list."""

from __future__ import annotations

import json

from conftest import build_tenant, cli, tenant_profile

from lookalike_assets.db.connect import PIPELINE_ROLE, tenant_transaction
from lookalike_assets.domain.exports import LocalFolderDestination
from lookalike_assets.pipeline.demo import load_tenant
from lookalike_assets.pipeline.exports import run_exports


def count(conn, tid, sql: str) -> int:
    with tenant_transaction(conn, tid, PIPELINE_ROLE):
        return conn.execute(sql).fetchone()[0]


def test_a_bad_import_is_undone_with_leads_delete(owner, cli_env, conn, new_slug, tmp_path):
    t = load_tenant(owner, tenant_profile(0, new_slug("undo")), 200, pool_size=50)
    build_tenant(conn, t.tenant_id, 50, memberships=True)
    bad = tmp_path / "oops.csv"
    bad.write_text("lead_ref,industry,web_visits\n" + "".join(f"oops-{i},software,{i}\n" for i in range(30)))
    code, out = cli("leads", "import", str(bad), "--tenant", t.slug, "--update-spec")
    assert code == 0 and "30 inserted" in out, out
    assert count(conn, t.tenant_id, "select count(*) from leads") == 230
    code, out = cli("leads", "delete", "--tenant", t.slug, "--file", str(bad), "--yes")
    assert code == 0 and "30 lead(s)" in out and "0 not found" in out, out
    assert count(conn, t.tenant_id, "select count(*) from leads") == 200
    # by id, with everything of the lead: candidates and memberships go too
    with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
        member = conn.execute("select l.external_id from lookalike_audience_member m join lookalike_candidate c "
                              "using (tenant_id, candidate_id) join leads l using (tenant_id, lead_id) limit 1").fetchone()[0]
    code, out = cli("leads", "delete", member, "nobody", "--tenant", t.slug, "--yes")
    assert code == 0 and "1 lead(s)" in out and "not a lead of this tenant: nobody" in out
    assert count(conn, t.tenant_id, f"select count(*) from lookalike_candidate c join leads l using (tenant_id, lead_id) "
                                    f"where l.external_id = '{member}'") == 0
    code, out = cli("leads", "delete", "--tenant", t.slug)
    assert code == 2 and "no leads given" in out


def test_audiences_are_edited_and_deleted(owner, cli_env, conn, new_slug):
    t = load_tenant(owner, tenant_profile(0, new_slug("aud")), 200, pool_size=50)
    build_tenant(conn, t.tenant_id, 50, memberships=True)
    name = "Lookalikes of won deals"
    rules = {"filters": [{"field": "industry", "op": "in", "values": ["software"]}], "reach": {"max_size": 20},
             "auto_publish": True, "destinations": ["crm"]}
    code, out = cli("audiences", "edit", name, "--tenant", t.slug, "--rules", json.dumps(rules), "--name", "Won, software")
    assert code == 0 and "'Won, software' updated" in out, out
    code, out = cli("audiences", "edit", "Won, software", "--tenant", t.slug, "--rules", '{"filters": [{"field": "x"}]}')
    assert code == 2 and "rules.filters[0]" in out
    code, out = cli("audiences", "edit", "Won, software", "--tenant", t.slug, "--name", "Engaged lookalikes")
    assert code == 2 and "exists already" in out
    code, out = cli("audiences", "edit", "Won, software", "--tenant", t.slug, "--name", "x" * 201)
    assert code == 2 and "1 to 200 characters" in out
    code, out = cli("audiences", "edit", "Won, software", "--tenant", t.slug)
    assert code == 2 and "nothing to change" in out
    build_tenant(conn, t.tenant_id, 50, memberships=True)
    assert count(conn, t.tenant_id, "select size_estimate from lookalike_audience where name = 'Won, software'") <= 20
    from lookalike_assets.settings import get_settings

    run_exports(conn, t.tenant_id, LocalFolderDestination(get_settings().exports_dir))
    folders = {p.name for p in (cli_env / "exports" / t.slug).iterdir()}
    assert any(f.startswith("won-software--") for f in folders), folders
    assert "index.csv" in folders and "Won, software" in (cli_env / "exports" / t.slug / "index.csv").read_text()
    code, out = cli("audiences", "delete", "Won, software", "--tenant", t.slug, "--yes")
    assert code == 0 and "deleted, 1 export folder(s) removed" in out, out
    assert count(conn, t.tenant_id, "select count(*) from lookalike_audience where name = 'Won, software'") == 0
    assert not any(p.name.startswith("won-software--") for p in (cli_env / "exports" / t.slug).iterdir())


def test_a_tenant_is_deleted_with_its_data_partition_and_files(owner, cli_env, conn, new_slug):
    from lookalike_assets.defs.partitions import TENANTS_PARTITION
    from lookalike_assets.orchestration import get_instance, register_tenants
    from lookalike_assets.settings import get_settings

    t = load_tenant(owner, tenant_profile(1, new_slug("gone")), 150, pool_size=40)
    build_tenant(conn, t.tenant_id, 40, memberships=True)
    run_exports(conn, t.tenant_id, LocalFolderDestination(get_settings().exports_dir))
    register_tenants(get_instance(), [t.slug])
    code, out = cli("tenants", "delete", t.slug, input="wrong-slug\n")
    assert code == 1 and "nothing was deleted" in out
    assert count(conn, t.tenant_id, "select count(*) from leads") == 150
    code, out = cli("tenants", "delete", t.slug, input=f"{t.slug}\n")
    assert code == 0 and "150 leads" in out and "its partition" in out, out
    with owner.transaction():
        assert owner.execute("select count(*) from tenants where tenant_id = %s", (t.tenant_id,)).fetchone()[0] == 0
        assert owner.execute("select count(*) from lookalike_candidate where tenant_id = %s",
                            (t.tenant_id,)).fetchone()[0] == 0
    assert not (cli_env / "exports" / t.slug).exists()
    assert t.slug not in get_instance().get_dynamic_partitions(TENANTS_PARTITION)


def test_suppression_by_lead_and_by_email(owner, cli_env, conn, new_slug):
    t = load_tenant(owner, tenant_profile(0, new_slug("sup")), 200, pool_size=60)
    build_tenant(conn, t.tenant_id, 60)
    with tenant_transaction(conn, t.tenant_id, PIPELINE_ROLE):
        in_pool = conn.execute("select l.external_id, l.email from lookalike_candidate c join leads l "
                               "using (tenant_id, lead_id) where l.email is not null order by c.similarity_score desc "
                               "limit 2").fetchall()
    (ext, _), (_, email) = in_pool
    code, out = cli("suppression", "add", "--tenant", t.slug, "--lead", ext, "--email", email.upper(),
                    "--email", "not-an-email", "--reason", "opt-out")
    assert code == 0 and "2 suppression(s) added" in out and "not an email address: 'not-an-email'" in out, out
    code, out = cli("suppression", "list", "--tenant", t.slug)
    assert code == 0 and ext in out and "opt-out" in out and email not in out
    build_tenant(conn, t.tenant_id, 60)
    assert count(conn, t.tenant_id, f"select count(*) from lookalike_candidate c join leads l using (tenant_id, lead_id) "
                                    f"where l.external_id = '{ext}' or l.email = '{email}'") == 0
    code, out = cli("suppression", "remove", ext, email, "--tenant", t.slug)
    assert code == 0 and "2 suppression(s) removed" in out
    code, out = cli("suppression", "remove", "nothing-here", "--tenant", t.slug)
    assert code == 1
