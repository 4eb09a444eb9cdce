# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""The controller's cache of unpacked sources: each entry made once, renamed into place, the newest kept."""

from __future__ import annotations

import os
import shutil
import tempfile

KEEP = 20


def prune(directory, keep=KEEP):
    """Remove all but the `keep` most recently used entries of `directory` (names starting with '.' are work)."""
    entries = sorted((os.path.join(directory, n) for n in os.listdir(directory) if not n.startswith(".")), key=os.path.getmtime, reverse=True)
    for old in entries[keep:]:
        shutil.rmtree(old, ignore_errors=True) if os.path.isdir(old) else os.unlink(old)


def cached_tree(directory, name, make):
    """`directory/name`, made once: make(work) fills a fresh work directory and returns the directory
    (work or one inside it) that becomes the entry. Marked as used, then the cache is pruned."""
    tree = os.path.join(directory, name)
    if not os.path.isdir(tree):
        os.makedirs(directory, exist_ok=True)
        work = tempfile.mkdtemp(dir=directory, prefix=".work-")
        try:
            os.rename(make(work), tree)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    os.utime(tree)
    prune(directory)
    return tree
