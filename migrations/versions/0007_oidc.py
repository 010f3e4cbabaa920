"""The OpenID Connect provider: registered clients, authorization codes, tokens and the keys
ID tokens are signed with

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('oidc_clients',
                    sa.Column('client_id', sa.String(length=64), nullable=False),
                    sa.Column('name', sa.String(length=120), nullable=False),
                    sa.Column('secret_hash', sa.String(length=64), nullable=True),
                    sa.Column('redirect_uris', sa.JSON(), nullable=False),
                    sa.Column('post_logout_uris', sa.JSON(), nullable=False),
                    sa.Column('refresh_tokens', sa.Boolean(), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.Column('disabled_at', sa.DateTime(), nullable=True),
                    sa.PrimaryKeyConstraint('client_id'))
    op.create_table('oidc_codes',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('code_hash', sa.String(length=64), nullable=False),
                    sa.Column('client_id', sa.String(length=64), nullable=False),
                    sa.Column('user_id', sa.Integer(), nullable=False),
                    sa.Column('redirect_uri', sa.String(length=2000), nullable=False),
                    sa.Column('scope', sa.String(length=200), nullable=False),
                    sa.Column('nonce', sa.String(length=255), nullable=False),
                    sa.Column('code_challenge', sa.String(length=128), nullable=False),
                    sa.Column('code_challenge_method', sa.String(length=10), nullable=False),
                    sa.Column('auth_time', sa.DateTime(), nullable=False),
                    sa.Column('password_marker', sa.String(length=32), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.Column('expires_at', sa.DateTime(), nullable=False),
                    sa.Column('used_at', sa.DateTime(), nullable=True),
                    sa.ForeignKeyConstraint(['client_id'], ['oidc_clients.client_id'], ondelete='CASCADE'),
                    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('code_hash'))
    with op.batch_alter_table('oidc_codes', schema=None) as batch_op:
        batch_op.create_index('ix_oidc_codes_client_nonce', ['client_id', 'nonce'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_codes_user_id'), ['user_id'], unique=False)
    op.create_table('oidc_tokens',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('client_id', sa.String(length=64), nullable=False),
                    sa.Column('user_id', sa.Integer(), nullable=False),
                    sa.Column('code_id', sa.Integer(), nullable=True),
                    sa.Column('access_hash', sa.String(length=64), nullable=False),
                    sa.Column('refresh_hash', sa.String(length=64), nullable=True),
                    sa.Column('scope', sa.String(length=200), nullable=False),
                    sa.Column('auth_time', sa.DateTime(), nullable=False),
                    sa.Column('password_marker', sa.String(length=32), nullable=False),
                    sa.Column('issued_at', sa.DateTime(), nullable=False),
                    sa.Column('expires_at', sa.DateTime(), nullable=False),
                    sa.Column('refresh_expires_at', sa.DateTime(), nullable=True),
                    sa.Column('revoked_at', sa.DateTime(), nullable=True),
                    sa.ForeignKeyConstraint(['client_id'], ['oidc_clients.client_id'], ondelete='CASCADE'),
                    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('access_hash'),
                    sa.UniqueConstraint('refresh_hash'))
    with op.batch_alter_table('oidc_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oidc_tokens_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_tokens_code_id'), ['code_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oidc_tokens_user_id'), ['user_id'], unique=False)
    op.create_table('oidc_signing_keys',
                    sa.Column('generation', sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column('kid', sa.String(length=64), nullable=False),
                    sa.Column('alg', sa.String(length=10), nullable=False),
                    sa.Column('private_key', sa.LargeBinary(), nullable=False),
                    sa.Column('public_jwk', sa.JSON(), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('generation'),
                    sa.UniqueConstraint('kid'))


def downgrade():
    op.drop_table('oidc_signing_keys')
    op.drop_table('oidc_tokens')
    op.drop_table('oidc_codes')
    op.drop_table('oidc_clients')
