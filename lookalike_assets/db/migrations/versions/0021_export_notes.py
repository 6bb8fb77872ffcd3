"""Export notes: what an export could not send as the platform needs it (Google: names without a postal code),
kept with the export so `audiences show` and the UI can say it.

Revision ID: 0021_export_notes
Revises: 0020_tenant_stalls
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0021_export_notes"
down_revision = "0020_tenant_stalls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0021_export_notes.sql")


def downgrade() -> None:
    run_sql_file("0021_export_notes.down.sql")
