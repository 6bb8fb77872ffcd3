"""Tenant-isolated schema: tenants, leads, features, embeddings, seeds, audiences, candidates, members,
conversions, suppression list; roles; Row-Level Security on every tenant table.

Revision ID: 0001_schema
Revises:
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0001_schema"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0001_schema.sql")


def downgrade() -> None:
    run_sql_file("0001_schema.down.sql")
