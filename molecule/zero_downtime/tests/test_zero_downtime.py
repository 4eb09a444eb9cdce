"""Every change path under load fails no request; bad changes leave the live service as it was.

Each case applies one change through the real role while tests/loadgen.py sends requests inside
the container (keep-alive on, and off for a code reload and a restart), then checks the load
summary, the play's outcome, and the host before and after.
"""

import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from changepaths import BASE, CONTAINER, PATHS, Harness  # noqa: E402
from harness import VERSIONS, StreamedRun, check_load, docker_exec  # noqa: E402

# failing_health and rollback run in test_failed_deploys_in_a_row_keep_the_last_healthy_state, three
# failures and a rollback.yml under load.
COVERED_BELOW = ("failing_health", "rollback")
CASES = [(p, True) for p in PATHS if p.name not in COVERED_BELOW] + [(p, False) for p in PATHS if p.name in ("code", "dependencies")]
# What a failed play must say, so the operator knows why and what state the host is in.
MESSAGES = {
    "broken_import": ["module_that_does_not_exist"],
    "failing_pip": ["Building the virtualenv", "the running service is untouched"],
}


@pytest.fixture(scope="module")
def harness():
    h = Harness()
    yield h
    h.close()


@pytest.mark.parametrize(
    "path,keepalive", CASES, ids=[f"{p.name}-{'keepalive' if k else 'no-keepalive'}" for p, k in CASES]
)
def test_change_under_load(harness, path, keepalive):
    result = harness.run(path, keepalive=keepalive)
    load, before, after = result["load"], result["before"], result["after"]
    report = f"{path.name}: load={load} play rc={result['rc']}\n{result['output'][-4000:]}"

    assert load["sent"] > 1000, report  # the load really ran through the change
    assert load["failed"] == 0, report
    if path.expect_ok:
        assert result["rc"] == 0, report
    else:
        assert result["rc"] != 0, report
    assert after["version"] == VERSIONS[path.expect_release], report
    assert after["current"].endswith("/" + after["release"]), report
    if path.expect_new_master:
        assert after["main_pid"] != before["main_pid"], report
    elif path.expect_ok:
        assert after["main_pid"] == before["main_pid"], f"a HUP keeps the master\n{report}"
    if not path.expect_ok:
        # Nothing live moved: same release, same master.
        assert (after["current"], after["main_pid"]) == (before["current"], before["main_pid"]), report
    for message in MESSAGES.get(path.name, []):
        assert message in result["output"], report
    assert result["restore_rc"] == 0, result["restore_output"]


# --- Beyond the change table: failures in a row, interrupted and concurrent runs, tags, two apps ---

LOCK = "/run/lock/fastapi_gunicorn-fastapi_app.lock"
CONF = "/etc/fastapi_app/gunicorn_conf.py"


def recap(output):
    """The PLAY RECAP counts of the (only) host."""
    found = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert found, output[-3000:]
    return {"ok": int(found[1]), "changed": int(found[2]), "failed": int(found[4])}


def conf_setting(name):
    line = docker_exec(CONTAINER, "grep", f"^{name} = ", CONF).stdout.strip()
    return line.split(" = ", 1)[1]


def play_under_load(harness, action, ok=True):
    """Run one play (action()) under load: no request may fail, and the play must succeed (or fail)."""
    measured = harness.load[True].during(action)
    play = measured["result"]
    report = f"load={measured['load']}\n{play.stdout[-4000:]}"
    check_load(measured, report, 500)
    assert (play.returncode == 0) == ok, report
    return play, report


def test_failed_deploys_in_a_row_keep_the_last_healthy_state(harness):
    """keep_releases 2, three releases in a row that fail their health gate: each is rolled back to
    the last healthy state, nothing a rollback needs is pruned, and rollback.yml still works."""
    keep = {"fastapi_gunicorn_keep_releases": 2}
    assert harness.play({"app": "v2", **keep}).returncode == 0
    healthy = harness.state()
    assert len(healthy["states"]) == 2, healthy

    def attempts():
        return [harness.play({"app": "failing_health", "fastapi_gunicorn_release_id": f"fail-{i}",
                              "fastapi_gunicorn_health_retries": 5, **keep}) for i in (1, 2, 3)]

    measured = harness.load[True].during(attempts)
    for run in measured["result"]:
        report = f"load={measured['load']}\n{run.stdout[-4000:]}"
        assert run.returncode != 0, report
        assert "answered 503" in run.stdout and "Rolled back to state " + healthy["states"][0] in run.stdout, report
    check_load(measured, measured["result"][-1].stdout[-3000:], 500)
    after = harness.state()
    for key in ("release", "current", "states", "main_pid"):
        assert after[key] == healthy[key], (key, after, healthy)

    play_under_load(harness, lambda: harness.play(keep, playbook="playbooks/rollback.yml"))
    rolled = harness.state()
    assert rolled["version"] == VERSIONS["v1"], rolled
    assert rolled["states"] == [healthy["states"][1], healthy["states"][0]], rolled
    # The failed attempts are pruned once a change passes; what the kept states use stays.
    assert sorted(docker_exec(CONTAINER, "ls", f"{BASE}/releases").stdout.split()) == sorted(rolled["releases"])


def test_interrupted_run_converges_when_run_again(harness):
    """A run killed after `current` moved and before the reload: the old workers still serve the old
    code. Run again, the role takes over the dead run's lock and makes the master serve the new release."""
    assert harness.play().returncode == 0  # the base state: from it, v2 is a code change (a HUP)
    before = harness.state()
    killed = StreamedRun(harness.inventory, "molecule/zero_downtime/change.yml", harness.extra_vars({"app": "v2"}),
                         stop_at="fastapi_gunicorn.deploy.fastapi_gunicorn : Work out what the change needs").wait()
    assert killed.stopped, killed.stdout[-3000:]
    between = harness.state()
    assert between["current"] != before["current"], between
    for key in ("release", "workers", "states", "main_pid"):
        assert between[key] == before[key], (key, between, before)
    assert docker_exec(CONTAINER, "test", "-e", LOCK, check=False).returncode == 0, "the killed run left its lock"

    play, report = play_under_load(harness, lambda: harness.play({"app": "v2"}))
    assert "took over" in play.stdout, report
    after = harness.state()
    assert after["version"] == VERSIONS["v2"] and after["current"] == between["current"], after
    assert after["main_pid"] == before["main_pid"] and not set(after["workers"]) & set(before["workers"]), after
    assert after["states"][0] != before["states"][0], after


def wait_for_lock(timeout=120):
    deadline = time.monotonic() + timeout
    while docker_exec(CONTAINER, "test", "-e", LOCK, check=False).returncode != 0:
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.2)


def test_concurrent_runs_do_not_interleave(harness):
    """A second run against the same service waits for the first one's lock; with no time to wait,
    it fails naming the holder and changes nothing."""
    change = "molecule/zero_downtime/change.yml"

    def two_runs():
        first = StreamedRun(harness.inventory, change, harness.extra_vars({"fastapi_gunicorn_keepalive": 71}))
        wait_for_lock()
        second = StreamedRun(harness.inventory, change, harness.extra_vars({"fastapi_gunicorn_keepalive": 72}))
        return first.wait(), second.wait()

    measured = harness.load[True].during(two_runs)
    first, second = measured["result"]
    report = f"first:\n{first.stdout[-3000:]}\nsecond:\n{second.stdout[-3000:]}"
    check_load(measured, report, 500)
    assert first.returncode == 0 and second.returncode == 0, report
    # The second run went past its lock only after the first gave the lock back.
    assert second.first("TASK [fastapi_gunicorn.deploy.fastapi_gunicorn : Read the host again, under the lock]") > first.first("Give back the lock"), report
    assert conf_setting("keepalive") == "72"

    def impatient():
        # A run with something to change takes the lock (a host with nothing to change is left alone).
        first = StreamedRun(harness.inventory, change, harness.extra_vars({"fastapi_gunicorn_keepalive": 73}))
        wait_for_lock()
        second = harness.play({"fastapi_gunicorn_keepalive": 74, "fastapi_gunicorn_lock_timeout": 0})
        return first.wait(), second

    measured = harness.load[True].during(impatient)
    first, second = measured["result"]
    report = f"first:\n{first.stdout[-3000:]}\nsecond:\n{second.stdout[-3000:]}"
    check_load(measured, report, 500)
    assert first.returncode == 0, report
    assert second.returncode != 0 and "holds the lock of fastapi_app" in second.stdout, report
    assert recap(second.stdout)["changed"] == 0, report
    assert conf_setting("keepalive") == "73"


def test_each_tag_works_alone(harness):
    """Every documented tag, alone, on the converged host: install changes nothing, deploy applies a
    config change (HUP: same master, new workers) and health-gates it, run checks the service."""
    before = harness.state()

    def by_tag():
        return {
            "install": harness.play(tags="fastapi_gunicorn_install"),
            "deploy": harness.play({"fastapi_gunicorn_keepalive": 9}, tags="fastapi_gunicorn_deploy"),
            "run": harness.play({"fastapi_gunicorn_keepalive": 9}, tags="fastapi_gunicorn_run"),
        }

    measured = harness.load[True].during(by_tag)
    runs = measured["result"]
    report = "\n".join(f"--- {tag}\n{run.stdout[-2500:]}" for tag, run in runs.items())
    check_load(measured, report, 500)
    for tag, run in runs.items():
        assert run.returncode == 0, f"{tag}\n{report}"
    assert recap(runs["install"].stdout)["changed"] == 0, report
    assert recap(runs["run"].stdout)["changed"] == 0, report
    after = harness.state()
    assert conf_setting("keepalive") == "9"
    assert after["main_pid"] == before["main_pid"] and not set(after["workers"]) & set(before["workers"]), after
    assert after["states"][0] != before["states"][0], after


def test_two_apps_on_one_host_stay_independent(harness):
    """Two role instances on one host: the second is added next to the first in one play (the first
    converge of both), then a change to the second never touches the first one's master or workers
    (no shared handler topics), and each serves on its own port."""
    two_apps = "molecule/zero_downtime/two_apps.yml"
    play_under_load(harness, lambda: harness.play(playbook=two_apps))
    before = harness.state()
    b_before = harness.state("app_b", 8001)

    _, report = play_under_load(harness, lambda: harness.play({"fastapi_gunicorn_test_app_b_keepalive": 80}, playbook=two_apps))
    after = harness.state()
    assert (after["main_pid"], after["workers"]) == (before["main_pid"], before["workers"]), report
    b_after = harness.state("app_b", 8001)
    assert b_after["main_pid"] == b_before["main_pid"] and not set(b_after["workers"]) & set(b_before["workers"]), report
    assert docker_exec(CONTAINER, "grep", "-x", "keepalive = 80", "/etc/app_b/gunicorn_conf.py").returncode == 0
