"""initial schema: connections, sessions, jobs, events

Revision ID: 0001
Revises: 
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('qbwc_connections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=200), nullable=True),
    sa.Column('token_created_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('owner_id', sa.String(length=38), nullable=False),
    sa.Column('file_id', sa.String(length=38), nullable=False),
    sa.Column('company_file', sa.Text(), nullable=True),
    sa.Column('company_name', sa.String(length=255), nullable=True),
    sa.Column('qb_product', sa.String(length=255), nullable=True),
    sa.Column('qb_major_version', sa.String(length=20), nullable=True),
    sa.Column('qb_country', sa.String(length=8), nullable=True),
    sa.Column('qbxml_versions', sa.JSON(), nullable=True),
    sa.Column('qbxml_version', sa.String(length=10), nullable=True),
    sa.Column('client_version', sa.String(length=40), nullable=True),
    sa.Column('last_contact_at', sa.DateTime(), nullable=True),
    sa.Column('last_auth_at', sa.DateTime(), nullable=True),
    sa.Column('last_auth_outcome', sa.String(length=40), nullable=True),
    sa.Column('last_exchange_at', sa.DateTime(), nullable=True),
    sa.Column('last_connection_error', sa.Text(), nullable=True),
    sa.Column('live_ticket', sa.String(length=64), nullable=True),
    sa.Column('live_until', sa.DateTime(), nullable=True),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qbwc_connections')),
    sa.UniqueConstraint('name', name=op.f('uq_qbwc_connections_name')),
    sa.UniqueConstraint('username', name=op.f('uq_qbwc_connections_username'))
    )
    op.create_table('qbwc_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('ticket', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['qbwc_connections.id'], name=op.f('fk_qbwc_events_connection_id_qbwc_connections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qbwc_events'))
    )
    with op.batch_alter_table('qbwc_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qbwc_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_qbwc_events_connection_id'), ['connection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_qbwc_events_job_id'), ['job_id'], unique=False)

    op.create_table('qbwc_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('read_only', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('not_before', sa.DateTime(), nullable=True),
    sa.Column('ticket', sa.String(length=64), nullable=True),
    sa.Column('depends_on', sa.Integer(), nullable=True),
    sa.Column('request_xml', sa.Text(), nullable=True),
    sa.Column('response_xml', sa.Text(), nullable=True),
    sa.Column('status_code', sa.String(length=20), nullable=True),
    sa.Column('status_message', sa.Text(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['qbwc_connections.id'], name=op.f('fk_qbwc_jobs_connection_id_qbwc_connections')),
    sa.ForeignKeyConstraint(['depends_on'], ['qbwc_jobs.id'], name=op.f('fk_qbwc_jobs_depends_on_qbwc_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qbwc_jobs')),
    sa.UniqueConstraint('connection_id', 'idempotency_key', name='uq_qbwc_jobs_connection_key')
    )
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_qbwc_jobs_claim', ['connection_id', 'status', 'priority', 'id'], unique=False)
        batch_op.create_index('ix_qbwc_jobs_ticket', ['ticket'], unique=False)

    op.create_table('qbwc_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket', sa.String(length=64), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_activity_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('company_file', sa.Text(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('message_sets', sa.Integer(), nullable=False),
    sa.Column('jobs_done', sa.Integer(), nullable=False),
    sa.Column('jobs_failed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['qbwc_connections.id'], name=op.f('fk_qbwc_sessions_connection_id_qbwc_connections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qbwc_sessions')),
    sa.UniqueConstraint('ticket', name=op.f('uq_qbwc_sessions_ticket'))
    )
    with op.batch_alter_table('qbwc_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qbwc_sessions_connection_id'), ['connection_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('qbwc_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qbwc_sessions_connection_id'))

    op.drop_table('qbwc_sessions')
    with op.batch_alter_table('qbwc_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_qbwc_jobs_ticket')
        batch_op.drop_index('ix_qbwc_jobs_claim')

    op.drop_table('qbwc_jobs')
    with op.batch_alter_table('qbwc_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qbwc_events_job_id'))
        batch_op.drop_index(batch_op.f('ix_qbwc_events_connection_id'))
        batch_op.drop_index(batch_op.f('ix_qbwc_events_at'))

    op.drop_table('qbwc_events')
    op.drop_table('qbwc_connections')
