"""Migrate the database to this release's schema (Alembic's head), then record the run in
deploy_migrations: the role runs this once per rollout (fastapi_gunicorn_migrate_command:
[python, migrate.py]), in the new release, before any host switches."""

import os
import socket
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    command.upgrade(Config(str(HERE / "alembic.ini")), "head")
    with create_engine(os.environ["DATABASE_URL"]).begin() as connection:
        connection.execute(text("INSERT INTO deploy_migrations (release, host) VALUES (:release, :host)"),
                           {"release": HERE.name, "host": socket.gethostname()})
    print(f"migrated to head, release {HERE.name}")
