"""A CAPTCHA challenge's image is drawn once and kept, like its audio

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Challenges live five minutes: nothing needs to be carried over either way.
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('captcha_challenges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('image', sa.LargeBinary(), nullable=True))


def downgrade():
    with op.batch_alter_table('captcha_challenges', schema=None) as batch_op:
        batch_op.drop_column('image')
