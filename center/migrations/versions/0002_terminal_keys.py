"""Terminal keys as the only credential: shared secrets dropped, one-time enrolment codes, key lifetimes.

Revision 0002_terminal_keys (after 0001_initial). Issue #18: whoever held a device's HMAC secret
(stored in clear) could register a key and mint records. The secrets go; devices get the SHA-256 of
a one-time enrolment code with its expiry and the moment of first contact; keys get the moment they
were retired and where they came from. Every key registered under the shared secrets is retired
with origin ``legacy_hmac``: it still verifies the records received then, but authenticates nothing
(the centre cannot tell the terminal's key from one registered with a leaked secret), so each
terminal is enrolled again with a code (`kiosk-center device reenrol`).
"""

from alembic import op
import sqlalchemy as sa

revision = "0002_terminal_keys"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTERs, no batch copy: on SQLite a batch recreates `devices`, which `device_keys` and
    # `certifications` reference, and foreign keys cannot be switched off inside the upgrade's
    # transaction. SQLite (3.35+) drops a plain column in place.
    op.execute(sa.text("ALTER TABLE devices DROP COLUMN secret"))
    op.add_column("devices", sa.Column("enrolment_code_sha256", sa.String(length=64), nullable=True))
    op.add_column("devices", sa.Column("enrolment_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("devices", sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("device_keys", sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    # Every key that exists now was registered under a shared secret: the default says so for them.
    op.add_column("device_keys", sa.Column("origin", sa.String(length=20), nullable=False,
                                           server_default="legacy_hmac"))
    op.execute(sa.text("UPDATE device_keys SET retired_at = CURRENT_TIMESTAMP WHERE retired_at IS NULL"))
    if op.get_bind().dialect.name != "sqlite":
        # New keys always name their origin (the ORM writes it). SQLite cannot drop a default in
        # place; there it stays, unused.
        op.alter_column("device_keys", "origin", server_default=None)


def downgrade() -> None:
    # The secrets are gone for good: a downgraded centre needs every device added again.
    for table, column in (("device_keys", "origin"), ("device_keys", "retired_at"), ("devices", "enrolled_at"),
                          ("devices", "enrolment_expires_at"), ("devices", "enrolment_code_sha256")):
        op.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    op.add_column("devices", sa.Column("secret", sa.String(length=128), nullable=False, server_default=""))
