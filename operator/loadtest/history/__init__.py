"""Run history: every finished run recorded in a database (SQLite by default, PostgreSQL when
shared), so a nightly remembers the nights before it.

`models` is the schema (SQLAlchemy 2), `migrations/` its Alembic history (a schema change
never loses runs), `store` opens, migrates and queries a store, `record` turns a run's
artifacts into rows, `command` is `loadtest history`.

May import `gate`, `stats` and `core`.
"""
