"""Every change path under load fails no request; bad changes leave the live service as it was.

Each case applies one change through the real role, on the Debian 12 and the Debian 13 host at
once, while tests/loadgen.py sends requests inside each container (keep-alive on, and off for a
code reload and a restart), then checks each host's load summary, the play's outcome, and each
host before and after.
"""

import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from changepaths import BASE, PATHS, Harness  # noqa: E402
from harness import VERSIONS, Load, StreamedRun, check_load, check_loads, docker_exec, during_all  # noqa: E402

# failing_health and rollback run in test_failed_deploys_in_a_row_keep_the_last_healthy_state, three
# failures and a rollback.yml under load.
COVERED_BELOW = ("failing_health", "rollback")
CASES = [(p, True) for p in PATHS if p.name not in COVERED_BELOW] + [(p, False) for p in PATHS if p.name in ("code", "dependencies")]
# What built the venv the path makes live.
INSTALLER = {"dependencies": "uv", "dependencies_pip": "pip"}
# What a failed play must say, so the operator knows why and what state the host is in.
MESSAGES = {
    "broken_import": ["module_that_does_not_exist"],
    "failing_install": ["Building the virtualenv", "the running service is untouched"],
    "tampered_lock": ["Building the virtualenv", "the running service is untouched", "fastapi"],
    "failing_pre_switch": ["failed its check before the switch (Import the new release", "pre-switch check refused release"],
    "failing_post_switch": ["Check the answer", "smoke test: release", "Rolled back to state"],
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
    loads = {c: h["load"] for c, h in result["hosts"].items()}
    report = f"{path.name}: load={loads} play rc={result['rc']}\n{result['output'][-4000:]}"

    if path.expect_ok:
        assert result["rc"] == 0, report
    else:
        assert result["rc"] != 0, report
    for message in MESSAGES.get(path.name, []):
        assert message in result["output"], report
    for container, host in result["hosts"].items():
        load, before, after = host["load"], host["before"], host["after"]
        on_host = f"{container}: {report}"
        assert load["sent"] > 1000, on_host  # the load really ran through the change
        assert load["failed"] == 0, on_host
        assert after["version"] == VERSIONS[path.expect_release], on_host
        assert after["current"].endswith("/" + after["release"]), on_host
        if path.expect_new_master:
            assert after["main_pid"] != before["main_pid"], on_host
        elif path.expect_ok:
            assert after["main_pid"] == before["main_pid"], f"a HUP keeps the master\n{on_host}"
        if not path.expect_ok:
            # Nothing live moved: same release, same master.
            assert (after["current"], after["main_pid"]) == (before["current"], before["main_pid"]), on_host
        # Given back, whether the run succeeded or failed, and whichever call gave it back.
        assert docker_exec(container, "test", "-e", LOCK, check=False).returncode != 0, f"the run left its lock\n{on_host}"
        if path.name in INSTALLER:
            assert harness.installer(container) == INSTALLER[path.name], on_host
        if path.name == "constraints":
            packages = docker_exec(container, "sh", "-c", f"ls {after['venv']}/lib/python3*/site-packages").stdout.split()
            assert "python_dotenv-1.0.1.dist-info" in packages, on_host
        if path.name == "python":
            # The live venv runs the archive's interpreter, unpacked where its checksum names it; before, the system one.
            assert re.fullmatch(rf"{BASE}/pythons/[0-9a-f]{{12}}/bin/python3\.13", after["python"]), on_host
            assert re.fullmatch(r"/usr/bin/python3\.1[13]", before["python"]), on_host
        if path.name in ("hash_locked", "uv_lock"):
            # Installed from the lock alone, in --require-hashes mode: every line carries its hashes.
            lock = docker_exec(container, "cat", f"{after['venv']}/requirements.txt").stdout  # kept: the restore made a newer state
            assert "prometheus-client==0.26.0" in lock and lock.count("--hash=sha256:") > 20, on_host
        worker = dict(line.split("=", 1) for line in docker_exec(
            container, "systemctl", "show", "--property", "LoadState,ActiveState,WorkingDirectory", "fastapi_app-worker.service").stdout.split())
        if path.name == "companions":
            assert worker == {"LoadState": "loaded", "ActiveState": "active", "WorkingDirectory": f"{BASE}/releases/{after['release']}"}, on_host
        if path.name == "switch_tasks":
            # The state without the companion stopped it and removed its unit.
            assert (worker["LoadState"], worker["ActiveState"]) == ("not-found", "inactive"), on_host
            # The pre-switch command ran as the service user, in the new release and its venv.
            last = docker_exec(container, "tail", "-n1", "/var/lib/fastapi_app/pre_switch.log").stdout.split()
            uid = docker_exec(container, "id", "-u", "fastapi_app").stdout.strip()
            assert last == [after["release"], after["version"], uid, f"{BASE}/releases/{after['release']}", last[4]], on_host
            assert last[4].startswith(f"{BASE}/venvs/"), on_host
    assert result["restore_rc"] == 0, result["restore_output"]


# --- Beyond the change table: failures in a row, interrupted and concurrent runs, tags, two apps ---

LOCK = "/run/fastapi_gunicorn/fastapi_app.lock"
CONF = "/etc/fastapi_app/gunicorn_conf.py"


def recaps(output):
    """The PLAY RECAP counts of each host."""
    found = re.findall(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.M)
    assert found, output[-3000:]
    return {host: {"ok": int(ok), "changed": int(changed), "failed": int(failed)} for host, ok, changed, _unreachable, failed in found}


def conf_settings(harness, name):
    """A setting's value in each host's gunicorn_conf.py (a set: one value when the hosts agree)."""
    lines = {docker_exec(c, "grep", f"^{name} = ", CONF).stdout.strip() for c in harness.containers}
    return {line.split(" = ", 1)[1] for line in lines}


def play_under_load(harness, action, ok=True):
    """Run one play (action()) under load: no request may fail, and the play must succeed (or fail)."""
    measured, play = harness.during(action)
    report = play.stdout[-4000:]
    check_loads(measured, report, 500)
    assert (play.returncode == 0) == ok, report
    return play, report


def test_failed_deploys_in_a_row_keep_the_last_healthy_state(harness):
    """keep_releases 2, three releases in a row that fail their health gate: each is rolled back to
    the last healthy state, nothing a rollback needs is pruned, and rollback.yml still works."""
    keep = {"fastapi_gunicorn_keep_releases": 2}
    assert harness.play({"app": "v2", **keep}).returncode == 0
    healthy = harness.states()
    for container, state in healthy.items():
        assert len(state["states"]) == 2, (container, state)
        # The interpreter the python path unpacked went with the last kept state whose venv used it.
        assert docker_exec(container, "ls", "-A", f"{BASE}/pythons").stdout.split() == [], container

    def attempts():
        return [harness.play({"app": "failing_health", "fastapi_gunicorn_release_id": f"fail-{i}",
                              "fastapi_gunicorn_health_retries": 5, **keep}) for i in (1, 2, 3)]

    measured, runs = harness.during(attempts)
    for run in runs:
        report = run.stdout[-4000:]
        assert run.returncode != 0, report
        assert "answered 503" in run.stdout, report
        for state in healthy.values():
            assert "Rolled back to state " + state["states"][0] in run.stdout, report
    check_loads(measured, runs[-1].stdout[-3000:], 500)
    for container, after in harness.states().items():
        for key in ("release", "current", "states", "main_pid"):
            assert after[key] == healthy[container][key], (container, key, after, healthy[container])

    rollback, report = play_under_load(harness, lambda: harness.play(keep, playbook="playbooks/rollback.yml"))
    assert lock_given_back_after_record(rollback.stdout, harness.containers), f"the rollback did not give back the lock after its record\n{report}"
    for container, rolled in harness.states().items():
        assert rolled["version"] == VERSIONS["v1"], (container, rolled)
        assert rolled["states"] == [healthy[container]["states"][1], healthy[container]["states"][0]], (container, rolled)
        # The failed attempts are pruned once a change passes; what the kept states use stays.
        assert sorted(docker_exec(container, "ls", f"{BASE}/releases").stdout.split()) == sorted(rolled["releases"]), container
        # rollback.yml gave its lock back in the call that recorded the state it went back to.
        assert docker_exec(container, "test", "-e", LOCK, check=False).returncode != 0, container


def test_check_mode_with_an_interpreter_still_to_unpack_changes_nothing(harness):
    """--check with an interpreter archive no host has (the one of the python path was pruned above):
    the run reports what it would change and changes nothing, without stopping at the interpreter."""
    before = harness.states()
    play = harness.play({"python": True}, check=True)
    report = play.stdout[-4000:]
    assert play.returncode == 0, report
    for container in harness.containers:
        assert re.search(rf"^{container}\s*:.*changed=[1-9]", play.stdout, re.M), report
        assert docker_exec(container, "ls", "-A", f"{BASE}/pythons").stdout.split() == [], container
    assert harness.states() == before, report


def test_interrupted_run_converges_when_run_again(harness):
    """A run killed after `current` moved and before the reload: the old workers still serve the old
    code. Run again, the role takes over the dead run's lock and makes the master serve the new release."""
    assert harness.play().returncode == 0  # the base state: from it, v2 is a code change (a HUP)
    before = harness.states()
    killed = StreamedRun(harness.inventory, "molecule/zero_downtime/change.yml", harness.extra_vars({"app": "v2"}),
                         stop_at="fastapi_gunicorn.deploy.fastapi_gunicorn : Work out what the change needs").wait()
    assert killed.stopped, killed.stdout[-3000:]
    between = harness.states()
    for container in harness.containers:
        assert between[container]["current"] != before[container]["current"], (container, between)
        for key in ("release", "workers", "states", "main_pid"):
            assert between[container][key] == before[container][key], (container, key, between, before)
        assert docker_exec(container, "test", "-e", LOCK, check=False).returncode == 0, f"{container}: the killed run left its lock"

    play, report = play_under_load(harness, lambda: harness.play({"app": "v2"}))
    assert play.stdout.count("took over") >= len(harness.containers), report
    for container, after in harness.states().items():
        was, moved = before[container], between[container]
        assert after["version"] == VERSIONS["v2"] and after["current"] == moved["current"], (container, after)
        assert after["main_pid"] == was["main_pid"] and not set(after["workers"]) & set(was["workers"]), (container, after)
        assert after["states"][0] != was["states"][0], (container, after)


UNLOCK = "TASK [fastapi_gunicorn.deploy.fastapi_gunicorn : Give back the lock of fastapi_app]"
RECORD = "TASK [fastapi_gunicorn.deploy.fastapi_gunicorn : Record the live healthy state"


def lock_given_back_after_record(stdout, hosts):
    """Each host recorded its state, then gave the lock back in a later step (in its own batch)."""
    tasks = ["TASK [" + chunk for chunk in stdout.split("TASK [")[1:]]

    def given_back(host):
        recorded = [i for i, task in enumerate(tasks) if task.startswith(RECORD) and f"changed: [{host}]" in task]
        return bool(recorded) and any(task.startswith(UNLOCK) and f"ok: [{host}]" in task for task in tasks[recorded[-1]:])

    return all(given_back(host) for host in hosts)


def wait_for_lock(harness, timeout=120):
    """Until every host holds the lock."""
    deadline = time.monotonic() + timeout
    while any(docker_exec(c, "test", "-e", LOCK, check=False).returncode != 0 for c in harness.containers):
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.2)


def test_concurrent_runs_do_not_interleave(harness):
    """A second run against the same service waits for the first one's lock; with no time to wait,
    it fails naming the holder and changes nothing."""
    change = "molecule/zero_downtime/change.yml"
    # Settings no earlier run used, so each run below makes a state new to the record.
    keepalive = 100 + int(time.time()) % 800

    def two_runs():
        first = StreamedRun(harness.inventory, change, harness.extra_vars({"fastapi_gunicorn_keepalive": keepalive}))
        wait_for_lock(harness)
        second = StreamedRun(harness.inventory, change, harness.extra_vars({"fastapi_gunicorn_keepalive": keepalive + 1}))
        return first.wait(), second.wait()

    before = harness.states()
    measured, (first, second) = harness.during(two_runs)
    report = f"first:\n{first.stdout[-3000:]}\nsecond:\n{second.stdout[-3000:]}"
    check_loads(measured, report, 500)
    assert first.returncode == 0 and second.returncode == 0, report
    # The second run planned again under the lock, from the record the first one wrote: both new
    # states are kept, the second's live and the first's next (a plan from before would drop it).
    for container, state in harness.states().items():
        assert len(state["states"]) >= 2 and not set(state["states"][:2]) & set(before[container]["states"]), (state, report)
    # The second run went past its lock only after the first gave the lock back, in the step after its record.
    released = first.first(UNLOCK)
    assert lock_given_back_after_record(first.stdout, harness.containers), report
    assert second.first("TASK [fastapi_gunicorn.deploy.fastapi_gunicorn : Stop when another run holds the lock]") > released, report
    assert conf_settings(harness, "keepalive") == {str(keepalive + 1)}

    def impatient():
        # A run with something to change takes the lock (a host with nothing to change is left alone).
        first = StreamedRun(harness.inventory, change, harness.extra_vars({"fastapi_gunicorn_keepalive": keepalive + 2}))
        wait_for_lock(harness)
        second = harness.play({"fastapi_gunicorn_keepalive": keepalive + 3, "fastapi_gunicorn_lock_timeout": 0})
        return first.wait(), second

    measured, (first, second) = harness.during(impatient)
    report = f"first:\n{first.stdout[-3000:]}\nsecond:\n{second.stdout[-3000:]}"
    check_loads(measured, report, 500)
    assert first.returncode == 0, report
    assert second.returncode != 0 and second.stdout.count("holds the lock of fastapi_app") >= len(harness.containers), report
    assert all(counts["changed"] == 0 for counts in recaps(second.stdout).values()), report
    assert conf_settings(harness, "keepalive") == {str(keepalive + 2)}


def test_each_tag_works_alone(harness):
    """Every documented tag, alone, on the converged host: install changes nothing, deploy applies a
    config change (HUP: same master, new workers) and health-gates it, run checks the service."""
    before = harness.states()

    def by_tag():
        return {
            "install": harness.play(tags="fastapi_gunicorn_install"),
            "deploy": harness.play({"fastapi_gunicorn_keepalive": 9}, tags="fastapi_gunicorn_deploy"),
            "run": harness.play({"fastapi_gunicorn_keepalive": 9}, tags="fastapi_gunicorn_run"),
        }

    measured, runs = harness.during(by_tag)
    report = "\n".join(f"--- {tag}\n{run.stdout[-2500:]}" for tag, run in runs.items())
    check_loads(measured, report, 500)
    for tag, run in runs.items():
        assert run.returncode == 0, f"{tag}\n{report}"
    for tag in ("install", "run"):
        assert all(counts["changed"] == 0 for counts in recaps(runs[tag].stdout).values()), report
    assert conf_settings(harness, "keepalive") == {"9"}
    for container, after in harness.states().items():
        was = before[container]
        assert after["main_pid"] == was["main_pid"] and not set(after["workers"]) & set(was["workers"]), (container, after)
        assert after["states"][0] != was["states"][0], (container, after)


def test_two_apps_on_one_host_stay_independent(harness):
    """Two role instances on one host: the second is added next to the first in one play (the first
    converge of both), then a change to the second never touches the first one's master or workers
    (no shared handler topics), and each serves on its own port."""
    two_apps = "molecule/zero_downtime/two_apps.yml"
    play_under_load(harness, lambda: harness.play(playbook=two_apps))
    before = harness.states()
    b_before = harness.states("app_b", 8001)

    _play, report = play_under_load(harness, lambda: harness.play({"fastapi_gunicorn_test_app_b_keepalive": 80}, playbook=two_apps))
    after = harness.states()
    b_after = harness.states("app_b", 8001)
    for c in harness.containers:
        assert (after[c]["main_pid"], after[c]["workers"]) == (before[c]["main_pid"], before[c]["workers"]), f"{c}\n{report}"
        assert b_after[c]["main_pid"] == b_before[c]["main_pid"] and not set(b_after[c]["workers"]) & set(b_before[c]["workers"]), report
        assert docker_exec(c, "grep", "-x", "keepalive = 80", "/etc/app_b/gunicorn_conf.py").returncode == 0, c


def test_a_notified_handler_signals_its_own_service_only(harness):
    """A user's task notifies app_b's handlers (two role instances on one host, each with its own): the
    graceful reload replaces app_b's workers under its master, the restart gives it a new master, and
    fastapi_app's master and workers stay as they were. Both services under load: no request fails."""
    two_apps = "molecule/zero_downtime/two_apps.yml"
    loads = harness.loads[True] + [Load(c, port=8001, name=f"{c}:8001") for c in harness.containers]
    for signal in ("reload", "restart"):
        before, b_before = harness.states(), harness.states("app_b", 8001)
        measured, play = during_all(loads, lambda: harness.play({"fastapi_gunicorn_test_signal": signal}, playbook=two_apps))
        report = play.stdout[-4000:]
        assert play.returncode == 0, report
        assert f"RUNNING HANDLER [fastapi_gunicorn.deploy.fastapi_gunicorn : {signal.capitalize()} the fastapi_gunicorn service app_b]" in play.stdout
        assert "the fastapi_gunicorn service fastapi_app]" not in play.stdout, report
        assert len(measured) == 2 * len(harness.containers), measured.keys()
        for name, load in measured.items():
            check_load(load, f"{name}: {report}", 200)
        after, b_after = harness.states(), harness.states("app_b", 8001)
        for c in harness.containers:
            assert (after[c]["main_pid"], after[c]["workers"]) == (before[c]["main_pid"], before[c]["workers"]), f"{c}\n{report}"
            assert not set(b_after[c]["workers"]) & set(b_before[c]["workers"]), (c, signal, report)
            assert (b_after[c]["main_pid"] == b_before[c]["main_pid"]) == (signal == "reload"), (c, signal, report)
