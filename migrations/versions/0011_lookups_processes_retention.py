"""a job keeps the lookup of a lost outcome apart from its own request; the service's processes and the
process that served each session; what pruning needs to know of a job (its key was given, it was pruned)

Jobs queued before this revision count as queued under a key of their caller's: pruning keeps their rows.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lookup_xml', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('key_given', sa.Boolean(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('pruned_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_qbwc_jobs_prunable', ['status', 'pruned_at', 'finished_at'], unique=False)
    op.create_table('qbwc_processes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('seen_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qbwc_processes'))
    )
    with op.batch_alter_table('qbwc_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('process_id', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('qbwc_sessions', schema=None) as batch_op:
        batch_op.drop_column('process_id')
    op.drop_table('qbwc_processes')
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_qbwc_jobs_prunable')
        batch_op.drop_column('pruned_at')
        batch_op.drop_column('key_given')
        batch_op.drop_column('lookup_xml')
