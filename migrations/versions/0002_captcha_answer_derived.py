"""CAPTCHA answers are derived from the challenge id, no longer stored

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Challenges made before this revision cannot be answered after it (their ids are not
signed): whoever had one on screen gets a new one with their next submission.
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(sa.text("DELETE FROM captcha_challenges"))
    with op.batch_alter_table('captcha_challenges', schema=None) as batch_op:
        batch_op.drop_column('answer')


def downgrade():
    op.execute(sa.text("DELETE FROM captcha_challenges"))
    with op.batch_alter_table('captcha_challenges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answer', sa.String(length=16), nullable=False, server_default=''))
