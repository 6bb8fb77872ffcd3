"""Balanced segments of published audiences, and per-segment exports.

Revision ID: 0011_segments
Revises: 0010_online
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0011_segments"
down_revision = "0010_online"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0011_segments.sql")


def downgrade() -> None:
    run_sql_file("0011_segments.down.sql")
