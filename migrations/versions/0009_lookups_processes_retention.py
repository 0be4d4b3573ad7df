"""a job keeps the lookup of a lost outcome apart from its own request

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lookup_xml', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.drop_column('lookup_xml')
