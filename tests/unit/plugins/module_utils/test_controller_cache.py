"""The controller's caches: a directory is pruned only once it is proven to be the cache's own."""

from __future__ import annotations

import fcntl
import os
import threading
import time

import pytest
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils import controller_cache

ARCHIVE = r"[0-9a-f]{12}\.tar"


def test_a_new_or_empty_directory_is_claimed(tmp_path):
    new = tmp_path / "new" / "wheelhouses"
    assert controller_cache.claim(str(new), ARCHIVE) == str(new)
    assert (new / controller_cache.MARKER).is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    controller_cache.claim(str(empty), ARCHIVE)
    assert (empty / controller_cache.MARKER).is_file()


def test_a_directory_of_the_caches_own_entries_is_claimed(tmp_path):
    (tmp_path / "0123456789ab.tar").write_text("")
    (tmp_path / ".work-x1").mkdir()
    controller_cache.claim(str(tmp_path), ARCHIVE)
    assert (tmp_path / controller_cache.MARKER).is_file()


@pytest.mark.parametrize("other", [".bashrc", "notes.txt", "0123456789ab.tar.gz"])
def test_a_directory_with_other_files_is_refused_and_left_alone(tmp_path, other):
    (tmp_path / other).write_text("mine")
    with pytest.raises(controller_cache.NotACacheError, match=other.replace(".", r"\.")):
        controller_cache.prune(str(tmp_path), ARCHIVE, keep=0)
    assert sorted(os.listdir(tmp_path)) == [other]


def used(path, seconds_ago):
    os.utime(path, (time.time() - seconds_ago, time.time() - seconds_ago))


def test_prune_keeps_the_most_recently_used_and_removes_only_the_caches_entries(tmp_path):
    controller_cache.claim(str(tmp_path), ARCHIVE)
    names = ["%012x.tar" % number for number in range(4)]
    for age, name in enumerate(names):
        (tmp_path / name).write_text("")
        used(tmp_path / name, controller_cache.IN_USE + 100 + age)
    (tmp_path / "kept-by-someone.txt").write_text("")
    controller_cache.prune(str(tmp_path), ARCHIVE, keep=2)
    assert sorted(os.listdir(tmp_path)) == sorted([controller_cache.MARKER, "kept-by-someone.txt"] + names[:2])


def test_prune_keeps_entries_used_in_the_last_hour_beyond_the_newest(tmp_path):
    """Another run on the controller may still need what it used: it sends an archive to its hosts later."""
    controller_cache.claim(str(tmp_path), ARCHIVE)
    names = ["%012x.tar" % number for number in range(4)]
    for age, name in zip((10, 20, controller_cache.IN_USE - 60, controller_cache.IN_USE + 60), names):
        (tmp_path / name).write_text("")
        used(tmp_path / name, age)
    controller_cache.prune(str(tmp_path), ARCHIVE, keep=1)
    assert sorted(os.listdir(tmp_path)) == sorted([controller_cache.MARKER] + names[:3])


def test_touch_marks_an_entry_used_or_says_there_is_none(tmp_path):
    controller_cache.claim(str(tmp_path), ARCHIVE)
    entry = tmp_path / "0123456789ab.tar"
    assert controller_cache.touch(str(entry)) is False
    entry.write_text("")
    used(entry, controller_cache.IN_USE + 100)
    assert controller_cache.touch(str(entry)) is True
    assert time.time() - entry.stat().st_mtime < 60


def test_prune_waits_while_another_run_marks_an_entry(tmp_path):
    """Marking holds the cache's lock shared, pruning exclusive: a prune never removes an entry that
    another run found and is marking."""
    controller_cache.claim(str(tmp_path), ARCHIVE)
    entry = tmp_path / "0123456789ab.tar"
    entry.write_text("")
    used(entry, controller_cache.IN_USE + 100)
    pruner = threading.Thread(target=controller_cache.prune, args=(str(tmp_path), ARCHIVE), kwargs={"keep": 0})
    with open(tmp_path / controller_cache.MARKER, "rb") as marker:
        fcntl.flock(marker, fcntl.LOCK_SH)
        pruner.start()
        pruner.join(0.3)
        assert pruner.is_alive() and entry.exists()
        os.utime(entry)  # what touch() does under this lock
    pruner.join(10)
    assert not pruner.is_alive() and entry.exists()


def test_cached_tree_is_made_once_and_renamed_into_place(tmp_path):
    calls = []

    def make(work):
        calls.append(work)
        os.mkdir(os.path.join(work, "tree"))
        open(os.path.join(work, "tree", "main.py"), "w").close()
        return os.path.join(work, "tree")

    name = "a" * 40
    first = controller_cache.cached_tree(str(tmp_path / "trees"), name, make)
    second = controller_cache.cached_tree(str(tmp_path / "trees"), name, make)
    assert first == second == str(tmp_path / "trees" / name) and len(calls) == 1
    assert os.listdir(first) == ["main.py"]
    assert sorted(os.listdir(tmp_path / "trees")) == [controller_cache.MARKER, name]


def test_cached_tree_made_meanwhile_by_another_run_serves(tmp_path):
    name = "b" * 40
    trees = tmp_path / "trees"

    def make(work):
        os.makedirs(trees / name / "theirs")  # another run renamed its tree into place first
        os.mkdir(os.path.join(work, "tree"))
        open(os.path.join(work, "tree", "mine.py"), "w").close()
        return os.path.join(work, "tree")

    tree = controller_cache.cached_tree(str(trees), name, make)
    assert tree == str(trees / name) and os.listdir(tree) == ["theirs"]
    assert sorted(os.listdir(trees)) == [controller_cache.MARKER, name]
