# -*- coding: utf-8 -*-
# MIT License (see galaxy.yml)
"""Directories and files of a fastapi_gunicorn state, written on the host: each file atomically, with
its owner, group and mode. state_files writes them; host_state writes them under the lock it takes."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import tempfile

# The argument specs of the directories and the files, for every module that writes them.
DIRECTORIES_SPEC = {"type": "list", "elements": "dict", "default": [], "options": {
    "path": {"type": "path", "required": True},
    "owner": {"type": "str", "required": True},
    "group": {"type": "str", "required": True},
    "mode": {"type": "str", "required": True},
    "fresh": {"type": "bool", "default": False},
}}
FILES_SPEC = {"type": "list", "elements": "dict", "default": [], "options": {
    "key": {"type": "str", "required": True},
    "dest": {"type": "path", "required": True},
    "content": {"type": "str", "no_log": True},
    "src": {"type": "path"},
    "owner": {"type": "str", "required": True},
    "group": {"type": "str", "required": True},
    "mode": {"type": "str", "required": True},
}, "required_one_of": [["content", "src"]], "mutually_exclusive": [["content", "src"]]}


def wanted_bytes(module, spec):
    if spec.get("content") is not None:
        return str(spec["content"]).encode()
    try:
        with open(spec["src"], "rb") as handle:
            return handle.read()
    except OSError as error:
        if module.check_mode:
            return None
        module.fail_json(msg="cannot read %s: %s" % (spec["src"], error))


def matches(dest, data, uid, gid, mode):
    try:
        info = os.lstat(dest)
        with open(dest, "rb") as handle:
            current = handle.read()
    except OSError:
        return False
    return (stat.S_ISREG(info.st_mode) and current == data and info.st_uid == uid and info.st_gid == gid
            and stat.S_IMODE(info.st_mode) == mode)


def write(dest, data, uid, gid, mode):
    descriptor, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(dest), dir=os.path.dirname(dest))
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temporary, dest)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_state(module, directories, files):
    """Make the missing (or fresh) directories, then write the files that differ. Returns the paths of
    the directories made and the keys of the files written (in check mode: that would be)."""
    made = []
    for directory in directories:
        fresh = directory["fresh"] and os.path.lexists(directory["path"])
        if os.path.isdir(directory["path"]) and not fresh:
            continue
        made.append(directory["path"])
        if not module.check_mode:
            if fresh and os.path.isdir(directory["path"]) and not os.path.islink(directory["path"]):
                shutil.rmtree(directory["path"])
            elif fresh:
                os.unlink(directory["path"])
            os.mkdir(directory["path"], int(directory["mode"], 8))
            os.chown(directory["path"], pwd.getpwnam(directory["owner"]).pw_uid, grp.getgrnam(directory["group"]).gr_gid)
            os.chmod(directory["path"], int(directory["mode"], 8))
    changed = []
    for spec in files:
        try:
            uid = pwd.getpwnam(spec["owner"]).pw_uid
            gid = grp.getgrnam(spec["group"]).gr_gid
        except KeyError as error:
            if module.check_mode:  # a dry run on a fresh host: the account is still to be made
                changed.append(spec["key"])
                continue
            module.fail_json(msg="%s: no such owner or group %s" % (spec["dest"], error), changed_keys=changed)
        mode = int(spec["mode"], 8)
        data = wanted_bytes(module, spec)
        if data is not None and matches(spec["dest"], data, uid, gid, mode):
            continue
        changed.append(spec["key"])
        if not module.check_mode:
            try:
                write(spec["dest"], data, uid, gid, mode)
            except OSError as error:
                module.fail_json(msg="cannot write %s: %s" % (spec["dest"], error), changed_keys=changed)
    return made, changed
