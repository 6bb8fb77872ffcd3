"""Destinations: a tenant's named connections to the ad platforms (credentials sealed), what each holds of an
audience, and every sync.

Revision ID: 0018_destinations
Revises: 0017_studio
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0018_destinations"
down_revision = "0017_studio"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0018_destinations.sql")


def downgrade() -> None:
    run_sql_file("0018_destinations.down.sql")
