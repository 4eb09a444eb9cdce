"""The fullstack example's API: a health check that asks the database, the first user (seeded by
the prestart), and /version, which names the release the worker loaded (?delay_ms=N holds the
answer back N ms: a load test then keeps requests in flight cheaply)."""

import asyncio
import os
import socket
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Response
from sqlmodel import Session, select

from app.core.config import settings
from app.core.db import RELEASE, engine
from app.models import User

APP_VERSION = (Path(__file__).resolve().parents[1] / "VERSION").read_text(encoding="utf-8").strip()

app = FastAPI(title=settings.PROJECT_NAME, version=APP_VERSION, openapi_url="/api/v1/openapi.json")


def database_ready() -> bool:
    try:
        with Session(engine) as session:
            session.exec(select(User.id).limit(1))
    except Exception:  # any database error makes the host unhealthy
        return False
    return True


# /health too: HAProxy's default check, which the lab's other app answers as well, so the lab can switch
# between the two under load.
@app.get("/api/v1/utils/health-check/")
@app.get("/health", include_in_schema=False)
async def health_check(response: Response) -> dict[str, str]:
    if not await asyncio.to_thread(database_ready):
        response.status_code = 503
        return {"status": "database unavailable"}
    return {"status": "ok"}


@app.get("/version")
async def version(delay_ms: Annotated[int, Query(ge=0, le=1000)] = 0) -> dict[str, str | int]:
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    return {"version": APP_VERSION, "release": RELEASE, "host": socket.gethostname(), "pid": os.getpid()}


def first_user() -> User | None:
    with Session(engine) as session:
        return session.exec(select(User).order_by(User.id)).first()


@app.get("/api/v1/users/first")
async def read_first_user() -> dict[str, str | None]:
    user = await asyncio.to_thread(first_user)
    if user is None:
        raise HTTPException(status_code=404, detail="no user yet")
    return {"email": user.email, "full_name": user.full_name}
