"""a job may be sent in a message set of its own

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('send_alone', sa.Boolean(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.drop_column('send_alone')
