"""The hall around the terminal (#17): staff calls, review decisions, console accounts and sessions.

New tables ``staff_calls``, ``review_decisions``, ``console_users``, ``console_sessions``; new nullable
columns ``devices.hall`` (the hall a terminal stands in) and ``pensioners.review_record_id`` (the
latest review decision, sent with the roster row). Nothing existing changes.
"""

from alembic import op
import sqlalchemy as sa


revision = '0004_hall_console'
down_revision = '0003_record_chain'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_users',
    sa.Column('staff_number', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('hall', sa.String(length=80), nullable=True),
    sa.Column('secret_hash', sa.String(length=256), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('failed_sign_ins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('staff_number')
    )
    op.create_table('console_sessions',
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('staff_number', sa.String(length=32), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_number'], ['console_users.staff_number'], ),
    sa.PrimaryKeyConstraint('token_sha256')
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_console_sessions_staff_number'), ['staff_number'], unique=False)

    op.create_table('staff_calls',
    sa.Column('call_id', sa.String(length=36), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('hall', sa.String(length=80), nullable=True),
    sa.Column('screen', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=32), nullable=True),
    sa.Column('acknowledged_via', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.device_id'], ),
    sa.PrimaryKeyConstraint('call_id')
    )
    with op.batch_alter_table('staff_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_calls_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_calls_hall'), ['hall'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_calls_received_at'), ['received_at'], unique=False)

    op.create_table('review_decisions',
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('id_number', sa.String(length=32), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('reviewer', sa.String(length=32), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signature', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['certifications.record_id'], ),
    sa.PrimaryKeyConstraint('record_id')
    )
    with op.batch_alter_table('review_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_decisions_decided_at'), ['decided_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_decisions_id_number'), ['id_number'], unique=False)

    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hall', sa.String(length=80), nullable=True))

    with op.batch_alter_table('pensioners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_record_id', sa.String(length=36), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('pensioners', schema=None) as batch_op:
        batch_op.drop_column('review_record_id')

    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_column('hall')

    with op.batch_alter_table('review_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_decisions_id_number'))
        batch_op.drop_index(batch_op.f('ix_review_decisions_decided_at'))

    op.drop_table('review_decisions')
    with op.batch_alter_table('staff_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_calls_received_at'))
        batch_op.drop_index(batch_op.f('ix_staff_calls_hall'))
        batch_op.drop_index(batch_op.f('ix_staff_calls_device_id'))

    op.drop_table('staff_calls')
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_sessions_staff_number'))
        batch_op.drop_index(batch_op.f('ix_console_sessions_expires_at'))

    op.drop_table('console_sessions')
    op.drop_table('console_users')
