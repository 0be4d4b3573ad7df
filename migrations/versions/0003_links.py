"""links (the id map) and reconcilable jobs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('qbwc_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('flow', sa.String(length=40), nullable=False),
    sa.Column('fusion_id', sa.String(length=100), nullable=False),
    sa.Column('qbd_type', sa.String(length=40), nullable=False),
    sa.Column('qbd_id', sa.String(length=60), nullable=False),
    sa.Column('ref_number', sa.String(length=40), nullable=True),
    sa.Column('edit_sequence', sa.String(length=40), nullable=True),
    sa.Column('line_ids', sa.JSON(), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['qbwc_connections.id'], name=op.f('fk_qbwc_links_connection_id_qbwc_connections')),
    sa.ForeignKeyConstraint(['job_id'], ['qbwc_jobs.id'], name=op.f('fk_qbwc_links_job_id_qbwc_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qbwc_links')),
    sa.UniqueConstraint('connection_id', 'flow', 'fusion_id', name='uq_qbwc_links_entity')
    )
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reconcilable', sa.Boolean(), server_default='0', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.drop_column('reconcilable')

    op.drop_table('qbwc_links')
