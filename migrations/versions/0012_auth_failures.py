"""refused authentications counted per username and per client address, kept apart from the last success

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('qbwc_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_auth_address', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('last_failed_auth_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('last_failed_auth_outcome', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('failed_auths', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('failed_auths_since', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(), nullable=True))
    # A refusal used to overwrite the last authentication: move it where refusals now go. When the last
    # success was is not known then.
    op.execute("UPDATE qbwc_connections SET last_failed_auth_at = last_auth_at, "
               "last_failed_auth_outcome = last_auth_outcome, last_auth_at = NULL, last_auth_outcome = NULL "
               "WHERE last_auth_outcome IN ('wrong-password', 'revoked')")
    op.create_table(
        'qbwc_auth_failures',
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('window_started_at', sa.DateTime(), nullable=False),
        sa.Column('locked_until', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('address', name=op.f('pk_qbwc_auth_failures')),
    )
    with op.batch_alter_table('qbwc_auth_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qbwc_auth_failures_window_started_at'), ['window_started_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('qbwc_auth_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qbwc_auth_failures_window_started_at'))
    op.drop_table('qbwc_auth_failures')
    with op.batch_alter_table('qbwc_connections', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_auths_since')
        batch_op.drop_column('failed_auths')
        batch_op.drop_column('last_failed_auth_outcome')
        batch_op.drop_column('last_failed_auth_at')
        batch_op.drop_column('last_auth_address')
