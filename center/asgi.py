"""The centre as an ASGI application for process managers: one app per worker process.

``kiosk-center serve --workers N`` runs N uvicorn worker processes, each calling
:func:`app_from_environment` (the database is ``KIOSK_CENTER_DB``). Any ASGI process manager can do
the same, for example gunicorn (not a dependency of the project)::

    KIOSK_CENTER_DB=postgresql+psycopg://centre@/kiosk?host=/run/postgresql \\
        gunicorn -k uvicorn.workers.UvicornWorker -w 4 -b 127.0.0.1:8443 'center.asgi:app_from_environment()'

Several workers need a database that several processes can write: PostgreSQL. Every worker
upgrades the schema at start under the database's lock (:mod:`center.schema`), so one does the work
and the others find it done; run ``kiosk-center db upgrade`` first to see errors before starting.
Nothing in a worker is shared with another: replay protection (nonces), idempotent receipt and
roster numbering are all decided by the database.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

DATABASE_VARIABLE = "KIOSK_CENTER_DB"


def app_from_environment() -> FastAPI:
    """:func:`center.app.create_app` on the database named by ``KIOSK_CENTER_DB``.

    Raises RuntimeError when the variable is unset; ValueError when the database cannot be opened.
    """
    from center.app import create_app  # noqa: PLC0415 - FastAPI app built in the worker process

    db = os.environ.get(DATABASE_VARIABLE)
    if not db:
        raise RuntimeError(f"{DATABASE_VARIABLE} is not set: it names the centre's database (path or URL)")
    return create_app(db)
