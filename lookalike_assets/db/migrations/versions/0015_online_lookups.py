"""An index for the duplicate check of a lead being scored online (normalized email per tenant).

Revision ID: 0015_online_lookups
Revises: 0014_health
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0015_online_lookups"
down_revision = "0014_health"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0015_online_lookups.sql")


def downgrade() -> None:
    run_sql_file("0015_online_lookups.down.sql")
