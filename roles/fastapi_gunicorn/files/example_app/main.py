"""Example FastAPI service deployed by the fastapi_gunicorn role.

/health answers 200 while the worker serves; /version names the release the worker
loaded (and the host that served it), so a deploy can check that new workers run the new code
(?delay_ms=N holds the answer back N ms: a load test then keeps requests in flight cheaply);
/client shows the client address and scheme the app sees (behind a proxy: those it forwarded);
/metrics counts the requests served, by route, across all workers when prometheus_client runs in
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, which fastapi_gunicorn_prometheus_multiproc sets).
"""

import asyncio
import os
import socket
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, generate_latest, multiprocess

APP_VERSION = (Path(__file__).parent / "VERSION").read_text(encoding="utf-8").strip()
# The role deploys each release into releases/<id>/; resolving the path names the release
# this worker imported, whatever the `current` symlink points at now.
RELEASE = Path(__file__).resolve().parent.name

app = FastAPI(title="fastapi_gunicorn example", version=APP_VERSION)

REQUESTS = Counter("app_requests", "Requests served, by route and status", ["route", "status"])


class CountRequests:
    """Counts each HTTP request by route and status. A plain ASGI middleware: Starlette's
    @app.middleware("http") would add about 0.15 ms of CPU to every request."""

    def __init__(self, asgi_app):
        self.app = asgi_app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = []

        async def send_noting_the_status(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_the_status)
        finally:
            # The route's template, not the raw path: unknown paths must not grow the label set.
            route = scope.get("route")
            REQUESTS.labels(route=route.path if route else "unmatched", status=str(status[0] if status else 500)).inc()


app.add_middleware(CountRequests)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/version")
async def version(delay_ms: Annotated[int, Query(ge=0, le=1000)] = 0) -> dict[str, str | int]:
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    return {"version": APP_VERSION, "release": RELEASE, "host": socket.gethostname(), "pid": os.getpid()}


@app.get("/")
async def root() -> dict[str, str]:
    return {"app": "fastapi_gunicorn example", "version": APP_VERSION}


@app.get("/client")
async def client(request: Request) -> dict[str, str | list[str] | None]:
    """Who the app believes the client is, and the proxy headers it was given (names only)."""
    proxy_headers = sorted(name for name in request.headers if "forward" in name or "_" in name or name == "x-real-ip")
    return {"client": request.client.host if request.client else None, "scheme": request.url.scheme, "proxy_headers": proxy_headers}


@app.get("/metrics")
async def metrics() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
