"""Database access: the embedded server, connections with tenant scoping, migrations and queries."""

from lookalike_assets.db.connect import (
    APP_ROLE,
    BI_ROLE,
    PIPELINE_ROLE,
    admin_connection,
    database_url,
    tenant_transaction,
)

__all__ = [
    "APP_ROLE",
    "BI_ROLE",
    "PIPELINE_ROLE",
    "admin_connection",
    "database_url",
    "tenant_transaction",
]
