"""Holdout assignments: who was first put in an audience's control arm, and when, kept whatever happens to its
members, so incrementality is measured over everyone ever assigned (intention to treat), not today's members.
The treatment arm's record is lookalike_exposure (first export).

Revision ID: 0022_holdout_assignments
Revises: 0021_export_notes
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0022_holdout_assignments"
down_revision = "0021_export_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0022_holdout_assignments.sql")


def downgrade() -> None:
    run_sql_file("0022_holdout_assignments.down.sql")
