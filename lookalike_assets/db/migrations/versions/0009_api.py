"""The online API: keys bound to one tenant, and the jobs it starts.

Revision ID: 0009_api
Revises: 0008_permanent_slugs
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0009_api"
down_revision = "0008_permanent_slugs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0009_api.sql")


def downgrade() -> None:
    run_sql_file("0009_api.down.sql")
