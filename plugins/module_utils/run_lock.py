# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""The run lock of a service on the host, in a directory only root may write.

The lock is a file created with O_EXCL that holds its owner's line. Beside it a generation counter
goes up each time the lock is taken or given back, so a run that read the host before it took the
lock can tell whether any run held the lock in between (and so whether its read still stands)."""

from __future__ import annotations

import fcntl
import os
import stat
import time

POLL = 0.25
EMPTY = "(an empty lock file)"


class NotRootOnly(Exception):
    """The lock directory is not a directory that only root may write."""


def printable(text, limit=300):
    """A lock's content as one printable line: anything else is shown as an escape."""
    shown = "".join(c if c.isprintable() else "\\x%02x" % ord(c) if ord(c) < 256 else "\\u%04x" % ord(c) for c in text.strip())
    return shown[:limit] + ("..." if len(shown) > limit else "")


def ensure_directory(path):
    """Make the lock directory (root, 0700) or check that the one there is root's alone."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise NotRootOnly("%s must be a directory that only root may write (owner uid %d, mode %04o)"
                          % (path, info.st_uid, stat.S_IMODE(info.st_mode)))


def generation_path(path):
    return path + ".generation"


def generation(path):
    """How many times the lock at `path` was taken or given back (0 when never)."""
    try:
        with open(generation_path(path), encoding="ascii") as handle:
            return int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _bump(path):
    """Count one more taking or giving back; only the holder calls it."""
    value = generation(path) + 1
    temporary = generation_path(path) + ".new"
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(handle, "w") as out:
        out.write("%d\n" % value)
    os.rename(temporary, generation_path(path))


def held_by(path):
    """The lock's content, or '' when there is no lock."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return ""
    with os.fdopen(handle, encoding="utf-8", errors="replace") as lock:
        return lock.read().strip()


def take(path, owner, stale, timeout):
    """Create the lock with O_EXCL, waiting up to `timeout` seconds for its holder. A lock whose content
    is `stale` (a run known to be gone) is removed first. Returns taken, held_by (printable), took_over
    and generation: the counter's value before this run took the lock."""
    ensure_directory(os.path.dirname(path))
    result = {"taken": False, "held_by": "", "took_over": "", "generation": generation(path), "owner": owner.strip()}
    deadline = time.monotonic() + max(timeout, 0)
    # A lock is never empty when a run made it (it is linked into place whole): an empty one is debris.
    for gone in filter(None, [stale, "" if held_by(path) or not os.path.lexists(path) else EMPTY]):
        if remove_if_stale(path, gone, deadline):
            result["took_over"] = printable(gone)
    # Written whole under a name of this process, then linked to the lock's name: the lock appears with
    # its owner in it, or not at all (link fails when the name exists).
    draft = "%s.%d.draft" % (path, os.getpid())
    handle = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(handle, "w", encoding="utf-8") as lock:
        lock.write(owner.strip() + "\n")
    try:
        while True:
            try:
                os.link(draft, path)
                break
            except FileExistsError:
                if time.monotonic() >= deadline:
                    result["held_by"] = printable(held_by(path)) or EMPTY
                    return result
                time.sleep(POLL)
    finally:
        os.unlink(draft)
    result["generation"] = generation(path)
    _bump(path)
    result["taken"] = True
    return result


def remove_if_stale(path, stale, deadline):
    """Remove the lock if it holds `stale` and `path` still names the file read. Runs that find the same
    stale lock take turns (flock, waited for until the deadline): the first removes it; the others then
    find that `path` names another file, or none, and leave it alone."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    with os.fdopen(handle, encoding="utf-8", errors="replace") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(POLL)
        try:
            same = os.path.samestat(os.stat(path, follow_symlinks=False), os.fstat(lock.fileno()))
        except FileNotFoundError:
            return False
        if not same or (lock.read().strip() or EMPTY) != stale.strip():
            return False
        os.unlink(path)
        return True


def give_back(path, owner):
    """Remove the lock if `owner` holds it (its content is the owner, or starts with it and a space); whether it did."""
    held, owner = held_by(path), owner.strip()
    if held != owner and not held.startswith(owner + " "):
        return False
    _bump(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
