# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Trees that root takes over, unpacks or removes without following a link: every step is relative to
an open directory (dir_fd) and opened with O_NOFOLLOW, so a link planted in the tree is never followed."""

from __future__ import annotations

import os
import stat
import tarfile

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


class Refused(Exception):
    """An entry root does not take over: it names the entry and why."""


def open_directory(path, parent_fd=None):
    """An fd of directory `path` (relative to parent_fd when given), never through a link."""
    return os.open(path, DIRECTORY_FLAGS, dir_fd=parent_fd)


def seal(path, build_uid, uid, gid):
    """Take over the tree a build made at `path`: refuse anything but directories, regular files with one
    link and symbolic links, refuse entries the build account does not own, and give every entry to
    uid:gid without the build's write bits for others. Directories are taken over before what is in
    them, so the build account (whose processes are all gone by now) cannot add entries behind the walk.
    Returns how many entries were taken over."""
    parent, name = os.path.split(os.path.normpath(path))
    parent_fd = open_directory(parent)
    try:
        top = open_directory(name, parent_fd)
    finally:
        os.close(parent_fd)
    try:
        info = os.fstat(top)
        if info.st_uid not in (build_uid, uid):
            raise Refused("%s is owned by uid %d, not the build account" % (path, info.st_uid))
        return _take_directory(top, path, build_uid, uid, gid)
    finally:
        os.close(top)


def _take(fd_or_name, info, where, build_uid, uid, gid, parent_fd=None):
    if info.st_uid not in (build_uid, uid):
        raise Refused("%s is owned by uid %d, not the build account" % (where, info.st_uid))
    mode = stat.S_IMODE(info.st_mode) & ~(stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWGRP | stat.S_IWOTH)
    if parent_fd is None:
        os.fchown(fd_or_name, uid, gid)
        os.fchmod(fd_or_name, mode)
    else:
        os.chown(fd_or_name, uid, gid, dir_fd=parent_fd, follow_symlinks=False)


def _take_directory(fd, where, build_uid, uid, gid):
    _take(fd, os.fstat(fd), where, build_uid, uid, gid)
    count = 1
    for name in sorted(os.listdir(fd)):
        path = os.path.join(where, name)
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            child = open_directory(name, fd)
            try:
                if not os.path.samestat(info, os.fstat(child)):
                    raise Refused("%s changed while it was taken over" % path)
                count += _take_directory(child, path, build_uid, uid, gid)
            finally:
                os.close(child)
        elif stat.S_ISREG(info.st_mode):
            if info.st_nlink != 1:
                raise Refused("%s is a hard link (%d names): a build may not link files it does not own" % (path, info.st_nlink))
            handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
            try:
                if not os.path.samestat(info, os.fstat(handle)):
                    raise Refused("%s changed while it was taken over" % path)
                _take(handle, info, path, build_uid, uid, gid)
            finally:
                os.close(handle)
            count += 1
        elif stat.S_ISLNK(info.st_mode):
            _take(name, info, path, build_uid, uid, gid, parent_fd=fd)
            count += 1
        else:
            raise Refused("%s is a special file" % path)
    return count


def remove(path):
    """Remove the tree at `path` without following a link (shutil.rmtree is fd-based; its top must not be a link)."""
    import shutil

    if os.path.islink(path):
        os.unlink(path)
    elif os.path.isdir(path):
        if not shutil.rmtree.avoids_symlink_attacks:
            raise Refused("this Python cannot remove a tree without following links")
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def safe_member(member):
    """Whether a tar member is a plain file or directory inside the tree."""
    parts = member.name.split("/")
    return (member.isfile() or member.isdir()) and member.name and not member.name.startswith("/") and ".." not in parts


def unpack(archive, into, uid, gid):
    """Unpack a tarball of plain files and directories into the new directory `into` (made here, under
    a parent only root writes), each entry uid:gid with its mode without set-id bits. A link, a device,
    an absolute path or a '..' component is refused before anything is written."""
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            if not safe_member(member):
                raise Refused("the archive's member %s is refused (not a plain file or directory inside the tree)" % member.name)
        os.mkdir(into, 0o700)
        top = open_directory(into)
        try:
            for member in members:
                parts = [part for part in member.name.split("/") if part not in ("", ".")]
                if not parts:
                    continue
                directory = _directory_of(top, parts[:-1] if member.isfile() else parts, uid, gid)
                try:
                    if member.isfile():
                        source = tar.extractfile(member)
                        handle = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=directory)
                        with os.fdopen(handle, "wb") as out:
                            while True:
                                block = source.read(1 << 20)
                                if not block:
                                    break
                                out.write(block)
                            os.fchown(out.fileno(), uid, gid)
                            os.fchmod(out.fileno(), 0o755 if member.mode & 0o111 else 0o644)
                finally:
                    if directory != top:
                        os.close(directory)
            os.fchown(top, uid, gid)
            os.fchmod(top, 0o755)
        finally:
            os.close(top)


def _directory_of(top, parts, uid, gid):
    """The fd of directory `parts` under `top`, made (0755, uid:gid) where missing, never through a link."""
    fd = top
    for part in parts:
        try:
            os.mkdir(part, 0o755, dir_fd=fd)
            made = True
        except FileExistsError:
            made = False
        child = open_directory(part, fd)
        if made:
            os.fchown(child, uid, gid)
            os.fchmod(child, 0o755)
        if fd != top:
            os.close(fd)
        fd = child
    return fd
