#!/usr/bin/python
# -*- coding: utf-8 -*-
# MIT License (see galaxy.yml)
"""Read what the fastapi_gunicorn role needs from a host, and what differs from the wanted state."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_state
short_description: Read a fastapi_gunicorn host in one call, and list what differs from the wanted state
version_added: 1.1.0
description:
  - Reads, in one round trip, what the C(fastapi_gunicorn) role plans a run with. That is the interpreter's
    version, small files (the record of healthy states, the release marker, the lock), the service
    account and group, and the keyed digest of the secret environment.
  - With O(want), also checks every fact a converged host has (packages, account, directories, files
    with their digest, owner and mode, links, unit states, health URLs, absent paths) and reports each
    difference, by group. The role skips a phase whose group has no difference, so a run with nothing
    to change is one call.
  - Changes nothing on the host, except with O(lock), which first takes the run's lock, so that the read
    is what the run changes under that lock, and with O(write), which writes a state's files under it.
options:
  python:
    description: Interpreter whose C(sys.version) is returned as RV(python).
    type: path
  read:
    description: Names and paths of files to return as text; a missing file reads as an empty string.
    type: dict
    default: {}
  secret:
    description:
      - C(key) is a root-only key file; C(content) is the secret text. RV(secret_digest) is the first 16 hex
        digits of SHA-256 over the key file's bytes followed by the content, so no digest tells anything about
        a secret without the key. A missing key counts as empty.
    type: dict
  account:
    description:
      - C(user), C(group) and C(comment). Returns RV(account) (the user's and group's entries, and the group ids
        of every account carrying C(comment)).
    type: dict
  lock:
    description:
      - Take the lock before reading. C(path) is the lock file, created with O_EXCL and holding C(owner) (one
        line); its directory is made if missing. A lock whose content is C(stale) (a run known to be gone) is
        replaced at once. A lock held by another run is waited for up to C(timeout) seconds; then RV(lock)
        says who holds it and nothing is taken. Not taken in check mode.
    type: dict
    version_added: 1.8.0
  want:
    description:
      - Groups of checks, by name. Each group may hold C(packages) (Debian package names, C(name=version)
        for an exact version), C(account) (C(user), C(group), C(comment), C(home), C(shell)), C(directories) and
        C(files) (C(path) or C(dest), C(owner), C(group), C(mode), optional C(sha256) of the content; each file's
        digest is returned in RV(digests), keyed with O(secret)'s key when C(secret=true)),
        C(links) (C(path), C(src)), C(units) (C(name), C(enabled), C(active)), C(http) (C(url), optional
        C(unix_socket), C(status), C(timeout), optional C(search) regular expression on the body) and C(absent) (paths).
    type: dict
    default: {}
  expect:
    description:
      - What an earlier read found, that a plan was made from. Each key is a result of this call
        (RV(python), RV(account), RV(secret_digest), RV(files)) and each value what it must be, for RV(files)
        by name (the names given only). RV(as_expected) tells whether this read found all of it, that is
        whether the plan still stands.
    type: dict
    version_added: 1.10.0
  write:
    description:
      - The directories and files of a state, as P(fastapi_gunicorn.deploy.state_files#module)'s O(state_files#module:directories)
        and O(state_files#module:files), written after the read under the lock this call took, and only when
        RV(as_expected) holds, so a plan that another run made stale writes nothing. RV(written) says whether they were.
      - Needs O(lock) and O(expect). Not written in check mode.
    type: dict
    version_added: 1.10.0
    suboptions:
      directories:
        description: As P(fastapi_gunicorn.deploy.state_files#module)'s O(state_files#module:directories).
        type: list
        elements: dict
        default: []
      files:
        description: As P(fastapi_gunicorn.deploy.state_files#module)'s O(state_files#module:files); contents are never logged.
        type: list
        elements: dict
        default: []
author:
  - fastapi_gunicorn maintainers
notes:
  - Supports check mode; there it changes nothing (it takes no lock and writes nothing).
"""

EXAMPLES = r"""
- name: Read the host and what differs from the wanted state
  fastapi_gunicorn.deploy.host_state:
    python: /usr/bin/python3
    read:
      record: /etc/ansible/facts.d/fastapi_app.fact
    want:
      live:
        units:
          - {name: fastapi_app.service, enabled: true, active: true}
        http:
          - {url: "http://127.0.0.1:8000/health", status: 200}
  register: host
"""

RETURN = r"""
python:
  description: C(sys.version) of O(python), empty when it does not run (RV(python_error) says why).
  returned: when O(python) is given
  type: str
platform:
  description:
    - C(os_family) (C(Debian) for Debian and its derivatives, as Ansible's fact names it, else the OS's name),
      C(distribution) (name and version), C(service_mgr) (C(systemd) when systemd booted the host, else the
      name of PID 1) and C(architecture) (C(uname -m)).
  returned: always
  type: dict
cpus:
  description: The CPUs this host's processes may run on (as C(nproc) counts them, cpusets included).
  returned: always
  type: int
python_error:
  description: What O(python) wrote to its standard error.
  returned: when O(python) is given
  type: str
files:
  description: The text of each O(read) file by name, empty when missing.
  returned: always
  type: dict
paths:
  description: The path each O(read) file was read from, by name.
  returned: always
  type: dict
secret_digest:
  description: Keyed digest of O(secret) content.
  returned: when O(secret) is given
  type: str
account:
  description: C(user) (C(uid), C(gid), C(comment), C(home), C(shell)) and C(group) (C(gid)), each null when
    absent, and C(own_gids), the group ids of the accounts whose comment is O(account) C(comment).
  returned: when O(account) is given
  type: dict
digests:
  description: The first 16 hex digits of SHA-256 over each checked file (keyed for a C(secret) one), by path.
  returned: always
  type: dict
lock:
  description:
    - With O(lock), C(taken) (true when this call took it), C(held_by) (the holder's line when it did not)
      and C(took_over) (the stale owner replaced, else empty).
  returned: when O(lock) is given, outside check mode
  type: dict
  version_added: 1.8.0
as_expected:
  description: Whether this read found everything in O(expect).
  returned: when O(expect) is given
  type: bool
  version_added: 1.10.0
written:
  description:
    - C(done) (whether O(write) was carried out), and C(changed_keys) and C(made_directories) as
      P(fastapi_gunicorn.deploy.state_files#module) returns them.
  returned: when O(write) is given
  type: dict
  version_added: 1.10.0
drift:
  description: For each O(want) group, the differences found, one sentence each; an empty list means converged.
  returned: always
  type: dict
"""

import grp
import hashlib
import http.client
import os
import pwd
import re
import socket
import stat
import subprocess
import urllib.parse

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils.run_lock import take as take_lock
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils.state_write import DIRECTORIES_SPEC, FILES_SPEC, write_state


def read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def platform_entries():
    """The OS family (as Ansible's os_family names Debian's), the distribution, the service manager and
    the architecture: what the setup module's minimal subset would tell the platform check, read here."""
    release = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        data = read_bytes(path)
        if data is not None:
            for line in data.decode("utf-8", "replace").splitlines():
                name, sep, value = line.partition("=")
                if sep:
                    release[name.strip()] = value.strip().strip("'\"")
            break
    ids = [release.get("ID", "")] + release.get("ID_LIKE", "").split()
    # sd_booted(): systemd is the service manager when it made this directory.
    manager = "systemd" if os.path.isdir("/run/systemd/system") else (read_bytes("/proc/1/comm") or b"unknown").decode().strip()
    return {
        "os_family": "Debian" if "debian" in ids else release.get("NAME", "unknown"),
        "distribution": " ".join(filter(None, [release.get("NAME", "unknown"), release.get("VERSION_ID", "")])),
        "service_mgr": manager,
        "architecture": os.uname().machine,
    }


def digest(data, key=b""):
    return hashlib.sha256(key + data).hexdigest()[:16]


def owner_names(info):
    try:
        user = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        user = str(info.st_uid)
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = str(info.st_gid)
    return user, group


def check_ownership(path, info, want, problems):
    user, group = owner_names(info)
    if "owner" in want and user != want["owner"]:
        problems.append("%s is owned by %s, want %s" % (path, user, want["owner"]))
    if "group" in want and group != want["group"]:
        problems.append("%s has group %s, want %s" % (path, group, want["group"]))
    if "mode" in want and stat.S_IMODE(info.st_mode) != int(str(want["mode"]), 8):
        problems.append("%s has mode %04o, want %s" % (path, stat.S_IMODE(info.st_mode), want["mode"]))


def check_entry(path, want, kind, is_kind, problems):
    """A directory or regular file (is_kind on its mode) with the wanted owner, group and mode; False if absent or another kind."""
    try:
        info = os.lstat(path)
    except OSError:
        problems.append("%s %s is missing" % (kind, path))
        return False
    if not is_kind(info.st_mode):
        problems.append("%s is not a %s" % (path, "directory" if kind == "directory" else "regular file"))
        return False
    check_ownership(path, info, want, problems)
    return True


def installed_packages(names):
    if not names:
        return {}
    bare = [name.split("=", 1)[0] for name in names]
    try:
        result = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\t${Version}\n"] + bare,
                                capture_output=True, text=True, check=False)
    except OSError:  # not a Debian host: nothing counts as installed (the platform check says why)
        return {}
    found = {}
    for line in result.stdout.splitlines():
        package, status, version = (line.split("\t") + ["", ""])[:3]
        if status.startswith("ii"):
            found[package.split(":", 1)[0]] = version
    return found


def unit_property(name, prop):
    try:
        result = subprocess.run(["systemctl", "show", "--property", prop, "--value", name],
                                capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return result.stdout.strip()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def http_get(url, unix_socket, timeout=5):
    parts = urllib.parse.urlsplit(url)
    if unix_socket:
        connection = UnixHTTPConnection(unix_socket, timeout)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/", headers={"Host": parts.netloc or "localhost"})
        response = connection.getresponse()
        return response.status, response.read(65536).decode("utf-8", "replace")
    finally:
        connection.close()


def account_entries(user, group, comment):
    entries = {"user": None, "group": None, "own_gids": []}
    try:
        entry = pwd.getpwnam(user)
        entries["user"] = {"uid": entry.pw_uid, "gid": entry.pw_gid, "comment": entry.pw_gecos,
                           "home": entry.pw_dir, "shell": entry.pw_shell}
    except KeyError:
        pass
    try:
        entries["group"] = {"gid": grp.getgrnam(group).gr_gid}
    except KeyError:
        pass
    entries["own_gids"] = sorted({entry.pw_gid for entry in pwd.getpwall() if entry.pw_gecos == comment})
    return entries


def check_group(checks, key, digests):
    problems = []

    wanted = checks.get("packages") or []
    found = installed_packages(wanted)
    for name in wanted:
        package, _, version = name.partition("=")
        if package not in found:
            problems.append("package %s is not installed" % package)
        elif version and found[package] != version:
            problems.append("package %s is at %s, want %s" % (package, found[package], version))

    account = checks.get("account")
    if account:
        entries = account_entries(account["user"], account["group"], account.get("comment", ""))
        user, group = entries["user"], entries["group"]
        if group is None:
            problems.append("group %s does not exist" % account["group"])
        if user is None:
            problems.append("user %s does not exist" % account["user"])
        elif group is not None:
            for field, got in (("gid", user["gid"]), ("comment", user["comment"]), ("home", user["home"]),
                               ("shell", user["shell"])):
                want = group["gid"] if field == "gid" else account.get(field)
                if want is not None and got != want:
                    problems.append("user %s has %s %s, want %s" % (account["user"], field, got, want))

    for want in checks.get("directories") or []:
        check_entry(want["path"], want, "directory", stat.S_ISDIR, problems)

    for want in checks.get("files") or []:
        path = want.get("path") or want["dest"]
        if not check_entry(path, want, "file", stat.S_ISREG, problems):
            continue
        data = read_bytes(path) or b""
        digests[path] = digest(data, key if want.get("secret") else b"")
        if want.get("sha256") and hashlib.sha256(data).hexdigest() != want["sha256"]:
            problems.append("%s differs from the wanted content" % path)

    for want in checks.get("links") or []:
        try:
            target = os.readlink(want["path"])
        except OSError:
            target = None
        if target != want["src"]:
            problems.append("%s points at %s, want %s" % (want["path"], target, want["src"]))

    for want in checks.get("units") or []:
        enabled = unit_property(want["name"], "UnitFileState") == "enabled"
        active = unit_property(want["name"], "ActiveState") == "active"
        if "enabled" in want and enabled != bool(want["enabled"]):
            problems.append("%s is %s, want %s" % (want["name"], "enabled" if enabled else "not enabled",
                                                   "enabled" if want["enabled"] else "not enabled"))
        if "active" in want and active != bool(want["active"]):
            problems.append("%s is %s, want %s" % (want["name"], "active" if active else "not active",
                                                   "active" if want["active"] else "not active"))

    for want in checks.get("http") or []:
        try:
            status, body = http_get(want["url"], want.get("unix_socket"), int(want.get("timeout") or 5))
        except (OSError, http.client.HTTPException) as error:
            problems.append("%s does not answer: %s" % (want["url"], error))
            continue
        if status != int(want.get("status", 200)):
            problems.append("%s answered %s, want %s" % (want["url"], status, want.get("status", 200)))
        elif want.get("search") and not re.search(want["search"], body):
            problems.append("%s answered %r, which does not match %s" % (want["url"], body[:200], want["search"]))

    for path in checks.get("absent") or []:
        if os.path.lexists(path):
            problems.append("%s exists: %s" % (path, (read_bytes(path) or b"").decode("utf-8", "replace").strip()[:200]))

    return problems


def found_as_expected(result, expect):
    """Whether every value of expect is what this read found (files: those named only)."""
    for name, value in expect.items():
        if name == "files":
            if any(result["files"].get(key) != text for key, text in (value or {}).items()):
                return False
        elif result.get(name) != value:
            return False
    return True


def main():
    module = AnsibleModule(
        argument_spec={
            "python": {"type": "path"},
            "read": {"type": "dict", "default": {}},
            "secret": {"type": "dict", "no_log": True},
            "account": {"type": "dict"},
            "lock": {"type": "dict", "options": {"path": {"type": "path", "required": True},
                                                 "owner": {"type": "str", "required": True},
                                                 "stale": {"type": "str", "default": ""},
                                                 "timeout": {"type": "int", "default": 0}}},
            "want": {"type": "dict", "default": {}},
            "expect": {"type": "dict"},
            "write": {"type": "dict", "options": {"directories": DIRECTORIES_SPEC, "files": FILES_SPEC}},
        },
        required_by={"write": ["lock", "expect"]},
        supports_check_mode=True,
    )
    params = module.params
    result = {"changed": False, "drift": {}, "cpus": len(os.sched_getaffinity(0)), "platform": platform_entries()}

    if params["lock"] and not module.check_mode:
        lock = params["lock"]
        try:
            result["lock"] = take_lock(lock["path"], lock["owner"], lock["stale"], lock["timeout"])
        except OSError as error:
            module.fail_json(msg="Could not take the lock %s: %s" % (lock["path"], error))

    if params["python"]:
        # Reported, not failed: before the install phase the interpreter may be a package still to install.
        try:
            version = subprocess.run([params["python"], "-c", "import sys; print(sys.version)"],
                                     capture_output=True, text=True, check=False)
            result["python"] = version.stdout.strip() if version.returncode == 0 else ""
            result["python_error"] = version.stderr.strip()[-300:]
        except OSError as error:
            result["python"], result["python_error"] = "", str(error)

    result["files"] = {name: (read_bytes(path) or b"").decode("utf-8", "replace")
                       for name, path in params["read"].items()}
    result["paths"] = dict(params["read"])

    key = b""
    if params["secret"]:
        key = read_bytes(params["secret"]["key"]) or b""
        result["secret_digest"] = digest(str(params["secret"].get("content", "")).encode(), key)

    if params["account"]:
        account = params["account"]
        result["account"] = account_entries(account["user"], account["group"], account.get("comment", ""))

    result["digests"] = {}
    for name, checks in params["want"].items():
        result["drift"][name] = check_group(checks or {}, key, result["digests"])

    if params["expect"] is not None:
        result["as_expected"] = found_as_expected(result, params["expect"])

    if params["write"]:
        done = result.get("lock", {}).get("taken", False) and result["as_expected"]
        made, changed = write_state(module, params["write"]["directories"], params["write"]["files"]) if done else ([], [])
        result["written"] = {"done": done, "changed_keys": changed, "made_directories": made}
        result["changed"] = bool(made or changed)

    module.exit_json(**result)


if __name__ == "__main__":
    main()
