"""The support console: staff accounts, their second-factor recovery codes, their sessions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('staff',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('name', sa.String(length=64), nullable=False),
                    sa.Column('email', sa.String(length=254), nullable=False),
                    sa.Column('role', sa.String(length=20), nullable=False),
                    sa.Column('password_hash', sa.String(length=200), nullable=True),
                    sa.Column('setup_code_hash', sa.String(length=64), nullable=True),
                    sa.Column('setup_expires_at', sa.DateTime(), nullable=True),
                    sa.Column('totp_secret', sa.String(length=64), nullable=True),
                    sa.Column('totp_last_step', sa.Integer(), nullable=True),
                    sa.Column('disabled', sa.Boolean(), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.Column('last_sign_in_at', sa.DateTime(), nullable=True),
                    sa.Column('last_sign_in_ip', sa.String(length=64), nullable=True),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('name'),
                    sa.UniqueConstraint('setup_code_hash'))
    op.create_table('staff_recovery_codes',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('staff_id', sa.Integer(), nullable=False),
                    sa.Column('code_hash', sa.String(length=64), nullable=False),
                    sa.Column('used_at', sa.DateTime(), nullable=True),
                    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'))
    with op.batch_alter_table('staff_recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_recovery_codes_staff_id'), ['staff_id'], unique=False)
    op.create_table('staff_sessions',
                    sa.Column('token_hash', sa.String(length=64), nullable=False),
                    sa.Column('staff_id', sa.Integer(), nullable=False),
                    sa.Column('stage', sa.String(length=20), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.Column('seen_at', sa.DateTime(), nullable=False),
                    sa.Column('client_ip', sa.String(length=64), nullable=False),
                    sa.Column('revoked_at', sa.DateTime(), nullable=True),
                    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('token_hash'))
    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_sessions_staff_id'), ['staff_id'], unique=False)


def downgrade():
    op.drop_table('staff_sessions')
    op.drop_table('staff_recovery_codes')
    op.drop_table('staff')
