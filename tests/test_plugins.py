"""The collection's lookups, run for real through Ansible on the controller (as root, in temporary
directories): source_archive (what is shipped and what is left out, the same bytes for the same content,
no link out of the source), git_source, artifact_source, wheelhouse, and the filters as a play calls
them. The modules and the filters' logic have unit tests of their own (tests/unit, ansible-test units).
"""

import functools
import hashlib
import http.server
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from harness import ROOT

ENV = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
       "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3"}


def lookup(expression):
    play = f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "{{{{ {expression} }}}}"
"""
    result = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "/dev/stdin"], input=play, cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=120, check=False)
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
        assert sorted(p.name for p in (tmp_path / "cache" / "downloads").iterdir()) == [
            ".fastapi_gunicorn-cache", f"{sha256(artifacts / 'orders-1.0.tar.gz')}-orders-1.0.tar.gz"]
    finally:
        server.shutdown()


def test_requirement_lines_joins_continuations_and_drops_comments(tmp_path):
    text = "# pins\nfastapi==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n\nuvicorn  # the server\n-c constraints.txt\n"
    (tmp_path / "requirements.txt").write_text(text)
    result = lookup(f"lookup('ansible.builtin.file', '{tmp_path / 'requirements.txt'}') | fastapi_gunicorn.deploy.requirement_lines")
    # The space before each backslash stays: the lines name venvs, which must not change between versions.
    assert result["msg"] == ["fastapi==1.0  --hash=sha256:aa  --hash=sha256:bb", "uvicorn", "-c constraints.txt"], result


def test_venv_argv_runs_a_command_as_in_an_activated_venv():
    result = lookup("[['alembic', 'upgrade', 'head'], ['bash', 'scripts/prestart.sh']]"
                    " | map('fastapi_gunicorn.deploy.venv_argv', '/srv/a/venvs/v1', app='/srv/a/releases/r1/backend') | list")
    activate = ["/usr/bin/env", "PATH=/srv/a/venvs/v1/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "VIRTUAL_ENV=/srv/a/venvs/v1",
                "PYTHONPATH=/srv/a/releases/r1/backend"]
    assert result["msg"] == [activate + ["alembic", "upgrade", "head"], activate + ["bash", "scripts/prestart.sh"]], result


def test_venv_argv_finds_the_venv_first_and_the_system_after(tmp_path):
    """Through the real /usr/bin/env: `python` is the venv's, `sh` the system's, and the app imports."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (tmp_path / "backend" / "app").mkdir(parents=True)
    (tmp_path / "backend" / "app" / "__init__.py").write_text("NAME = 'the app'\n")
    argv = lookup(f"[] | fastapi_gunicorn.deploy.venv_argv('{venv}', app='{tmp_path / 'backend'}')")["msg"]
    argv += ["sh", "-c", "command -v python; python -c 'import app; print(app.NAME)'"]
    out = subprocess.run(argv, cwd="/", capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:2] == [str(venv / "bin" / "python"), "the app"], out


def test_wheelhouse_names_one_archive_per_key_keeps_the_newest_20_and_refuses_a_foreign_directory(tmp_path):
    cache = tmp_path / "wheelhouses"
    result = lookup(f"lookup('fastapi_gunicorn.deploy.wheelhouse', '0123456789ab-x86_64', cache_dir='{cache}')")
    assert result["msg"] == str(cache / "0123456789ab-x86_64.tar") and [p.name for p in cache.iterdir()] == [".fastapi_gunicorn-cache"], result
    for i in range(22):
        (cache / f"{i:012x}-x86_64.tar").write_bytes(b"")
        os.utime(cache / f"{i:012x}-x86_64.tar", (1000 + i, 1000 + i))
    (cache / ".work-app1-000000000000-x86_64.tar").write_bytes(b"")
    # Using the oldest marks it as used; the two oldest after it go.
    lookup(f"lookup('fastapi_gunicorn.deploy.wheelhouse', '000000000000-x86_64', cache_dir='{cache}')")
    left = sorted(p.name for p in cache.iterdir())
    assert left == sorted([".fastapi_gunicorn-cache", ".work-app1-000000000000-x86_64.tar", "000000000000-x86_64.tar"]
                          + [f"{i:012x}-x86_64.tar" for i in range(3, 22)]), left
    bad = lookup(f"lookup('fastapi_gunicorn.deploy.wheelhouse', '../etc-x86_64', cache_dir='{cache}')")
    assert bad.get("failed") and "one key" in bad["msg"], bad
    # A directory that holds other files (a home directory) is never pruned: it is refused.
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("mine")
    refused = lookup(f"lookup('fastapi_gunicorn.deploy.wheelhouse', '0123456789ab-x86_64', cache_dir='{home}')")
    assert refused.get("failed") and "did not put there" in refused["msg"] and [p.name for p in home.iterdir()] == [".bashrc"], refused
    assert lookup(f"lookup('fastapi_gunicorn.deploy.wheelhouse', cache_dir='{cache}')")["msg"] == str(cache)


SERVER = "['gunicorn==27.0.1', 'uvicorn[standard]==0.54.0']"


def app_requirements(source, tmp_path, **options):
    args = "".join(f", {name}={value!r}" for name, value in options.items())
    return lookup(f"lookup('fastapi_gunicorn.deploy.app_requirements', '{source}', server={SERVER}, cache_dir='{tmp_path / 'cache'}'{args})")


def hashed_names(lines):
    assert lines and all(re.search(r"--hash=sha256:[0-9a-f]{64}", line) for line in lines), lines
    return [re.match(r"[A-Za-z0-9._-]+", line).group(0).lower() for line in lines]


def test_app_requirements_joins_gunicorn_to_a_workspace_lock_without_its_members(tmp_path):
    """The fullstack example: uv.lock at the workspace root, the app a member in backend/, no gunicorn."""
    found = app_requirements(ROOT / "examples" / "fullstack", tmp_path, app_dir="backend")["msg"]
    assert (found["source"], found["file"], found["hash_locked"]) == ("uv.lock", "uv.lock", True), found
    names = hashed_names(found["requirements"])
    assert "gunicorn" in names and "fastapi" in names and "alembic" in names and "app" not in names, names
    assert not any(line.startswith(("-e", "file:", ".")) for line in found["requirements"]), found["requirements"]
    assert found["added"] == ["gunicorn==27.0.1"], found
    # Kept under the hash of what it was made from: every host of a rollout gets the same lines.
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.suffix == ".json"] and app_requirements(
        ROOT / "examples" / "fullstack", tmp_path, app_dir="backend")["msg"] == found


def test_app_requirements_locks_a_pyproject_and_compiles_a_hash_locked_file(tmp_path):
    project = app_requirements(ROOT / "tests" / "fixtures" / "pyproject_only", tmp_path)["msg"]
    assert (project["source"], project["hash_locked"]) == ("pyproject.toml", True), project
    assert {"fastapi", "gunicorn", "uvicorn"} <= set(hashed_names(project["requirements"])) and project["added"][0].startswith("gunicorn=="), project
    locked = app_requirements(ROOT / "tests" / "fixtures" / "lock_without_server", tmp_path)["msg"]
    assert (locked["source"], locked["hash_locked"]) == ("requirements file", True), locked
    assert {"fastapi", "gunicorn", "uvicorn", "httptools"} <= set(hashed_names(locked["requirements"])), locked
    # The app's own pin is kept as it was.
    assert any(line.startswith("fastapi==0.165.0 ") for line in locked["requirements"]) and "gunicorn==27.0.1" in locked["added"], locked


def test_app_requirements_puts_the_server_pins_first_for_plain_lines_and_names_a_conflict(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "requirements.txt").write_text("fastapi>=0.115  # no pins\n")
    plain = app_requirements(tmp_path / "plain", tmp_path)["msg"]
    assert plain["requirements"] == ["gunicorn==27.0.1", "uvicorn[standard]==0.54.0", "fastapi>=0.115"] and not plain["hash_locked"], plain
    (tmp_path / "none").mkdir()
    assert app_requirements(tmp_path / "none", tmp_path)["msg"]["requirements"] == ["gunicorn==27.0.1", "uvicorn[standard]==0.54.0"]
    # uvicorn 0.54 needs h11 0.8 or later: it cannot join a lock that pins h11 0.7.
    (tmp_path / "conflict").mkdir()
    (tmp_path / "conflict" / "requirements.txt").write_text("h11==0.7.0 --hash=sha256:" + "0" * 64 + "\n")
    conflict = app_requirements(tmp_path / "conflict", tmp_path)
    assert conflict.get("failed") and "fastapi_gunicorn_uvicorn_version" in conflict["msg"] and "h11" in conflict["msg"], conflict
    outside = app_requirements(tmp_path / "plain", tmp_path, app_dir="../none")
    assert outside.get("failed") and "fastapi_gunicorn_app_dir" in outside["msg"], outside
