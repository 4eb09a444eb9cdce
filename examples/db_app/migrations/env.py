"""Alembic environment: the database is DATABASE_URL; each migration runs in one transaction
(PostgreSQL's DDL is transactional, so a failed migration leaves the schema as it was)."""

import os

from alembic import context
from sqlalchemy import create_engine

with create_engine(os.environ["DATABASE_URL"]).connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
