"""the claim's index holds only the claimable jobs, in the order they are sent, so that a claim reads a few entries
however deep the queue and however many jobs are done; the ticket index leaves out the jobs without one (the
queued), which made SQLite's statistics call a ticket unselective once the queue was deep

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0014'
branch_labels = None
depends_on = None

CLAIMABLE = "status IN ('queued', 'failed', 'unknown')"


def upgrade() -> None:
    op.drop_index('ix_qbwc_jobs_ticket', table_name='qbwc_jobs')
    op.create_index('ix_qbwc_jobs_ticket', 'qbwc_jobs', ['ticket'], sqlite_where=sa.text('ticket IS NOT NULL'),
                    postgresql_where=sa.text('ticket IS NOT NULL'))
    op.drop_index('ix_qbwc_jobs_claim', table_name='qbwc_jobs')
    op.create_index('ix_qbwc_jobs_due', 'qbwc_jobs', ['connection_id', sa.text('priority DESC'), 'id'],
                    sqlite_where=sa.text(CLAIMABLE), postgresql_where=sa.text(CLAIMABLE))


def downgrade() -> None:
    op.drop_index('ix_qbwc_jobs_ticket', table_name='qbwc_jobs')
    op.create_index('ix_qbwc_jobs_ticket', 'qbwc_jobs', ['ticket'])
    op.drop_index('ix_qbwc_jobs_due', table_name='qbwc_jobs')
    op.create_index('ix_qbwc_jobs_claim', 'qbwc_jobs', ['connection_id', 'status', 'priority', 'id'])
