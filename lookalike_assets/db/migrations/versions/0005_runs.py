"""Who wrote each change (actor), watermarks of covered changes, the per-run tenant lease.

Revision ID: 0005_runs
Revises: 0004_ranking
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0005_runs"
down_revision = "0004_ranking"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0005_runs.sql")


def downgrade() -> None:
    run_sql_file("0005_runs.down.sql")
