"""each connection's Fusion Operations account (secrets encrypted) and the request budget per account

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('qbwc_fusion_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('base_url', sa.Text(), nullable=False),
    sa.Column('auth_kind', sa.String(length=30), nullable=False),
    sa.Column('token_url', sa.Text(), nullable=True),
    sa.Column('client_id', sa.String(length=255), nullable=True),
    sa.Column('scope', sa.String(length=255), nullable=True),
    sa.Column('secret_sealed', sa.Text(), nullable=True),
    sa.Column('refresh_token_sealed', sa.Text(), nullable=True),
    sa.Column('access_token_sealed', sa.Text(), nullable=True),
    sa.Column('access_expires_at', sa.DateTime(), nullable=True),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=100), nullable=True),
    sa.Column('account_name', sa.String(length=255), nullable=True),
    sa.Column('tested_at', sa.DateTime(), nullable=True),
    sa.Column('test_outcome', sa.Text(), nullable=True),
    sa.Column('configured_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['qbwc_connections.id'], name=op.f('fk_qbwc_fusion_accounts_connection_id_qbwc_connections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qbwc_fusion_accounts')),
    sa.UniqueConstraint('connection_id', name=op.f('uq_qbwc_fusion_accounts_connection_id'))
    )
    op.create_table('qbwc_fusion_budgets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_key', sa.String(length=255), nullable=False),
    sa.Column('tat', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qbwc_fusion_budgets')),
    sa.UniqueConstraint('account_key', name=op.f('uq_qbwc_fusion_budgets_account_key'))
    )


def downgrade() -> None:
    op.drop_table('qbwc_fusion_budgets')
    op.drop_table('qbwc_fusion_accounts')
