"""host_facts reads everything the role plans with, and each kind of difference, and changes nothing."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import threading

import pytest
from ansible_collections.fastapi_gunicorn.deploy.plugins.modules import host_facts


@pytest.fixture
def web():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"release": "v10"}' if self.path.startswith("/version") else b"ok"
            self.send_response(200 if self.path.split("?")[0] in ("/health", "/version") else 503)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_reports_each_difference_and_none_on_a_match(run_module, tmp_path, web):
    (tmp_path / "dir").mkdir(mode=0o700)
    (tmp_path / "file").write_text("hello\n")
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    (tmp_path / "lock").write_text("controller=x pid=1\x1b\n")
    checks = {"phase": "all",
              "directories": [{"path": str(tmp_path / "dir"), "owner": "root", "group": "root", "mode": "0755"}, {"path": str(tmp_path / "missing")}],
              "files": [{"path": str(tmp_path / "file"), "sha256": hashlib.sha256(b"other\n").hexdigest()}],
              "links": [{"path": str(tmp_path / "link"), "src": str(tmp_path / "elsewhere")}],
              "packages": ["coreutils", "fastapi-gunicorn-no-such-package"],
              "account": {"user": "fastapi-gunicorn-nobody", "group": "root"},
              "http": [{"url": web + "/health"}, {"url": web + "/version", "names_release": "v1"}, {"url": web + "/other"}],
              "absent": [str(tmp_path / "lock")]}
    found = run_module(host_facts.main, {"python": "/usr/bin/python3", "read": {"file": str(tmp_path / "file"), "none": str(tmp_path / "none")},
                                         "checks": [checks]})
    assert not found.get("failed") and not found["changed"], found
    drift = found["drift"]["all"]
    expected = ["has mode 0700, want 0755", "missing is missing", "file differs from the wanted content", "points at",
                "package fastapi-gunicorn-no-such-package is not installed", "user fastapi-gunicorn-nobody does not exist",
                "which does not name release v1", "/other answered 503", "lock exists: controller=x pid=1\\x1b"]
    for text in expected:
        assert any(text in line for line in drift), (text, drift)
    assert len(drift) == len(expected), drift
    assert found["files"] == {"file": "hello\n", "none": ""} and found["python"].startswith("3.")
    assert found["platform"]["architecture"] == os.uname().machine and found["cpus"] >= 1
    matching = {"phase": "all", "directories": [{"path": str(tmp_path / "dir"), "owner": "root", "group": "root", "mode": "0700"}],
                "files": [{"path": str(tmp_path / "file"), "sha256": hashlib.sha256(b"hello\n").hexdigest()}],
                "links": [{"path": str(tmp_path / "link"), "src": str(tmp_path / "dir")}], "packages": ["coreutils"],
                "http": [{"url": web + "/version?x=1", "names_release": "v10"}], "absent": [str(tmp_path / "none")]}
    assert run_module(host_facts.main, {"checks": [matching]})["drift"] == {"all": []}


def test_keys_the_secret_digest_and_never_echoes_the_secret(run_module, tmp_path):
    (tmp_path / "key").write_text("k1\n")
    (tmp_path / "secret.env").write_text("TOKEN=abc\n")
    found = run_module(host_facts.main, {"secret": {"key": str(tmp_path / "key"), "content": "TOKEN=abc\n"},
                                         "checks": [{"phase": "live", "files": [{"dest": str(tmp_path / "secret.env"), "secret": True}]}]})
    assert found["secret_digest"] == hashlib.sha256(b"k1\nTOKEN=abc\n").hexdigest()[:16]
    assert found["digests"][str(tmp_path / "secret.env")] == found["secret_digest"]
    assert "TOKEN=abc" not in json.dumps(found)


def test_reads_accounts_and_globs_without_following_links(run_module, tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / ".complete").write_text(name)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / ".complete").symlink_to(tmp_path / "a" / ".complete")
    # A build account's own file, in a venv it was building, is not what root wrote: it reads as missing.
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".complete").write_text("planted by a build")
    os.chown(tmp_path / "d" / ".complete", 4242, 4242)
    found = run_module(host_facts.main, {"globs": {"venvs": str(tmp_path / "*" / ".complete")}, "read": {"planted": str(tmp_path / "d" / ".complete")},
                                         "accounts": [{"user": "root", "group": "root", "comment": "no such comment"},
                                                      {"user": "fastapi-gunicorn-nobody", "group": "nogroup-x", "comment": "c"}]})
    assert sorted(found["globbed"]["venvs"]) == [str(tmp_path / "a" / ".complete"), str(tmp_path / "b" / ".complete")]
    assert found["files"] == {"planted": ""}
    assert found["accounts"][0]["user"]["uid"] == 0 and found["accounts"][0]["own_gids"] == []
    assert found["accounts"][1] == {"user": None, "group": None, "own_gids": []}


def test_an_interpreter_that_does_not_run_is_reported_not_failed(run_module, tmp_path):
    found = run_module(host_facts.main, {"python": str(tmp_path / "no-python")})
    assert not found.get("failed") and found["python"] == "" and found["python_error"], found


def test_tells_what_is_at_each_path_without_following_links(run_module, tmp_path):
    (tmp_path / "dir").mkdir()
    os.chown(tmp_path / "dir", 4242, 4242)
    os.chmod(tmp_path / "dir", 0o1777)
    (tmp_path / "unit").write_text("[Service]\n")
    (tmp_path / "masked").symlink_to("/dev/null")
    paths = [str(tmp_path / name) for name in ("dir", "unit", "masked", "missing")]
    os.chmod(tmp_path / "unit", 0o644)
    found = run_module(host_facts.main, {"paths": paths})
    assert found["paths"] == {paths[0]: {"type": "directory", "uid": 4242, "owner": "4242", "mode": "1777"},
                              paths[1]: {"type": "file", "uid": 0, "owner": "root", "mode": "0644"},
                              paths[2]: {"type": "link", "uid": 0, "owner": "root", "mode": "0777"},
                              paths[3]: None}
