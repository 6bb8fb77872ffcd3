"""The log of the changes the tuning made to audiences.

Revision ID: 0013_tuning
Revises: 0012_holdouts
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0013_tuning"
down_revision = "0012_holdouts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0013_tuning.sql")


def downgrade() -> None:
    run_sql_file("0013_tuning.down.sql")
