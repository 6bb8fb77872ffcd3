"""A tenant's slug is permanent (it keys Dagster's tenant partitions); row counts per tenant.

Revision ID: 0008_permanent_slugs
Revises: 0007_pools
"""

from lookalike_assets.db.migrate import run_sql_file

revision = "0008_permanent_slugs"
down_revision = "0007_pools"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0008_permanent_slugs.sql")


def downgrade() -> None:
    run_sql_file("0008_permanent_slugs.down.sql")
