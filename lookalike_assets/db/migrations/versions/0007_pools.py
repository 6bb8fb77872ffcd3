"""Lead scores, staged pools published whole with memberships, exposure history, facts keyed on leads.

Revision ID: 0007_pools
Revises: 0006_identity
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0007_pools"
down_revision = "0006_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0007_pools.sql")


def downgrade() -> None:
    run_sql_file("0007_pools.down.sql")
