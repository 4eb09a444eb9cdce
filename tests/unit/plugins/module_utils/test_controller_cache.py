"""The controller's caches: a directory is pruned only once it is proven to be the cache's own."""

from __future__ import annotations

import os
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


def test_prune_keeps_the_newest_and_removes_only_the_caches_entries(tmp_path):
    controller_cache.claim(str(tmp_path), ARCHIVE)
    names = ["%012x.tar" % number for number in range(4)]
    for age, name in enumerate(reversed(names)):
        (tmp_path / name).write_text("")
        os.utime(tmp_path / name, (time.time() - 100 + age, time.time() - 100 + age))
    (tmp_path / "kept-by-someone.txt").write_text("")
    controller_cache.prune(str(tmp_path), ARCHIVE, keep=2)
    assert sorted(os.listdir(tmp_path)) == sorted([controller_cache.MARKER, "kept-by-someone.txt"] + names[:2])


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
