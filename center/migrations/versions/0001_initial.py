"""The centre's tables as they were before migrations (devices, keys, nonces, roster, results).

A database made by the centre's old ``create_all`` (no ``alembic_version`` table) is adopted here
rather than broken: a table that already exists is left as it is, and ``pensioners.photo_sha256``
(added after the first release by a stop-gap) is added when missing. Every later revision can then
assume exactly this schema.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if "devices" not in present:
        op.create_table(
            "devices",
            sa.Column("device_id", sa.String(length=64), nullable=False),
            sa.Column("name", sa.String(length=120), nullable=False),
            sa.Column("secret", sa.String(length=128), nullable=False),
            sa.Column("disabled", sa.Boolean(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("last_health", sa.JSON(), nullable=True),
            sa.PrimaryKeyConstraint("device_id"),
        )
    if "nonces" not in present:
        op.create_table(
            "nonces",
            sa.Column("device_id", sa.String(length=64), nullable=False),
            sa.Column("nonce", sa.String(length=64), nullable=False),
            sa.Column("seen_at", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("device_id", "nonce"),
        )
        op.create_index("ix_nonces_seen_at", "nonces", ["seen_at"], unique=False)
    if "pensioners" not in present:
        op.create_table(
            "pensioners",
            sa.Column("id_number", sa.String(length=32), nullable=False),
            sa.Column("name", sa.String(length=80), nullable=False),
            sa.Column("region_code", sa.String(length=6), nullable=False),
            sa.Column("last_certified", sa.Date(), nullable=True),
            sa.Column("templates", sa.JSON(), nullable=False),
            sa.Column("template_source", sa.String(length=32), nullable=False),
            sa.Column("photo_sha256", sa.String(length=64), nullable=True),
            sa.Column("removed", sa.Boolean(), nullable=False),
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id_number"),
        )
        op.create_index("ix_pensioners_seq", "pensioners", ["seq"], unique=True)
    elif "photo_sha256" not in {column["name"] for column in sa.inspect(op.get_bind()).get_columns("pensioners")}:
        op.add_column("pensioners", sa.Column("photo_sha256", sa.String(length=64), nullable=True))
    if "certifications" not in present:
        op.create_table(
            "certifications",
            sa.Column("record_id", sa.String(length=36), nullable=False),
            sa.Column("device_id", sa.String(length=64), nullable=False),
            sa.Column("key_id", sa.String(length=32), nullable=False),
            sa.Column("id_number", sa.String(length=32), nullable=True),
            sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("outcome", sa.String(length=40), nullable=False),
            sa.Column("reason_code", sa.String(length=64), nullable=False),
            sa.Column("content_digest", sa.String(length=64), nullable=False),
            sa.Column("record", sa.JSON(), nullable=False),
            sa.Column("face_image", sa.LargeBinary(), nullable=True),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(["device_id"], ["devices.device_id"]),
            sa.PrimaryKeyConstraint("record_id"),
        )
        op.create_index("ix_certifications_device_id", "certifications", ["device_id"], unique=False)
        op.create_index("ix_certifications_id_number", "certifications", ["id_number"], unique=False)
        op.create_index("ix_certifications_received_at", "certifications", ["received_at"], unique=False)
    if "device_keys" not in present:
        op.create_table(
            "device_keys",
            sa.Column("key_id", sa.String(length=32), nullable=False),
            sa.Column("device_id", sa.String(length=64), nullable=False),
            sa.Column("public_key", sa.String(length=64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(["device_id"], ["devices.device_id"]),
            sa.PrimaryKeyConstraint("key_id"),
        )
        op.create_index("ix_device_keys_device_id", "device_keys", ["device_id"], unique=False)


def downgrade() -> None:
    for index, table in (("ix_device_keys_device_id", "device_keys"),
                         ("ix_certifications_received_at", "certifications"),
                         ("ix_certifications_id_number", "certifications"),
                         ("ix_certifications_device_id", "certifications"),
                         ("ix_pensioners_seq", "pensioners"), ("ix_nonces_seen_at", "nonces")):
        op.drop_index(index, table_name=table)
    for table in ("device_keys", "certifications", "pensioners", "nonces", "devices"):
        op.drop_table(table)
