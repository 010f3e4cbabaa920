"""The account page: signed-in sessions known to the server, the devices an account used (and
the one of its last sign-in), and changes of e-mail waiting for their confirmation link

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Sessions that began before this revision have no row: they end at their next request (the
person signs in again).
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_login_device', sa.String(length=120), nullable=True))
    op.create_table('user_sessions',
                    sa.Column('id', sa.String(length=43), nullable=False),
                    sa.Column('user_id', sa.Integer(), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.Column('client_ip', sa.String(length=64), nullable=False),
                    sa.Column('device', sa.String(length=120), nullable=False),
                    sa.Column('revoked_at', sa.DateTime(), nullable=True),
                    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'))
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)
    op.create_table('known_devices',
                    sa.Column('user_id', sa.Integer(), nullable=False),
                    sa.Column('device_hash', sa.String(length=64), nullable=False),
                    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
                    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
                    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('user_id', 'device_hash'))
    op.create_table('email_changes',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('user_id', sa.Integer(), nullable=False),
                    sa.Column('code_hash', sa.String(length=64), nullable=False),
                    sa.Column('new_email', sa.String(length=254), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.Column('expires_at', sa.DateTime(), nullable=False),
                    sa.Column('used_at', sa.DateTime(), nullable=True),
                    sa.Column('voided_at', sa.DateTime(), nullable=True),
                    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('code_hash'))
    with op.batch_alter_table('email_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_changes_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('last_login_device')
    op.drop_table('email_changes')
    op.drop_table('known_devices')
    op.drop_table('user_sessions')
