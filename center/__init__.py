"""The reference provincial centre: the other end of the kiosk's sync protocol.

A real web service (FastAPI on uvicorn, SQLAlchemy 2; SQLite by default, a PostgreSQL URL for
production) for tests, pilots and provinces that have no endpoint of their own yet. The protocol is
written down in ``docs/sync-protocol.yaml``; the console script is ``kiosk-center`` (:mod:`center.cli`).
"""
