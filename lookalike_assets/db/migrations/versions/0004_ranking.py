"""Model registry for the learned ranking.

Revision ID: 0004_ranking
Revises: 0003_conversions
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0004_ranking"
down_revision = "0003_conversions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0004_ranking.sql")


def downgrade() -> None:
    run_sql_file("0004_ranking.down.sql")
