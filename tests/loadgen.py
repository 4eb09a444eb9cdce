"""A bounded HTTP/1.1 load generator that counts every failed request.

Standard library only, so it runs with the test host's own python3 against its loopback.
Each of --concurrency clients sends GET requests back to back until --duration elapses or
--stop-file appears. A request fails on a socket error, a timeout, or a non-2xx status.

One retry rule, the one HTTP clients apply (RFC 9112 section 9.3.1; urllib3, Go net/http):
an idempotent request sent on a *reused* keep-alive connection that the server closed before
sending any byte of a response is sent again once on a new connection. Such retries are
counted and reported separately; a failure on a fresh connection is never retried.

With --tls-ca, requests go over TLS, the server's certificate verified against that file.
Writes a JSON summary (and, with --samples, one [t, latency_ms, ok] row per request).
"""

import argparse
import asyncio
import json
import os
import ssl
import statistics
import time
from collections import Counter


class StaleConnection(Exception):
    """The server closed a reused connection before any response byte."""


class ClosedWithoutResponse(ConnectionError):
    """The server closed the connection before any response byte."""


async def read_response(reader):
    status_line = await reader.readline()
    if not status_line:
        raise ClosedWithoutResponse("closed before the status line")
    status = int(status_line.split(b" ", 2)[1])
    length, close = 0, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _sep, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    body = await reader.readexactly(length) if length else b""
    return status, body, close


class Client:
    def __init__(self, args, stats):
        self.args, self.stats = args, stats
        self.tls = ssl.create_default_context(cafile=args.tls_ca) if args.tls_ca else None
        self.reader = self.writer = None
        self.request = (
            f"GET {args.path} HTTP/1.1\r\nHost: {args.host}\r\n"
            + ("" if args.keepalive else "Connection: close\r\n")
            + "\r\n"
        ).encode()

    async def connect(self):
        if self.args.unix:
            self.reader, self.writer = await asyncio.open_unix_connection(self.args.unix)
        else:
            self.reader, self.writer = await asyncio.open_connection(self.args.host, self.args.port, ssl=self.tls)

    def drop(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def once(self):
        reused = self.writer is not None
        if not reused:
            await self.connect()
        try:
            self.writer.write(self.request)
            await self.writer.drain()
            return await read_response(self.reader)
        except (ClosedWithoutResponse, ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError, ssl.SSLEOFError) as exc:
            self.drop()
            if reused and not isinstance(exc, asyncio.IncompleteReadError):
                raise StaleConnection(str(exc)) from exc
            raise

    async def run(self, deadline, stop_file):
        while time.monotonic() < deadline and not (stop_file and stop_file_exists(stop_file)):
            start = time.monotonic()
            ok, error = False, None
            try:
                try:
                    status, body, close = await asyncio.wait_for(self.once(), self.args.timeout)
                except StaleConnection:
                    self.stats["stale_retries"] += 1
                    status, body, close = await asyncio.wait_for(self.once(), self.args.timeout)
                ok = 200 <= status < 300
                if not ok:
                    error = f"http {status}"
                elif self.args.track_field:
                    self.stats["seen"][str(json.loads(body).get(self.args.track_field))] += 1
                if close or not self.args.keepalive:
                    self.drop()
            except asyncio.TimeoutError:
                error = "timeout"
                self.drop()
            except (OSError, asyncio.IncompleteReadError, StaleConnection, ValueError) as exc:
                error = type(exc).__name__
                self.drop()
            elapsed = time.monotonic() - start
            self.stats["samples"].append((start - self.stats["t0"], elapsed * 1000, ok))
            if not ok:
                self.stats["errors"][error] += 1
                await asyncio.sleep(0.01)  # a refused connection fails fast: do not spin
        self.drop()


def stop_file_exists(path):
    try:
        with open(path, encoding="utf-8"):
            return True
    except OSError:
        return False


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)


async def main(args):
    stats = {"t0": time.monotonic(), "samples": [], "errors": Counter(), "seen": Counter(), "stale_retries": 0}
    deadline = stats["t0"] + args.duration
    clients = [Client(args, stats) for _client in range(args.concurrency)]
    await asyncio.gather(*(c.run(deadline, args.stop_file) for c in clients))
    wall = time.monotonic() - stats["t0"]
    samples = stats["samples"]
    latencies = [s[1] for s in samples]
    per_second = Counter(int(s[0]) for s in samples if s[2])
    summary = {
        "t0_monotonic": stats["t0"],
        "keepalive": args.keepalive,
        "tls": bool(args.tls_ca),
        "concurrency": args.concurrency,
        "seconds": round(wall, 2),
        "sent": len(samples),
        "failed": sum(1 for s in samples if not s[2]),
        "errors": dict(stats["errors"]),
        "stale_retries": stats["stale_retries"],
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": round(max(latencies), 2) if latencies else None,
        "rps": round(len(samples) / wall, 1) if wall else 0,
        "rps_min_second": min(per_second.values()) if per_second else 0,
        "rps_median_second": statistics.median(per_second.values()) if per_second else 0,
        "seen": dict(stats["seen"]),
    }
    if args.samples:
        with open(args.samples, "w", encoding="utf-8") as fh:
            json.dump([[round(t, 4), round(ms, 3), ok] for t, ms, ok in samples], fh)
    # The summary is written last and renamed into place: its presence means the run is complete.
    with open(args.out + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(summary, fh)
    os.replace(args.out + ".tmp", args.out)
    print(json.dumps(summary))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--unix", help="connect to this unix socket instead")
    parser.add_argument("--tls-ca", help="use TLS, and trust the server certificate in this PEM file")
    parser.add_argument("--path", default="/version")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30, help="hard upper bound, seconds")
    parser.add_argument("--stop-file", help="stop early once this file exists")
    parser.add_argument("--timeout", type=float, default=15, help="per request, seconds")
    parser.add_argument("--no-keepalive", dest="keepalive", action="store_false")
    parser.add_argument("--track-field", default="release", help="JSON field of 2xx bodies to count")
    parser.add_argument("--out", required=True)
    parser.add_argument("--samples")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
