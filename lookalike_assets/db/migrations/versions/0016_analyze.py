"""lookalike_analyze: the pool stage and lead scores too, and only for the platform's own logins.

Revision ID: 0016_analyze
Revises: 0015_online_lookups
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0016_analyze"
down_revision = "0015_online_lookups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0016_analyze.sql")


def downgrade() -> None:
    run_sql_file("0016_analyze.down.sql")
