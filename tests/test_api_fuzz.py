"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis): for every operation, generated
requests with a valid key of the tenant in the path get no 500, and every response matches the schema (its
status documented, its body of the documented shape). The service runs under uvicorn, as shipped, and the
requests go over HTTP.

A schema-valid request may still get a 400 (documented: "the data says no"), for what a schema cannot say: a
lead id that is not the tenant's, a cursor the API never issued, a lead without any feature value. Any other
refusal of schema-valid data (a 422 above all: a schema that promises more than the service accepts) fails."""

from __future__ import annotations

import pytest
import schemathesis
from conftest import built_tenants
from hypothesis import HealthCheck, settings

from lookalike_assets.db.admin import grant_api_key
from lookalike_assets.db.connect import connect

FUZZ_TENANT = "api-fuzz"


def _schema():
    """The schema, as the application describes itself (building it opens no connection). The tenant in the path
    is fixed to the fuzzed tenant (whose id follows from its slug) as a parameter schemathesis never varies: a
    case made invalid only by its tenant id would otherwise become valid when the test put the real id back."""
    from schemathesis.config import SchemathesisConfig

    from lookalike_assets.api.main import create_app
    from lookalike_assets.domain.demo_data import tenant_id_for

    config = SchemathesisConfig.from_dict({
        "parameters": {"path.tenant_id": str(tenant_id_for(FUZZ_TENANT))},
        "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "409"]}}})
    return schemathesis.openapi.from_dict(create_app("postgresql://localhost/unused").openapi(), config=config)


schema = _schema()


@pytest.fixture(scope="module")
def fuzz_target(test_url):
    import socket
    import threading
    import time

    import dagster as dg
    import uvicorn

    from lookalike_assets.api.main import create_app
    from lookalike_assets.domain.encoder_choice import get_encoder

    t, = built_tenants(test_url, [(2, FUZZ_TENANT)], 200, pool_size=80)
    own = connect(test_url)
    key = grant_api_key(own, t.tenant_id, "fuzz").key
    own.close()
    app = create_app(test_url, encoder=get_encoder("hashing"), instance=dg.DagsterInstance.ephemeral())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", t.tenant_id, key
    server.should_exit = True
    thread.join(10)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_no_schema_violation(case, fuzz_target):
    base_url, tenant_id, key = fuzz_target
    assert (case.path_parameters or {}).get("tenant_id", str(tenant_id)) == str(tenant_id)
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {key}"})
