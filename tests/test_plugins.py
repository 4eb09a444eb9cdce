"""The collection's own plugins, run for real on the controller (as root, in temporary directories).

source_archive: what is shipped and what is left out, the same bytes for the same content, no link
out of the source. state_files: atomic writes with owner and mode, idempotence, dry runs, the link
swap and pruning. host_state: every kind of difference it reports, and none on a matching host.
format_errors: one message per failed check, secrets not echoed.
"""

import hashlib
import http.server
import json
import os
import subprocess
import tarfile
import threading

import pytest

from harness import ROOT

ENV = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
       "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3"}


def module(name, args, check=False):
    command = ["ansible", "localhost", "-i", "localhost,", "-c", "local", "-m", f"fastapi_gunicorn.deploy.{name}", "-a", json.dumps(args)]
    result = subprocess.run(command + (["--check"] if check else []), cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    return json.loads(result.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def lookup(expression):
    play = f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "{{{{ {expression} }}}}"
"""
    result = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "/dev/stdin"], input=play, cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=120)
    return json.loads(result.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.fixture
def source(tmp_path):
    root = tmp_path / "app"
    for name, text in {"main.py": "app = 1\n", "pkg/mod.py": "x = 2\n", "pkg/__pycache__/mod.cpython-311.pyc": "junk",
                       ".git/HEAD": "ref\n", ".venv/bin/python": "", ".env": "SECRET=1\n", "docs/build/index.html": "<p>",
                       "docs/index.md": "# docs\n"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def archive_of(root, tmp_path, excludes="[]"):
    defaults = "['.git', '.venv', '__pycache__', '*.pyc', '.env']"
    result = lookup(f"lookup('fastapi_gunicorn.deploy.source_archive', '{root}', excludes={defaults} + {excludes}, "
                    f"marker='.release', cache_dir='{tmp_path / 'cache'}')")
    assert "msg" in result and not result.get("failed"), result
    return result["msg"]


def test_source_archive_ships_what_is_not_excluded_with_the_marker_last(source, tmp_path):
    packed = archive_of(source, tmp_path, "['docs/build']")
    with tarfile.open(packed["archive"]) as archive:
        members = archive.getmembers()
    files = [m.name for m in members if m.isfile()]
    assert sorted(files[:-1]) == ["docs/index.md", "main.py", "pkg/mod.py"], files
    assert files[-1] == ".release" and packed["files"] == 3
    with tarfile.open(packed["archive"]) as archive:
        assert archive.extractfile(".release").read().decode().strip() == packed["hash"]
    assert all(m.uid == 0 and m.mtime == 0 for m in members)


def test_source_archive_is_the_same_bytes_for_the_same_content_and_changes_with_it(source, tmp_path):
    first = archive_of(source, tmp_path)
    digest = hashlib.sha256(open(first["archive"], "rb").read()).hexdigest()
    os.unlink(first["archive"])
    (source / "pkg" / "__pycache__" / "other.pyc").write_text("more junk")  # excluded: same release
    again = archive_of(source, tmp_path)
    assert again["hash"] == first["hash"]
    assert hashlib.sha256(open(again["archive"], "rb").read()).hexdigest() == digest
    (source / "main.py").write_text("app = 2\n")
    assert archive_of(source, tmp_path)["hash"] != first["hash"]


def test_source_archive_refuses_a_link_out_of_the_source(source, tmp_path):
    (tmp_path / "outside").write_text("private\n")
    (source / "leak").symlink_to(tmp_path / "outside")
    result = lookup(f"lookup('fastapi_gunicorn.deploy.source_archive', '{source}', cache_dir='{tmp_path / 'cache'}')")
    assert result.get("failed") and "leak links outside the source" in result["msg"], result


def test_state_files_writes_atomically_and_only_what_differs(tmp_path):
    target = tmp_path / "states" / "abc"
    spec = {"directory": {"path": str(target), "owner": "root", "group": "root", "mode": "0750"},
            "files": [{"key": "conf", "dest": str(target / "conf.py"), "content": "workers = 2\n", "owner": "root", "group": "daemon", "mode": "0640"},
                      {"key": "env", "dest": str(target / "secret.env"), "content": "TOKEN=s3cret-value\n", "owner": "root", "group": "root", "mode": "0600"}]}
    (tmp_path / "states").mkdir()
    dry = module("state_files", spec, check=True)
    assert dry["changed"] and dry["changed_keys"] == ["conf", "env"] and not target.exists(), dry
    first = module("state_files", spec)
    assert first["changed"] and first["changed_keys"] == ["conf", "env"], first
    assert "s3cret-value" not in json.dumps(first), "the secret content was echoed"
    assert (target / "conf.py").read_text() == "workers = 2\n"
    assert oct((target / "conf.py").stat().st_mode & 0o777) == "0o640" and (target / "conf.py").stat().st_gid == 1
    assert oct(target.stat().st_mode & 0o777) == "0o750"
    again = module("state_files", spec)
    assert not again["changed"] and again["changed_keys"] == [], again
    os.chmod(target / "secret.env", 0o644)
    assert module("state_files", spec)["changed_keys"] == ["env"]
    assert oct((target / "secret.env").stat().st_mode & 0o777) == "0o600"
    assert not [p for p in target.iterdir() if p.name.startswith(".")], "a temporary file was left"


def test_state_files_swaps_the_link_and_prunes_what_is_not_kept(tmp_path):
    releases = tmp_path / "releases"
    for name in ("r1", "r2", "r3"):
        (releases / name).mkdir(parents=True)
    current = tmp_path / "current"
    current.symlink_to(releases / "r1")
    spec = {"link": {"path": str(current), "src": str(releases / "r2"), "owner": "root", "group": "root"},
            "prune": {"parents": [str(releases)], "keep": [str(releases / "r1"), str(releases / "r2")]}}
    dry = module("state_files", spec, check=True)
    assert dry["link_changed"] and dry["pruned"] == [str(releases / "r3")] and os.readlink(current) == str(releases / "r1"), dry
    done = module("state_files", spec)
    assert done["changed"] and done["link_changed"] and os.readlink(current) == str(releases / "r2"), done
    assert sorted(p.name for p in releases.iterdir()) == ["r1", "r2"]
    assert not module("state_files", spec)["changed"]


@pytest.fixture
def web():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"release": "v10"}' if self.path == "/version" else b"ok"
            self.send_response(200 if self.path in ("/health", "/version") else 503)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_host_state_reports_each_difference_and_none_on_a_match(tmp_path, web):
    (tmp_path / "dir").mkdir(mode=0o700)
    (tmp_path / "file").write_text("hello\n")
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    (tmp_path / "lock").write_text("controller=x pid=1\n")
    want = {"directories": [{"path": str(tmp_path / "dir"), "owner": "root", "group": "root", "mode": "0755"},
                            {"path": str(tmp_path / "missing")}],
            "files": [{"path": str(tmp_path / "file"), "sha256": hashlib.sha256(b"other\n").hexdigest()}],
            "links": [{"path": str(tmp_path / "link"), "src": str(tmp_path / "elsewhere")}],
            "packages": ["coreutils", "fastapi-gunicorn-no-such-package"],
            "account": {"user": "fastapi-gunicorn-nobody", "group": "root"},
            "http": [{"url": web + "/health", "status": 200}, {"url": web + "/version", "search": "(^|[^A-Za-z0-9._-])v1([^A-Za-z0-9._-]|$)"},
                     {"url": web + "/other", "status": 200}],
            "absent": [str(tmp_path / "lock")]}
    found = module("host_state", {"python": "/usr/bin/python3", "read": {"file": str(tmp_path / "file"), "none": str(tmp_path / "none")},
                                  "want": {"all": want}})
    drift = found["drift"]["all"]
    expected = ["has mode 0700, want 0755", "missing is missing", "file differs from the wanted content", "points at",
                "package fastapi-gunicorn-no-such-package is not installed", "user fastapi-gunicorn-nobody does not exist",
                "/version answered", "/other answered 503", "lock exists: controller=x pid=1"]
    for text in expected:
        assert any(text in line for line in drift), (text, drift)
    assert len(drift) == len(expected), drift
    assert found["files"] == {"file": "hello\n", "none": ""} and found["python"].startswith("3.")
    matching = {"directories": [{"path": str(tmp_path / "dir"), "owner": "root", "group": "root", "mode": "0700"}],
                "files": [{"path": str(tmp_path / "file"), "sha256": hashlib.sha256(b"hello\n").hexdigest()}],
                "links": [{"path": str(tmp_path / "link"), "src": str(tmp_path / "dir")}], "packages": ["coreutils"],
                "http": [{"url": web + "/version", "search": "(^|[^A-Za-z0-9._-])v10([^A-Za-z0-9._-]|$)"}], "absent": [str(tmp_path / "none")]}
    assert module("host_state", {"want": {"all": matching}})["drift"] == {"all": []}


def test_host_state_keys_the_secret_digest(tmp_path):
    (tmp_path / "key").write_text("k1\n")
    (tmp_path / "secret.env").write_text("TOKEN=abc\n")
    files = [{"path": str(tmp_path / "secret.env"), "secret": True}]
    first = module("host_state", {"secret": {"key": str(tmp_path / "key"), "content": "TOKEN=abc\n"}, "want": {"live": {"files": files}}})
    assert first["secret_digest"] == hashlib.sha256(b"k1\nTOKEN=abc\n").hexdigest()[:16]
    assert first["digests"][str(tmp_path / "secret.env")] == first["secret_digest"]
    assert first["secret_digest"] != hashlib.sha256(b"TOKEN=abc\n").hexdigest()[:16]
    assert "TOKEN=abc" not in json.dumps(first), "the secret content was echoed"


def test_format_errors_names_each_failed_variable_without_echoing_secrets():
    result = lookup("[{'var': 'a_name', 'got': ['ok', 'bad\\n'], 'pattern': '[a-z]+', 'want': 'letters'},"
                    " {'var': 'a_secret', 'got': ['x y'], 'pattern': '\\\\S+', 'want': 'no spaces', 'secret': true},"
                    " {'var': 'fine', 'got': ['abc'], 'pattern': '[a-z]+', 'want': 'letters'}] | fastapi_gunicorn.deploy.format_errors")
    assert result["msg"] == ['a_name must be letters; not valid: ["bad\\n"]', "a_secret must be no spaces; a value does not match"], result
