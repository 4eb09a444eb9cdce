"""The load generator counts failures: the zero-downtime test's "0 failed" means something.

Small servers on the controller's loopback misbehave on purpose; loadgen must count every
non-2xx, every connection closed without a response, and retry only a stale keep-alive connection.
"""

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

LOADGEN = Path(__file__).resolve().parent / "loadgen.py"


def serve(handler):
    """Accept connections on a free loopback port and hand each to handler(conn, count)."""
    listener = socket.create_server(("127.0.0.1", 0))
    count = {"n": 0}

    def loop():
        while True:
            try:
                conn, _address = listener.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(conn, count), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return listener


def respond(conn, status, close=False):
    body = b'{"release": "r1"}'
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
    conn.sendall(head.encode() + body)


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return False
        data += chunk
    return True


def run_loadgen(port, tmp_path, *extra):
    out = tmp_path / "summary.json"
    subprocess.run(
        [sys.executable, str(LOADGEN), "--port", str(port), "--duration", "1.5", "--concurrency", "2",
         "--timeout", "2", "--out", str(out), *extra],
        check=True, capture_output=True, timeout=30,
    )
    return json.loads(out.read_text())


def test_counts_non_2xx(tmp_path):
    def handler(conn, count):
        while read_request(conn):
            count["n"] += 1
            respond(conn, 500 if count["n"] % 10 == 0 else 200)

    server = serve(handler)
    summary = run_loadgen(server.getsockname()[1], tmp_path)
    server.close()
    assert summary["sent"] > 50
    assert summary["failed"] > 0
    assert summary["errors"].get("http 500") == summary["failed"]
    assert summary["seen"] == {"r1": summary["sent"] - summary["failed"]}


def test_counts_a_fresh_connection_closed_without_response(tmp_path):
    def handler(conn, count):
        count["n"] += 1
        if count["n"] % 5 == 0:
            conn.close()  # accepted, request unread, no response: a real failure
            return
        if read_request(conn):
            respond(conn, 200, close=True)
        conn.close()

    server = serve(handler)
    summary = run_loadgen(server.getsockname()[1], tmp_path, "--no-keepalive")
    server.close()
    assert summary["failed"] > 0
    assert summary["stale_retries"] == 0  # a fresh connection is never retried


def test_retries_only_a_stale_keepalive_connection(tmp_path):
    def handler(conn, count):
        # Serve one request per connection, then close the idle keep-alive connection without a
        # Connection: close header: the client's next request on it finds it closed.
        if read_request(conn):
            respond(conn, 200)
        conn.close()

    server = serve(handler)
    summary = run_loadgen(server.getsockname()[1], tmp_path)
    server.close()
    assert summary["sent"] > 20
    assert summary["failed"] == 0
    assert summary["stale_retries"] > 0
