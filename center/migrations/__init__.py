"""Alembic migrations of the centre's database (run by :func:`center.schema.upgrade`).

Every engine the centre opens is brought to the newest revision first (:func:`center.db.make_engine`),
and ``kiosk-center db upgrade`` does it on its own (before starting several workers, or to see what
changed). The folder is found next to this file, never through the current directory or an .ini
file, so an installed package and a frozen bundle find it the same way; a bundle must carry it as
files (Alembic reads revisions from disk): PyInstaller's
``collect_data_files("center.migrations", include_py_files=True)``.

Adding a revision (a new column, table or index in :mod:`center.db`):

1. change the model in ``center/db.py``;
2. ``python -m center db revision "what changes" --autogenerate`` writes
   ``versions/NNNN_what_changes.py`` (the next number, ``down_revision`` = the current head) with
   the operations Alembic sees between the models and a scratch database at head; read it and
   correct it (Alembic does not see renames, and server defaults need care);
3. on SQLite, ALTERs other than ADD COLUMN need ``with op.batch_alter_table(...)`` (the template
   says so); a new NOT NULL column on a table with rows needs a ``server_default``;
4. ``tests/test_center_migrations.py`` checks that there is one head and that a database upgraded
   to it matches the models exactly, on SQLite and PostgreSQL.

Revision ids are ``NNNN_words`` and the file is named after its id. When two branches each add
``0002_...`` on top of ``0001_initial``, the merge has two heads (the test says so): renumber the
later one to ``0003_...`` and set its ``down_revision`` to the other.
"""
