"""Holdouts: the arm (treatment or control) of each audience member.

Revision ID: 0012_holdouts
Revises: 0011_segments
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0012_holdouts"
down_revision = "0011_segments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0012_holdouts.sql")


def downgrade() -> None:
    run_sql_file("0012_holdouts.down.sql")
