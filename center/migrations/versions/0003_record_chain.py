"""The terminals' tamper-evident trail: each received record's number and links.

Revision 0003_record_chain (after 0002_terminal_keys). ``chain_seq`` and ``prev_hash`` as the
terminal signed them, ``record_hash`` (the record's own link hash) as the centre computed it on
receipt; an index to walk one device's chain. Records received before are unchained (NULL).
"""

from alembic import op
import sqlalchemy as sa

revision = "0003_record_chain"
down_revision = "0002_terminal_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("certifications", sa.Column("chain_seq", sa.Integer(), nullable=True))
    op.add_column("certifications", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("certifications", sa.Column("record_hash", sa.String(length=64), nullable=True))
    op.create_index("ix_certifications_device_chain", "certifications", ["device_id", "chain_seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_certifications_device_chain", table_name="certifications")
    for column in ("record_hash", "prev_hash", "chain_seq"):
        op.execute(sa.text(f"ALTER TABLE certifications DROP COLUMN {column}"))
