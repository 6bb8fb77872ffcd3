"""No tenant can stall another: tenants' logins hold no table-level UPDATE or DELETE (which would let them take
locks that block every tenant), the platform's service logins keep them through their own group, and platform
logins may use the connections PostgreSQL reserves.

Revision ID: 0020_tenant_stalls
Revises: 0019_column_meanings
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0020_tenant_stalls"
down_revision = "0019_column_meanings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0020_tenant_stalls.sql")


def downgrade() -> None:
    run_sql_file("0020_tenant_stalls.down.sql")
