"""Alembic environment, as in the full-stack FastAPI template: it imports the app's settings and
models, so the backend directory must be importable. Each migration runs in its own transaction
(PostgreSQL's DDL is transactional: a failed migration leaves the schema as it was)."""

from alembic import context
from sqlmodel import create_engine

from app import models
from app.core.config import settings

# The app's tables, registered by importing its models.
target_metadata = models.SQLModel.metadata

with create_engine(settings.SQLALCHEMY_DATABASE_URI).connect() as connection:
    context.configure(connection=connection, target_metadata=target_metadata, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
