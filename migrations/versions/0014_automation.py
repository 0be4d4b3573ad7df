"""automatic mode: each connection's automation state (the last automatic retrieve, each flow's Fusion cursor),
the webhook events taken, and the webhook's shared secret

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'qbwc_automation_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('mark_at', sa.String(length=40), nullable=True),
        sa.Column('mark_id', sa.String(length=100), nullable=True),
        sa.Column('seen', sa.JSON(), nullable=True),
        sa.Column('ran_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['connection_id'], ['qbwc_connections.id'],
                                name=op.f('fk_qbwc_automation_state_connection_id_qbwc_connections')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_qbwc_automation_state')),
        sa.UniqueConstraint('connection_id', 'name', name='uq_qbwc_automation_state_name'),
    )
    op.create_table(
        'qbwc_webhook_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=200), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['connection_id'], ['qbwc_connections.id'],
                                name=op.f('fk_qbwc_webhook_events_connection_id_qbwc_connections')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_qbwc_webhook_events')),
        sa.UniqueConstraint('connection_id', 'event_id', name='uq_qbwc_webhook_events_event'),
    )
    with op.batch_alter_table('qbwc_webhook_events', schema=None) as batch_op:
        batch_op.create_index('ix_qbwc_webhook_events_received', ['received_at'], unique=False)
    with op.batch_alter_table('qbwc_fusion_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_secret_sealed', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('qbwc_fusion_accounts', schema=None) as batch_op:
        batch_op.drop_column('webhook_secret_sealed')
    with op.batch_alter_table('qbwc_webhook_events', schema=None) as batch_op:
        batch_op.drop_index('ix_qbwc_webhook_events_received')
    op.drop_table('qbwc_webhook_events')
    op.drop_table('qbwc_automation_state')
