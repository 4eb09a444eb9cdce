# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Files, directories and links written by root for the fastapi_gunicorn modules: each file in full
with its owner, group and mode before it replaces the old one (module.atomic_move), never through a
link, and reported for check and diff mode."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import tempfile

# A file larger than this, or one that is not text, is shown in a diff by its size only.
DIFF_LIMIT = 65536

DIRECTORY_OPTIONS = {
    "path": {"type": "path", "required": True},
    "owner": {"type": "str", "required": True},
    "group": {"type": "str", "required": True},
    "mode": {"type": "str", "required": True},
}
FILE_OPTIONS = {
    "key": {"type": "str", "required": True, "no_log": False},
    "dest": {"type": "path", "required": True},
    "content": {"type": "str", "no_log": True},
    "src": {"type": "path"},
    "owner": {"type": "str", "required": True},
    "group": {"type": "str", "required": True},
    "mode": {"type": "str", "required": True},
    "secret": {"type": "bool", "default": False},
}
FILES_SPEC = {"type": "list", "elements": "dict", "default": [], "options": FILE_OPTIONS,
              "required_one_of": [["content", "src"]], "mutually_exclusive": [["content", "src"]]}


def ids(owner, group):
    """The uid and gid of an owner and group name; KeyError names the one that does not exist."""
    try:
        uid = pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise KeyError("no user %s" % owner) from None
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise KeyError("no group %s" % group) from None
    return uid, gid


def read_regular(path, owner=None):
    """The bytes of a regular file, read without following a link; None when there is none, or (with
    `owner`, a uid) when another account owns it."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode) or (owner is not None and info.st_uid != owner):
            return None
        chunks = []
        while True:
            chunk = os.read(handle, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(handle)


def matches(dest, data, uid, gid, mode):
    """Whether dest is a regular file (not a link) with these bytes, owner, group and mode."""
    try:
        info = os.lstat(dest)
    except OSError:
        return False
    return (stat.S_ISREG(info.st_mode) and info.st_uid == uid and info.st_gid == gid and stat.S_IMODE(info.st_mode) == mode
            and read_regular(dest) == data)


def shown(data):
    if data is None:
        return ""
    if len(data) > DIFF_LIMIT:
        return "(%d bytes)\n" % len(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "(%d bytes, not text)\n" % len(data)


def diff_entry(dest, before, after, secret):
    """One entry of the module's diff: the text before and after, or for a secret only that it changed."""
    if secret:
        before = b"(secret content)\n" if before is not None else None
        after = b"(secret content, changed)\n" if before is not None else b"(secret content)\n"
    return {"before_header": dest, "after_header": dest, "before": shown(before), "after": shown(after)}


def write_file(module, dest, data, uid, gid, mode):
    """Write dest in full under a temporary name in its directory, with its owner, group and mode, then
    move it over the old file with module.atomic_move (a reader sees the old file or the new one, and
    SELinux contexts follow the directory's defaults)."""
    old_umask = os.umask(0o077)  # atomic_move gives a file it creates the umask's mode for a moment
    handle, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(dest), dir=os.path.dirname(dest))
    try:
        with os.fdopen(handle, "wb") as out:
            os.fchown(out.fileno(), uid, gid)
            os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        module.atomic_move(temporary, dest, keep_dest_attrs=False)
        # atomic_move sets the owner and mode of a file it creates itself: set them again.
        os.chown(dest, uid, gid, follow_symlinks=False)
        os.chmod(dest, mode)
    finally:
        os.umask(old_umask)
        if os.path.lexists(temporary):
            os.unlink(temporary)


def make_directory(module, spec):
    """Make a missing directory with its owner, group and mode; True when it was made (or would be)."""
    path = spec["path"]
    if os.path.isdir(path) and not os.path.islink(path):
        return False
    if module.check_mode:
        return True
    if os.path.lexists(path):
        module.fail_json(msg="%s exists and is not a directory" % path)
    uid, gid = ids(spec["owner"], spec["group"])
    os.mkdir(path, 0o700)
    os.chown(path, uid, gid, follow_symlinks=False)
    os.chmod(path, int(spec["mode"], 8))
    return True


def install_files(module, files, diff):
    """Write each file whose content, owner, group or mode differs; returns the keys written (in check
    mode, that would be). A file given by src is read from the host without following a link."""
    changed = []
    for spec in files:
        dest, mode = spec["dest"], int(spec["mode"], 8)
        if spec["content"] is not None:
            data = spec["content"].encode("utf-8", "surrogateescape")
        else:
            data = read_regular(spec["src"])
            if data is None:
                if module.check_mode:  # a dry run on a fresh host: the state is still to be made
                    changed.append(spec["key"])
                    continue
                module.fail_json(msg="%s is not a regular file" % spec["src"], changed_keys=changed)
        try:
            uid, gid = ids(spec["owner"], spec["group"])
        except KeyError as error:
            if module.check_mode:  # the account is still to be made
                changed.append(spec["key"])
                continue
            module.fail_json(msg="%s: %s" % (dest, error.args[0]), changed_keys=changed)
        if matches(dest, data, uid, gid, mode):
            continue
        changed.append(spec["key"])
        if module._diff:
            diff.append(diff_entry(dest, read_regular(dest), data, spec["secret"]))
        if not module.check_mode:
            try:
                write_file(module, dest, data, uid, gid, mode)
            except (OSError, Exception) as error:  # atomic_move raises Exception
                module.fail_json(msg="cannot write %s: %s" % (dest, error), changed_keys=changed)
    return changed


def point_link(module, spec, diff):
    """Point the symbolic link at spec['src'] by renaming a new link over the old one, so the path never
    goes missing; whether it moved (in check mode, would move)."""
    path, src = spec["path"], spec["src"]
    try:
        before = os.readlink(path)
    except OSError:
        before = None
    if before == src:
        return False
    if module._diff:
        diff.append({"before_header": path, "after_header": path, "before": "%s\n" % (before or ""), "after": "%s\n" % src})
    if module.check_mode:
        return True
    temporary = "%s.%d.new" % (path, os.getpid())
    try:
        uid, gid = ids(spec["owner"], spec["group"])
        if os.path.lexists(temporary):
            os.unlink(temporary)
        os.symlink(src, temporary)
        os.lchown(temporary, uid, gid)
        os.rename(temporary, path)
    except (OSError, KeyError) as error:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        module.fail_json(msg="cannot point %s at %s: %s" % (path, src, error))
    return True
