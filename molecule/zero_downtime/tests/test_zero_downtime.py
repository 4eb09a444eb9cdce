"""Every change path under load fails no request; bad changes leave the live service as it was.

Each case applies one change through the real role while tests/loadgen.py sends requests inside
the container (keep-alive on, and off for a code reload and a restart), then checks the load
summary, the play's outcome, and the host before and after.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from changepaths import PATHS, Harness  # noqa: E402
from harness import VERSIONS  # noqa: E402

CASES = [(p, True) for p in PATHS] + [(p, False) for p in PATHS if p.name in ("code", "dependencies")]
# What a failed play must say, so the operator knows why and what state the host is in.
MESSAGES = {
    "broken_import": ["module_that_does_not_exist"],
    "failing_health": ["answered 503", "Rolled back to release"],
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
