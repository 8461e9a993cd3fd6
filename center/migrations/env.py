"""Alembic's environment for the centre: runs on the connection :mod:`center.schema` hands over.

The caller owns the connection and its transaction (and, on PostgreSQL, an advisory lock that keeps
two starting workers from migrating at once), so nothing here opens or commits anything.
"""

from alembic import context

from center.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the centre's migrations through center.schema.upgrade (`kiosk-center db upgrade`)")
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
with context.begin_transaction():
    context.run_migrations()
