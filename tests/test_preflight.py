"""Bad input fails before anything changes on the host, with a message naming the variable.

Each case runs the real role (argument specs, then the preflight asserts) against a fresh
container; the play must fail, name the variable, report no change, and leave no trace.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "workers zero": ({"fastapi_gunicorn_workers": 0}, "fastapi_gunicorn_workers"),
    "unknown worker class": ({"fastapi_gunicorn_worker_class": "sync"}, "fastapi_gunicorn_worker_class"),
    "bind without port": ({"fastapi_gunicorn_bind": ["localhost"]}, "fastapi_gunicorn_bind"),
    "relative unix socket": ({"fastapi_gunicorn_bind": ["unix:app.sock"]}, "fastapi_gunicorn_bind"),
    "app module without attribute": ({"fastapi_gunicorn_app_module": "main"}, "fastapi_gunicorn_app_module"),
    "negative timeout": ({"fastapi_gunicorn_timeout": -1}, "fastapi_gunicorn_timeout"),
    "graceful timeout not a number": ({"fastapi_gunicorn_graceful_timeout": "soon"}, "fastapi_gunicorn_graceful_timeout"),
    "jitter above max_requests": (
        {"fastapi_gunicorn_max_requests": 0, "fastapi_gunicorn_max_requests_jitter": 50},
        "fastapi_gunicorn_max_requests_jitter",
    ),
    "missing app source": ({"fastapi_gunicorn_app_src": "/nonexistent/app"}, "fastapi_gunicorn_app_src"),
    "release id with a path": ({"fastapi_gunicorn_release_id": "../etc"}, "fastapi_gunicorn_release_id"),
    "relative base dir": ({"fastapi_gunicorn_base_dir": "srv/app"}, "fastapi_gunicorn_base_dir"),
    "bad environment name": ({"fastapi_gunicorn_environment": {"BAD-NAME": "x"}}, "fastapi_gunicorn_environment"),
    "unknown service state": ({"fastapi_gunicorn_service_state": "restarted"}, "fastapi_gunicorn_service_state"),
    "preload not a boolean": ({"fastapi_gunicorn_preload_app": "maybe"}, "fastapi_gunicorn_preload_app"),
    "health path without slash": ({"fastapi_gunicorn_health_path": "health"}, "fastapi_gunicorn_health_path"),
    "keepalive zero": ({"fastapi_gunicorn_keepalive": 0}, "fastapi_gunicorn_keepalive"),
}


def run_role(container, extra_vars):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(
        [
            "ansible-playbook", "-i", f"{container},", "-c", "community.docker.docker",
            "-e", json.dumps(extra_vars), str(ROOT / "tests/playbooks/apply_role.yml"),
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_fails_before_any_change(plain_container, case):
    extra_vars, variable = CASES[case]
    result = run_role(plain_container, extra_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert variable in output, output
    recap = re.search(r"ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", output)
    assert recap, output
    assert (recap.group(1), recap.group(2)) == ("0", "1"), output
    # Nothing the role would create exists.
    probe = subprocess.run(
        ["docker", "exec", plain_container, "sh", "-c",
         "ls -d /srv/fastapi_app /etc/fastapi_app /etc/systemd/system/fastapi_app.service 2>/dev/null; id fastapi_app 2>/dev/null"],
        capture_output=True, text=True,
    )
    assert probe.stdout == "", probe.stdout


def test_good_input_passes_preflight(plain_container):
    """The same harness accepts valid input: the role gets past every check (run only up to them)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        ["ansible-playbook", "-i", f"{plain_container},", "-c", "community.docker.docker",
         "--tags", "always", str(ROOT / "tests/playbooks/apply_role.yml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"changed=0\s+unreachable=0\s+failed=0", result.stdout), result.stdout
