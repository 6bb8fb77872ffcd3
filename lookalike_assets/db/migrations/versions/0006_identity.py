"""Tenancy bound to the login, composite foreign keys everywhere, the erasure log.

Revision ID: 0006_identity
Revises: 0005_runs
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0006_identity"
down_revision = "0005_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0006_identity.sql")


def downgrade() -> None:
    run_sql_file("0006_identity.down.sql")
