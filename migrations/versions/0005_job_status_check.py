"""job status is one of the known statuses

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

STATUSES = ('queued', 'sent', 'done', 'failed', 'dead', 'unknown', 'cancelled')


def upgrade() -> None:
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.create_check_constraint(
            'ck_qbwc_jobs_status', f"status IN ({', '.join(repr(s) for s in STATUSES)})"
        )


def downgrade() -> None:
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.drop_constraint('ck_qbwc_jobs_status', type_='check')
