"""The studio: people of a tenant, one-time sign-in links and sessions (hashes only), and their definer functions.

Revision ID: 0017_studio
Revises: 0016_analyze
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0017_studio"
down_revision = "0016_analyze"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0017_studio.sql")


def downgrade() -> None:
    run_sql_file("0017_studio.down.sql")
