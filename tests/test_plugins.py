"""The collection's own plugins, run for real on the controller (as root, in temporary directories).

source_archive: what is shipped and what is left out, the same bytes for the same content, no link
out of the source. state_files: atomic writes with owner and mode, idempotence, dry runs, the link
swap and pruning. host_state: every kind of difference it reports, and none on a matching host.
format_errors: one message per failed check, secrets not echoed.
"""

import functools
import hashlib
import http.server
import importlib.util
import io
import json
import os
import subprocess
import tarfile
import threading
import zipfile
from pathlib import Path

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


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repository(tmp_path):
    """A repository with two commits on main (VERSION 1, then 2) and a tag on the first."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "config", "user.email", "test@example.invalid")
    git(repo, "config", "user.name", "test")
    for version in ("1", "2"):
        (repo / "VERSION").write_text(version + "\n")
        git(repo, "add", "VERSION")
        git(repo, "commit", "--quiet", "-m", f"version {version}")
        if version == "1":
            git(repo, "tag", "v1")
    return repo


def git_source(repo, tmp_path, **options):
    extra = "".join(f", {name}='{value}'" for name, value in options.items())
    return lookup(f"lookup('fastapi_gunicorn.deploy.git_source', '{repo}'{extra}, cache_dir='{tmp_path / 'cache'}')")


def test_git_source_resolves_branch_tag_and_commit_and_exports_the_tree(repository, tmp_path):
    head, first = git(repository, "rev-parse", "main"), git(repository, "rev-parse", "v1")
    for options, commit, version in (({"ref": "main"}, head, "2"), ({"ref": "v1"}, first, "1"), ({"ref": first[:10]}, first, "1"),
                                     ({"ref": "main", "commit": first}, first, "1")):
        result = git_source(repository, tmp_path, **options)["msg"]
        assert result["commit"] == commit, (options, result)
        tree = Path(result["path"])
        assert (tree / "VERSION").read_text() == version + "\n" and not (tree / ".git").exists(), (options, sorted(tree.iterdir()))


def test_git_source_sees_a_moved_branch(repository, tmp_path):
    before = git_source(repository, tmp_path, ref="main")["msg"]["commit"]
    (repository / "VERSION").write_text("3\n")
    git(repository, "commit", "--quiet", "-am", "version 3")
    after = git_source(repository, tmp_path, ref="main")["msg"]["commit"]
    assert after != before and after == git(repository, "rev-parse", "main")


def test_git_source_names_the_variable_of_what_cannot_be_read(repository, tmp_path):
    result = git_source(repository, tmp_path, ref="no-such-branch")
    assert result.get("failed") and "fastapi_gunicorn_app_git_ref no-such-branch is not a branch, tag or commit" in result["msg"], result
    result = git_source(repository, tmp_path, commit="0" * 40)
    assert result.get("failed") and "fastapi_gunicorn_app_git_commit" in result["msg"], result
    result = git_source(tmp_path / "no-such-repo", tmp_path, ref="main")
    assert result.get("failed") and "fastapi_gunicorn_app_git_repo" in result["msg"] and "cannot be read" in result["msg"], result


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def artifact_source(artifact, tmp_path, checksum):
    return lookup(f"lookup('fastapi_gunicorn.deploy.artifact_source', '{artifact}', checksum='{checksum}', cache_dir='{tmp_path / 'cache'}')")


@pytest.fixture
def artifacts(tmp_path):
    """An sdist-like tarball (one top directory), a wheel (a zip, files at the top), and hostile tarballs."""
    made = tmp_path / "made"
    (made / "orders-1.0" / "orders").mkdir(parents=True)
    (made / "orders-1.0" / "orders" / "main.py").write_text("app = 1\n")
    (made / "orders-1.0" / "requirements.txt").write_text("fastapi\n")
    with tarfile.open(made / "orders-1.0.tar.gz", "w:gz") as archive:
        archive.add(made / "orders-1.0", arcname="orders-1.0")
    with zipfile.ZipFile(made / "orders-1.0-py3-none-any.whl", "w") as archive:
        archive.writestr("orders/main.py", "app = 2\n")
        archive.writestr("orders-1.0.dist-info/METADATA", "Name: orders\n")
    for name, member in (("climbing", "../outside.py"), ("link", "orders/leak")):
        with tarfile.open(made / f"{name}.tar.gz", "w:gz") as archive:
            info = tarfile.TarInfo(member)
            if name == "link":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
            archive.addfile(info, io.BytesIO(b"") if name != "link" else None)
    return made


def test_artifact_source_unpacks_an_sdist_from_inside_and_a_wheel_as_is(artifacts, tmp_path):
    for artifact, main, extra in ((artifacts / "orders-1.0.tar.gz", "app = 1\n", "requirements.txt"),
                                  (artifacts / "orders-1.0-py3-none-any.whl", "app = 2\n", "orders-1.0.dist-info/METADATA")):
        result = artifact_source(artifact, tmp_path, "sha256:" + sha256(artifact))["msg"]
        tree = Path(result["path"])
        assert result["sha256"] == sha256(artifact) and tree.name == sha256(artifact)
        assert (tree / "orders" / "main.py").read_text() == main and (tree / extra).is_file(), sorted(tree.rglob("*"))


def test_artifact_source_checks_the_checksum_before_anything_else(artifacts, tmp_path):
    artifact = artifacts / "orders-1.0.tar.gz"
    result = artifact_source(artifact, tmp_path, "sha256:" + "0" * 64)
    assert result.get("failed") and "fastapi_gunicorn_app_artifact_checksum does not match" in result["msg"], result
    assert sha256(artifact) in result["msg"] and not (tmp_path / "cache" / "trees").exists()


def test_artifact_source_gives_an_interpreter_archive_verified_and_packed(artifacts, tmp_path):
    archive = artifacts / "orders-1.0.tar.gz"
    options = "unpack=false, variable='fastapi_gunicorn_python_archive'"
    result = lookup(f"lookup('fastapi_gunicorn.deploy.artifact_source', '{archive}', checksum='{sha256(archive)}', "
                    f"cache_dir='{tmp_path / 'cache'}', {options})")["msg"]
    assert result == {"sha256": sha256(archive), "path": str(archive)} and not (tmp_path / "cache" / "trees").exists(), result
    bad = lookup(f"lookup('fastapi_gunicorn.deploy.artifact_source', '{archive}', checksum='{'0' * 64}', "
                 f"cache_dir='{tmp_path / 'cache'}', {options})")
    assert bad.get("failed") and "fastapi_gunicorn_python_archive_checksum does not match" in bad["msg"], bad


def test_artifact_source_refuses_members_out_of_the_tree(artifacts, tmp_path):
    for name in ("climbing", "link"):
        artifact = artifacts / f"{name}.tar.gz"
        result = artifact_source(artifact, tmp_path, sha256(artifact))
        assert result.get("failed") and "is refused" in result["msg"], (name, result)
    assert not (tmp_path / "outside.py").exists()


def test_artifact_source_downloads_and_verifies_a_url(artifacts, tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(artifacts))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/orders-1.0.tar.gz"
        result = artifact_source(url, tmp_path, sha256(artifacts / "orders-1.0.tar.gz"))["msg"]
        assert (Path(result["path"]) / "orders" / "main.py").read_text() == "app = 1\n"
        bad = artifact_source(url.replace("orders-1.0.tar.gz", "orders-1.0-py3-none-any.whl"), tmp_path, sha256(artifacts / "orders-1.0.tar.gz"))
        assert bad.get("failed") and "does not match" in bad["msg"], bad
        assert [p.name for p in (tmp_path / "cache" / "downloads").iterdir()] == [f"{sha256(artifacts / 'orders-1.0.tar.gz')}-orders-1.0.tar.gz"]
    finally:
        server.shutdown()


def test_requirement_lines_joins_continuations_and_drops_comments(tmp_path):
    text = "# pins\nfastapi==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n\nuvicorn  # the server\n-c constraints.txt\n"
    (tmp_path / "requirements.txt").write_text(text)
    result = lookup(f"lookup('ansible.builtin.file', '{tmp_path / 'requirements.txt'}') | fastapi_gunicorn.deploy.requirement_lines")
    # The space before each backslash stays: the lines name venvs, which must not change between versions.
    assert result["msg"] == ["fastapi==1.0  --hash=sha256:aa  --hash=sha256:bb", "uvicorn", "-c constraints.txt"], result


def test_venv_argv_takes_a_bare_program_from_the_venv():
    result = lookup("[['alembic', 'upgrade', 'head'], ['/usr/bin/env', 'python3'], ['python', '-m', 'bin/x']]"
                    " | map('fastapi_gunicorn.deploy.venv_argv', '/srv/a/venvs/v1') | list")
    assert result["msg"] == [["/srv/a/venvs/v1/bin/alembic", "upgrade", "head"], ["/usr/bin/env", "python3"],
                             ["/srv/a/venvs/v1/bin/python", "-m", "bin/x"]], result


def test_wheelhouse_names_one_archive_per_key_and_keeps_the_newest_20(tmp_path):
    cache = tmp_path / "wheelhouses"
    result = lookup(f"lookup('fastapi_gunicorn.deploy.wheelhouse', '0123456789ab-x86_64', cache_dir='{cache}')")
    assert result["msg"] == str(cache / "0123456789ab-x86_64.tar") and list(cache.iterdir()) == [], result
    for i in range(22):
        (cache / f"{i:012x}-x86_64.tar").write_bytes(b"")
        os.utime(cache / f"{i:012x}-x86_64.tar", (1000 + i, 1000 + i))
    (cache / ".work-app1-000000000000-x86_64.tar").write_bytes(b"")
    # Using the oldest marks it as used; the two oldest after it go.
    lookup(f"lookup('fastapi_gunicorn.deploy.wheelhouse', '000000000000-x86_64', cache_dir='{cache}')")
    left = sorted(p.name for p in cache.iterdir())
    assert left == sorted([".work-app1-000000000000-x86_64.tar", "000000000000-x86_64.tar"] + [f"{i:012x}-x86_64.tar" for i in range(3, 22)]), left
    bad = lookup(f"lookup('fastapi_gunicorn.deploy.wheelhouse', '../etc-x86_64', cache_dir='{cache}')")
    assert bad.get("failed") and "one key" in bad["msg"], bad


def test_state_files_writes_atomically_and_only_what_differs(tmp_path):
    target = tmp_path / "states" / "abc"
    spec = {"directories": [{"path": str(target), "owner": "root", "group": "root", "mode": "0750"}],
            "files": [{"key": "conf", "dest": str(target / "conf.py"), "content": "workers = 2\n", "owner": "root", "group": "daemon", "mode": "0640"},
                      {"key": "env", "dest": str(target / "secret.env"), "content": "TOKEN=s3cret-value\n", "owner": "root", "group": "root", "mode": "0600"}]}
    (tmp_path / "states").mkdir()
    dry = module("state_files", spec, check=True)
    assert dry["changed"] and dry["changed_keys"] == ["conf", "env"] and dry["made_directories"] == [str(target)] and not target.exists(), dry
    first = module("state_files", spec)
    assert first["changed"] and first["changed_keys"] == ["conf", "env"] and first["made_directories"] == [str(target)], first
    assert "s3cret-value" not in json.dumps(first), "the secret content was echoed"
    assert (target / "conf.py").read_text() == "workers = 2\n"
    assert oct((target / "conf.py").stat().st_mode & 0o777) == "0o640" and (target / "conf.py").stat().st_gid == 1
    assert oct(target.stat().st_mode & 0o777) == "0o750"
    again = module("state_files", spec)
    assert not again["changed"] and again["changed_keys"] == [] and again["made_directories"] == [], again
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


def test_state_files_makes_a_fresh_directory_new(tmp_path):
    venv = tmp_path / "venvs" / "abc"
    (venv / "lib").mkdir(parents=True)
    (venv / "lib" / "half-installed.py").write_text("x")
    spec = {"directories": [{"path": str(venv), "owner": "root", "group": "root", "mode": "0750", "fresh": True}],
            "files": [{"key": "requirements", "dest": str(venv / "requirements.txt"), "content": "uv\n",
                       "owner": "root", "group": "root", "mode": "0644"}]}
    dry = module("state_files", spec, check=True)
    assert dry["made_directories"] == [str(venv)] and (venv / "lib" / "half-installed.py").exists(), dry
    done = module("state_files", spec)
    assert done["changed"] and done["made_directories"] == [str(venv)], done
    assert sorted(p.name for p in venv.iterdir()) == ["requirements.txt"] and oct(venv.stat().st_mode & 0o777) == "0o750", done
    kept = module("state_files", {**spec, "directories": [{**spec["directories"][0], "fresh": False}]})
    assert not kept["changed"] and (venv / "requirements.txt").exists(), kept


def test_state_files_gives_back_only_its_own_lock(tmp_path):
    lock = tmp_path / "service.lock"
    lock.write_text("controller=c pid=2 start=9 user=root since=2026-12-01T00:00:00\n")
    for owner in ("controller=c pid=2 start=90 user=root", "controller=c pid=3 start=9 user=root"):
        other = module("state_files", {"unlock": {"path": str(lock), "owner": owner}})
        assert not other["unlocked"] and not other["changed"] and lock.exists(), (owner, other)
    spec = {"unlock": {"path": str(lock), "owner": "controller=c pid=2 start=9 user=root"}}
    assert not module("state_files", spec, check=True)["unlocked"] and lock.exists(), "a dry run gave back the lock"
    done = module("state_files", spec)
    assert done["unlocked"] and not done["changed"] and not lock.exists(), done
    again = module("state_files", spec)
    assert not again["unlocked"] and "failed" not in again, again


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


def test_host_state_takes_the_lock_before_it_reads(tmp_path):
    lock = tmp_path / "run" / "service.lock"
    spec = {"read": {"lock": str(lock)}, "lock": {"path": str(lock), "owner": "controller=c pid=2 start=9", "timeout": 0}}
    assert "lock" not in module("host_state", spec, check=True) and not lock.exists(), "a dry run took the lock"
    taken = module("host_state", spec)
    # The read comes after the lock: it sees this run's own line, and its directory was made.
    assert taken["lock"] == {"taken": True, "held_by": "", "took_over": ""} and taken["files"]["lock"] == "controller=c pid=2 start=9\n", taken
    other = {**spec, "lock": {**spec["lock"], "owner": "controller=c pid=3 start=9", "timeout": 1}}
    held = module("host_state", other)
    assert held["lock"] == {"taken": False, "held_by": "controller=c pid=2 start=9", "took_over": ""}, held
    assert lock.read_text() == "controller=c pid=2 start=9\n", "a waiting run changed the lock"
    # A lock whose owner is known to be gone is replaced at once; any other content is not.
    wrong = module("host_state", {**other, "lock": {**other["lock"], "stale": "controller=c pid=1 start=9"}})
    assert not wrong["lock"]["taken"], wrong
    stale = module("host_state", {**other, "lock": {**other["lock"], "stale": "controller=c pid=2 start=9"}})
    assert stale["lock"] == {"taken": True, "held_by": "", "took_over": "controller=c pid=2 start=9"}, stale
    assert lock.read_text() == "controller=c pid=3 start=9\n"


def test_host_state_writes_the_state_under_its_lock_only_when_the_read_is_as_expected(tmp_path):
    lock, record, target = tmp_path / "service.lock", tmp_path / "record.fact", tmp_path / "states" / "abc"
    (tmp_path / "states").mkdir()
    record.write_text('{"history": []}')
    write = {"directories": [{"path": str(target), "owner": "root", "group": "root", "mode": "0750"}],
             "files": [{"key": "env", "dest": str(target / "secret.env"), "content": "TOKEN=s3cret-value\n",
                        "owner": "root", "group": "root", "mode": "0600"}]}
    expect = {"files": {"record": '{"history": []}'}}
    spec = {"read": {"record": str(record)}, "expect": expect, "write": write,
            "lock": {"path": str(lock), "owner": "controller=c pid=2 start=9", "timeout": 0}}
    # A dry run takes no lock, so it writes nothing, whatever it finds.
    dry = module("host_state", spec, check=True)
    assert dry["as_expected"] and not dry["written"]["done"] and not dry["changed"] and not target.exists(), dry
    # Another run changed the record since the plan: the plan is stale, nothing is written.
    record.write_text('{"history": [{"state": "other"}]}')
    stale = module("host_state", spec)
    assert stale["lock"]["taken"] and not stale["as_expected"] and not stale["written"]["done"] and not target.exists(), stale
    assert not stale["changed"], stale
    lock.unlink()
    record.write_text('{"history": []}')
    taken = module("host_state", spec)
    assert taken["as_expected"] and taken["written"] == {"done": True, "changed_keys": ["env"], "made_directories": [str(target)]}, taken
    assert taken["changed"] and "s3cret-value" not in json.dumps(taken), taken
    assert (target / "secret.env").read_text() == "TOKEN=s3cret-value\n" and oct((target / "secret.env").stat().st_mode & 0o777) == "0o600"
    # Held by another run: nothing is taken, nothing written.
    (target / "secret.env").unlink()
    held = module("host_state", {**spec, "lock": {**spec["lock"], "owner": "controller=c pid=3 start=9"}})
    assert not held["lock"]["taken"] and not held["written"]["done"] and not (target / "secret.env").exists(), held
    # Writing needs the lock and the expectation.
    refused = module("host_state", {"write": write})
    assert refused.get("failed") and "lock" in refused["msg"] and "expect" in refused["msg"], refused


def test_two_runs_that_find_the_same_stale_lock_do_not_both_take_it(tmp_path):
    """The second run opened the stale lock before the first one replaced it: it must leave the new lock alone."""
    spec = importlib.util.spec_from_file_location("run_lock", ROOT / "plugins" / "module_utils" / "run_lock.py")
    run_lock = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_lock)
    lock, stale = tmp_path / "service.lock", "controller=c pid=2 start=9 since=x"
    lock.write_text(stale + "\n")
    with open(lock, encoding="utf-8") as late:
        first = run_lock.take(str(lock), "controller=c pid=3 start=9", stale, 0)
        assert first == {"taken": True, "held_by": "", "took_over": stale}, first
        assert not run_lock.remove_if_stale(late, str(lock), stale)
    assert lock.read_text() == "controller=c pid=3 start=9\n"
    second = run_lock.take(str(lock), "controller=c pid=4 start=9", stale, 0)
    assert second == {"taken": False, "held_by": "controller=c pid=3 start=9", "took_over": ""}, second
