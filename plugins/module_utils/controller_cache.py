# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""The controller's caches: each entry made once, renamed into place, the most recently used kept.

Several runs on one controller share a cache. An entry a run has just used stays for IN_USE seconds
whatever else is made meanwhile, since the run goes on to use it (an archive is sent to the hosts
later in the play); marking an entry used and pruning take the cache's lock, so a prune never removes
an entry between another run's finding it and marking it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
import time

KEEP = 20
IN_USE = 3600
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


@contextlib.contextmanager
def _locked(directory, operation):
    """The cache's lock (on its marker, which claim() made): shared to mark an entry, exclusive to prune."""
    with open(os.path.join(directory, MARKER), "rb") as marker:
        fcntl.flock(marker, operation)
        yield


def touch(path):
    """Mark the entry `path` as used now, which keeps it for IN_USE seconds: True, or False when there
    is none (never made, or pruned): the caller makes it then."""
    with _locked(os.path.dirname(path), fcntl.LOCK_SH):
        try:
            os.utime(path)
        except FileNotFoundError:
            return False
    return True


def prune(directory, entries, keep=KEEP):
    """Remove the entries (named by `entries`) of `directory` beyond the `keep` most recently used,
    except those used in the last IN_USE seconds."""
    claim(directory, entries)
    recent = time.time() - IN_USE
    with _locked(directory, fcntl.LOCK_EX):
        found = [(os.lstat(path).st_mtime, path) for path in (os.path.join(directory, name) for name in os.listdir(directory))
                 if re.fullmatch(entries, os.path.basename(path))]
        for used, old in sorted(found, reverse=True)[keep:]:
            if used < recent:
                shutil.rmtree(old, ignore_errors=True) if os.path.isdir(old) and not os.path.islink(old) else os.unlink(old)


def cached_tree(directory, name, make):
    """`directory/name` (a hex digest), made once: make(work) fills a fresh work directory and returns the
    directory (work or one inside it) that becomes the entry. Marked as used, then the cache is pruned."""
    tree = os.path.join(directory, name)
    claim(directory, HEX)
    if not touch(tree):
        work = tempfile.mkdtemp(dir=directory, prefix=".work-")
        try:
            os.rename(make(work), tree)
        except OSError:
            if not touch(tree):  # unless another run made it meanwhile: that one serves
                raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    prune(directory, HEX)
    return tree


# The name of a tree: the commit or checksum it holds.
HEX = r"[0-9a-f]{40,64}"
