"""Alembic environment: runs on the connection that ecrf.schema hands over."""

from alembic import context

from events.tables import metadata as events_metadata
from projections.readmodel.tables import metadata as read_model_metadata

target_metadata = [events_metadata, read_model_metadata]

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - ecrf.schema always passes one
    raise RuntimeError("run migrations through `ecrf db upgrade`")

context.configure(connection=connection, target_metadata=target_metadata)
with context.begin_transaction():
    context.run_migrations()
