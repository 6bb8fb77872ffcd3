"""The step log: every tenant asset step's duration, status and counts, for the pipeline-health mart.

Revision ID: 0014_health
Revises: 0013_tuning
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0014_health"
down_revision = "0013_tuning"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0014_health.sql")


def downgrade() -> None:
    run_sql_file("0014_health.down.sql")
