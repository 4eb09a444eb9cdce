"""The run_lock module takes and gives back the lock, and a dry run does neither."""

from __future__ import annotations

import os

from ansible_collections.fastapi_gunicorn.deploy.plugins.modules import run_lock


def test_take_wait_and_give_back(run_module, tmp_path):
    lock = str(tmp_path / "locks" / "app.lock")
    spec = {"path": lock, "owner": "controller=c pid=2 start=9"}
    dry = run_module(run_lock.main, spec, check=True)
    assert not dry["taken"] and not os.path.exists(lock), "a dry run took the lock"
    taken = run_module(run_lock.main, dict(spec, owner=spec["owner"] + " since=now"))
    assert taken["taken"] and not taken["changed"] and taken["generation"] == 0 and taken["owner"].endswith("since=now")
    held = run_module(run_lock.main, {"path": lock, "owner": "controller=c pid=3 start=9", "timeout": 1})
    assert not held["taken"] and held["held_by"] == "controller=c pid=2 start=9 since=now", held
    other = run_module(run_lock.main, {"path": lock, "owner": "controller=c pid=3 start=9", "state": "absent"})
    assert not other["released"] and os.path.exists(lock)
    dry = run_module(run_lock.main, dict(taken_owner := {"path": lock, "owner": taken["owner"], "state": "absent"}), check=True)
    assert not dry["released"] and os.path.exists(lock)
    given = run_module(run_lock.main, taken_owner)
    assert given["released"] and not os.path.exists(lock)


def test_an_owner_of_two_lines_is_refused(run_module, tmp_path):
    result = run_module(run_lock.main, {"path": str(tmp_path / "l" / "a.lock"), "owner": "a\nb"})
    assert result.get("failed") and "one line" in result["msg"]
