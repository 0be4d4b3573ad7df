"""pulled records, stream high-water marks, job warnings and cursors

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('qbwc_sync_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('stream', sa.String(length=60), nullable=False),
    sa.Column('high_water', sa.String(length=40), nullable=True),
    sa.Column('last_run_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['qbwc_connections.id'], name=op.f('fk_qbwc_sync_state_connection_id_qbwc_connections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qbwc_sync_state')),
    sa.UniqueConstraint('connection_id', 'stream', name='uq_qbwc_sync_state_stream')
    )
    op.create_table('qbwc_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('qbd_id', sa.String(length=60), nullable=False),
    sa.Column('edit_sequence', sa.String(length=40), nullable=False),
    sa.Column('time_modified', sa.String(length=40), nullable=True),
    sa.Column('ret_xml', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('not_before', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['qbwc_connections.id'], name=op.f('fk_qbwc_deliveries_connection_id_qbwc_connections')),
    sa.ForeignKeyConstraint(['job_id'], ['qbwc_jobs.id'], name=op.f('fk_qbwc_deliveries_job_id_qbwc_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qbwc_deliveries')),
    sa.UniqueConstraint('connection_id', 'entity', 'qbd_id', 'edit_sequence', name='uq_qbwc_deliveries_version')
    )
    with op.batch_alter_table('qbwc_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_qbwc_deliveries_pending', ['connection_id', 'status', 'id'], unique=False)

    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warnings', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('cursor', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.drop_column('cursor')
        batch_op.drop_column('warnings')

    with op.batch_alter_table('qbwc_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_qbwc_deliveries_pending')

    op.drop_table('qbwc_deliveries')
    op.drop_table('qbwc_sync_state')
