"""build_seal takes a build's tree over for root and marks it complete, or removes it, never through a link."""

from __future__ import annotations

import os
import pwd
import subprocess
import time

import pytest
from ansible_collections.fastapi_gunicorn.deploy.plugins.modules import build_seal

BUILDER = "fastapi-gunicorn-test-build"


@pytest.fixture(scope="module")
def builder():
    """A throwaway build account (the tests run as root, as the module does)."""
    try:
        pwd.getpwnam(BUILDER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", BUILDER], check=True)
    yield pwd.getpwnam(BUILDER).pw_uid
    subprocess.run(["userdel", BUILDER], check=False)


def test_seals_and_marks_complete(run_module, tmp_path, builder):
    venv = tmp_path / "venvs" / "v1"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to("/usr/bin/python3")
    (venv / "requirements.txt").symlink_to("/etc/shadow")  # planted where root writes: replaced, never followed
    for path in (venv, venv / "bin"):
        os.chown(path, builder, builder)
    for path in (venv / "bin" / "python", venv / "requirements.txt"):
        os.lchown(path, builder, builder)
    shadow = os.stat("/etc/shadow")
    dry = run_module(build_seal.main, {"path": str(venv), "build_user": BUILDER}, check=True)
    assert dry["changed"] and os.stat(venv).st_uid == builder
    done = run_module(build_seal.main, {"path": str(venv), "build_user": BUILDER,
                                        "files": [{"name": "requirements.txt", "content": "a==1\n"}, {"name": ".complete", "content": "a==1\n"}]})
    assert not done.get("failed") and done["entries"] == 4, done
    assert os.stat(venv).st_uid == 0 and os.lstat(venv / "bin" / "python").st_uid == 0
    assert not os.path.islink(venv / "requirements.txt") and (venv / "requirements.txt").read_text() == "a==1\n"
    assert os.stat("/etc/shadow") == shadow, "root wrote through a planted link"


def test_refuses_while_the_build_account_runs_and_removes_a_failed_build(run_module, tmp_path, builder):
    venv = tmp_path / "venvs" / "v2"
    venv.mkdir(parents=True)
    os.chown(venv, builder, builder)
    (tmp_path / "keep").mkdir()
    (venv / "link").symlink_to(tmp_path / "keep")
    sleeper = subprocess.Popen(["setpriv", f"--reuid={builder}", f"--regid={builder}", "--clear-groups", "sleep", "30"])
    deadline = time.monotonic() + 10
    while os.stat(f"/proc/{sleeper.pid}").st_uid != builder and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        result = run_module(build_seal.main, {"path": str(venv), "build_user": BUILDER})
        assert result.get("failed") and "still run" in result["msg"], result
    finally:
        sleeper.kill()
        sleeper.wait()
    removed = run_module(build_seal.main, {"path": str(venv), "build_user": BUILDER, "state": "absent"})
    assert not removed.get("failed") and removed["changed"] and not venv.exists() and (tmp_path / "keep").exists()
    assert not run_module(build_seal.main, {"path": str(venv), "build_user": BUILDER, "state": "absent"})["changed"]
    missing = run_module(build_seal.main, {"path": str(venv), "build_user": BUILDER})
    assert missing.get("failed") and "made nothing" in missing["msg"]


def test_root_is_not_a_build_account(run_module, tmp_path):
    (tmp_path / "v").mkdir()
    result = run_module(build_seal.main, {"path": str(tmp_path / "v"), "build_user": "root"})
    assert result.get("failed") and "must not be root" in result["msg"]
