"""API keys for the HTTP API; indexes that let /metrics read the unfinished jobs and the recent sessions alone

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'qbwc_api_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('key_id', sa.String(length=32), nullable=False),
        sa.Column('key_hash', sa.String(length=200), nullable=False),
        sa.Column('scope', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_used_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_qbwc_api_keys')),
        sa.UniqueConstraint('key_id', name=op.f('uq_qbwc_api_keys_key_id')),
        sa.UniqueConstraint('name', name=op.f('uq_qbwc_api_keys_name')),
    )
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_qbwc_jobs_status', ['status', 'connection_id'], unique=False)
        batch_op.create_index('ix_qbwc_jobs_updated', ['updated_at'], unique=False)
    with op.batch_alter_table('qbwc_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_qbwc_sessions_state', ['state', 'connection_id'], unique=False)
        batch_op.create_index('ix_qbwc_sessions_activity', ['last_activity_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('qbwc_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_qbwc_sessions_activity')
        batch_op.drop_index('ix_qbwc_sessions_state')
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_qbwc_jobs_updated')
        batch_op.drop_index('ix_qbwc_jobs_status')
    op.drop_table('qbwc_api_keys')
