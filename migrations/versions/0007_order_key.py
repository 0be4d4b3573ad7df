"""a bill's or invoice's job names the order it bills

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('order_key', sa.String(length=120), nullable=True))
        batch_op.create_index('ix_qbwc_jobs_order', ['connection_id', 'order_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_qbwc_jobs_order')
        batch_op.drop_column('order_key')
