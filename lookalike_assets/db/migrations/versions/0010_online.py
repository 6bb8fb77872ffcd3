"""The online half: exports the API asks for, and an approximate index per large tenant.

Revision ID: 0010_online
Revises: 0009_api
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0010_online"
down_revision = "0009_api"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0010_online.sql")


def downgrade() -> None:
    run_sql_file("0010_online.down.sql")
