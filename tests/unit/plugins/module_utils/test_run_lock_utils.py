"""The run lock: taken whole, waited for, given back only by its owner, taken over only when its run is gone."""

from __future__ import annotations

import os

import pytest
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils import run_lock


@pytest.fixture
def lock(tmp_path):
    directory = tmp_path / "locks"
    return str(directory / "app.lock")


def test_take_and_give_back_count_generations(lock):
    first = run_lock.take(lock, "controller=c pid=1 start=9", "", 0)
    assert first["taken"] and first["generation"] == 0 and first["owner"] == "controller=c pid=1 start=9"
    assert open(lock).read() == "controller=c pid=1 start=9\n" and oct(os.stat(os.path.dirname(lock)).st_mode & 0o777) == "0o700"
    assert run_lock.generation(lock) == 1
    assert not run_lock.give_back(lock, "controller=c pid=2 start=9") and os.path.exists(lock)
    assert run_lock.give_back(lock, "controller=c pid=1 start=9") and not os.path.exists(lock)
    assert run_lock.generation(lock) == 2
    assert run_lock.take(lock, "controller=c pid=3 start=9", "", 0)["generation"] == 2
    # The full line (with since=) gives it back too.
    assert run_lock.give_back(lock, "controller=c pid=3 start=9") and not os.path.exists(lock)


def test_a_held_lock_is_waited_for_then_named_printable(lock):
    run_lock.take(lock, "controller=c pid=1 start=9 note=\x1b[31mred", "", 0)
    held = run_lock.take(lock, "controller=c pid=2 start=9", "", 1)
    assert not held["taken"] and held["held_by"] == "controller=c pid=1 start=9 note=\\x1b[31mred", held
    assert open(lock).read().startswith("controller=c pid=1 "), "a waiting run changed the lock"
    assert not [n for n in os.listdir(os.path.dirname(lock)) if n.endswith(".draft")], "a draft was left"


def test_a_stale_lock_is_taken_over_and_another_is_not(lock):
    run_lock.take(lock, "controller=c pid=1 start=9", "", 0)
    assert not run_lock.take(lock, "controller=c pid=2 start=9", "controller=c pid=9 start=9", 0)["taken"]
    taken = run_lock.take(lock, "controller=c pid=2 start=9", "controller=c pid=1 start=9", 0)
    assert taken["taken"] and taken["took_over"] == "controller=c pid=1 start=9"


def test_an_empty_lock_is_debris_and_is_taken_over(lock):
    os.makedirs(os.path.dirname(lock), mode=0o700)
    open(lock, "w").close()
    taken = run_lock.take(lock, "controller=c pid=2 start=9", "", 0)
    assert taken["taken"] and taken["took_over"] == run_lock.EMPTY


def test_runs_that_find_the_same_stale_lock_do_not_both_take_it(lock):
    stale = "controller=c pid=2 start=9 since=x"
    os.makedirs(os.path.dirname(lock), mode=0o700)
    with open(lock, "w") as out:
        out.write(stale + "\n")
    with open(lock) as late:  # a second run opened the stale lock before the first replaced it
        first = run_lock.take(lock, "controller=c pid=3 start=9", stale, 0)
        assert first["taken"] and first["took_over"] == stale
        assert not run_lock.remove_if_stale(lock, stale, 0), late
    assert open(lock).read() == "controller=c pid=3 start=9\n"
    assert not run_lock.take(lock, "controller=c pid=4 start=9", stale, 0)["taken"]


def test_a_lock_directory_others_may_write_is_refused(tmp_path):
    directory = tmp_path / "open"
    directory.mkdir(mode=0o777)
    os.chmod(directory, 0o1777)
    with pytest.raises(run_lock.NotRootOnly):
        run_lock.take(str(directory / "app.lock"), "controller=c pid=1 start=9", "", 0)
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(run_lock.NotRootOnly):
        run_lock.take(str(tmp_path / "link" / "app.lock"), "controller=c pid=1 start=9", "", 0)
