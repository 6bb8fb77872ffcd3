"""Conversion quarantine and facts; conversion days in the change log.

Revision ID: 0003_conversions
Revises: 0002_audiences
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0003_conversions"
down_revision = "0002_audiences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0003_conversions.sql")


def downgrade() -> None:
    run_sql_file("0003_conversions.down.sql")
