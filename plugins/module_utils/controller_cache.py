# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""The controller's cache of unpacked sources: each entry made once, renamed into place, the newest kept."""

from __future__ import annotations

import os
import re
import shutil
import tempfile

KEEP = 20
# In every directory the collection prunes: proof that it holds the cache's entries and nothing else.
MARKER = ".fastapi_gunicorn-cache"
# Work in progress, renamed into place when whole.
WORK = re.compile(r"\.(work|download)-.*")


class NotACacheError(Exception):
    pass


def claim(directory, entries):
    """Make `directory` a cache of entries named by the regular expression `entries`, or check that it
    is one: it holds the marker, or nothing but such entries and work. The collection prunes what it
    claims, so a directory with other files (a home directory, /tmp) is refused."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    marker = os.path.join(directory, MARKER)
    if os.path.isfile(marker) and not os.path.islink(marker):
        return directory
    foreign = [name for name in os.listdir(directory) if not re.fullmatch(entries, name) and not WORK.fullmatch(name)]
    if foreign:
        raise NotACacheError("%s holds files the fastapi_gunicorn collection did not put there (%s); name a directory of "
                             "its own, which it prunes to its newest entries" % (directory, ", ".join(sorted(foreign)[:3])))
    with open(marker, "w") as handle:
        handle.write("A cache of the fastapi_gunicorn.deploy collection, which prunes it to its newest entries.\n")
    return directory


def prune(directory, entries, keep=KEEP):
    """Remove all but the `keep` most recently used entries (named by `entries`) of `directory`."""
    claim(directory, entries)
    found = sorted((os.path.join(directory, name) for name in os.listdir(directory) if re.fullmatch(entries, name)),
                   key=os.path.getmtime, reverse=True)
    for old in found[keep:]:
        shutil.rmtree(old, ignore_errors=True) if os.path.isdir(old) and not os.path.islink(old) else os.unlink(old)


def cached_tree(directory, name, make):
    """`directory/name` (a hex digest), made once: make(work) fills a fresh work directory and returns the
    directory (work or one inside it) that becomes the entry. Marked as used, then the cache is pruned."""
    tree = os.path.join(directory, name)
    claim(directory, HEX)
    if not os.path.isdir(tree):
        work = tempfile.mkdtemp(dir=directory, prefix=".work-")
        try:
            os.rename(make(work), tree)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    os.utime(tree)
    prune(directory, HEX)
    return tree


# The name of a tree: the commit or checksum it holds.
HEX = r"[0-9a-f]{40,64}"
