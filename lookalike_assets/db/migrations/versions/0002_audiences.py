"""Change log fed by triggers (and its reader role), export jobs.

Revision ID: 0002_audiences
Revises: 0001_schema
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0002_audiences"
down_revision = "0001_schema"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0002_audiences.sql")


def downgrade() -> None:
    run_sql_file("0002_audiences.down.sql")
