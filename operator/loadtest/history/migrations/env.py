"""Alembic environment: always run programmatically by loadtest.history.store with a connection."""

from __future__ import annotations

from alembic import context

from loadtest.history.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
