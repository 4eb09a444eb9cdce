"""Example FastAPI service with a PostgreSQL database, for fastapi_gunicorn_migrate_command.

The database is DATABASE_URL (a secret: fastapi_gunicorn_secret_environment). Its schema is
migrated by Alembic (migrations/), once per rollout, by migrate.py. /health answers 200 only while
the database answers and has this release's tables, so the health gate and HAProxy's checks take a
host whose database is unreachable out of service. /version names the release the worker loaded, as
in the example app, and /orders writes and counts rows.
"""

import asyncio
import os
import socket
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query, Response
from sqlalchemy import create_engine, text

APP_VERSION = (Path(__file__).parent / "VERSION").read_text(encoding="utf-8").strip()
RELEASE = Path(__file__).resolve().parent.name

# Connects on first use, not at import: the role's check before the switch imports the app.
engine = create_engine(os.environ["DATABASE_URL"], pool_pre_ping=True, pool_size=2, max_overflow=2)
app = FastAPI(title="fastapi_gunicorn database example", version=APP_VERSION)


def database_ready() -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1 FROM orders LIMIT 1"))
    except Exception:  # any database error makes the host unhealthy
        return False
    return True


@app.get("/health")
async def health(response: Response) -> dict[str, str]:
    if not await asyncio.to_thread(database_ready):
        response.status_code = 503
        return {"status": "database unavailable"}
    return {"status": "ok"}


@app.get("/version")
async def version(delay_ms: Annotated[int, Query(ge=0, le=1000)] = 0) -> dict[str, str | int]:
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    return {"version": APP_VERSION, "release": RELEASE, "host": socket.gethostname(), "pid": os.getpid()}


def add_order(item: str) -> int:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO orders (item) VALUES (:item)"), {"item": item})
        return connection.execute(text("SELECT count(*) FROM orders")).scalar_one()


@app.post("/orders")
async def order(item: Annotated[str, Query(min_length=1, max_length=100)]) -> dict[str, int]:
    return {"orders": await asyncio.to_thread(add_order, item)}
