"""Hardening: the outbox's kinds, leases and caps; the answer locks; the stable keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

- outbox: kind and user of each message (the daily cap per recipient, one lock notice an
  hour per account), and a lease (leased_until, claim) so that one process delivers it.
- login_throttle: when the last wrong answer came, and the answer locks of the last 24 hours
  (two close the answer route).
- stable_keys: secrets the portal makes once (the decoy questions' key).
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=40), nullable=False, server_default='notice'))
        batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('leased_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('claim', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_recipient'), ['recipient'], unique=False)
        batch_op.create_foreign_key('fk_outbox_user_id_users', 'users', ['user_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_answer_failure_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('answer_locks', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('answer_locks_since', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('answers_closed', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table('stable_keys',
                    sa.Column('name', sa.String(length=40), nullable=False),
                    sa.Column('value', sa.LargeBinary(), nullable=False),
                    sa.PrimaryKeyConstraint('name'))


def downgrade():
    op.drop_table('stable_keys')
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.drop_column('answers_closed')
        batch_op.drop_column('answer_locks_since')
        batch_op.drop_column('answer_locks')
        batch_op.drop_column('last_answer_failure_at')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint('fk_outbox_user_id_users', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_outbox_recipient'))
        batch_op.drop_index(batch_op.f('ix_outbox_user_id'))
        batch_op.drop_column('claim')
        batch_op.drop_column('leased_until')
        batch_op.drop_column('user_id')
        batch_op.drop_column('kind')
