"""Alembic environment: Patchbay hands in the connection (see ``storage/db.py``)."""

from alembic import context

from patchbay.storage.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
