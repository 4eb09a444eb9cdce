"""The users and the prestart runs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("full_name", sa.String(255)),
        sa.Column("hashed_password", sa.String(), nullable=False),
    )
    op.create_index("ix_user_email", "user", ["email"], unique=True)
    op.create_table(
        "prestart_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("release", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("prestart_runs")
    op.drop_index("ix_user_email", table_name="user")
    op.drop_table("user")
