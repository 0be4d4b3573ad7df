"""the delivery worker: claims with a lease, what was sent to Fusion and what it became, links found by TxnID

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('qbwc_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('create_started_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('fusion_collection', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('fusion_id', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('fusion_payload', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.Text(), nullable=True))
        batch_op.create_index('ix_qbwc_deliveries_document', ['connection_id', 'qbd_id', 'id'], unique=False)
    with op.batch_alter_table('qbwc_links', schema=None) as batch_op:
        batch_op.create_index('ix_qbwc_links_qbd', ['connection_id', 'flow', 'qbd_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('qbwc_links', schema=None) as batch_op:
        batch_op.drop_index('ix_qbwc_links_qbd')
    with op.batch_alter_table('qbwc_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_qbwc_deliveries_document')
        batch_op.drop_column('outcome')
        batch_op.drop_column('fusion_payload')
        batch_op.drop_column('fusion_id')
        batch_op.drop_column('fusion_collection')
        batch_op.drop_column('create_started_at')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('claimed_by')
