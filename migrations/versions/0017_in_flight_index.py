"""the index of the jobs under a ticket holds only those in flight: a job keeps the ticket that last sent it, so the
index of every ticketed job made each call of a long session read all the jobs it had settled

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

IN_FLIGHT = "status = 'sent'"


def upgrade() -> None:
    op.drop_index('ix_qbwc_jobs_ticket', table_name='qbwc_jobs')
    op.create_index('ix_qbwc_jobs_in_flight', 'qbwc_jobs', ['ticket'], sqlite_where=sa.text(IN_FLIGHT),
                    postgresql_where=sa.text(IN_FLIGHT))


def downgrade() -> None:
    op.drop_index('ix_qbwc_jobs_in_flight', table_name='qbwc_jobs')
    op.create_index('ix_qbwc_jobs_ticket', 'qbwc_jobs', ['ticket'], sqlite_where=sa.text('ticket IS NOT NULL'),
                    postgresql_where=sa.text('ticket IS NOT NULL'))
