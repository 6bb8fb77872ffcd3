"""Column meanings: a tenant's corrections of what its imported columns mean (a readable name, a description, a
unit, a scale, words for them), read by audiences in words.

Revision ID: 0019_column_meanings
Revises: 0018_destinations
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0019_column_meanings"
down_revision = "0018_destinations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0019_column_meanings.sql")


def downgrade() -> None:
    run_sql_file("0019_column_meanings.down.sql")
