#!/usr/bin/python
# -*- coding: utf-8 -*-
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_facts
short_description: Read what a fastapi_gunicorn run plans with, and what differs from a converged host
version_added: 2.0.0
description:
  - Reads a host in one call and changes nothing. It always returns the platform and the CPU count.
  - With O(python), O(read), O(globs), O(paths), O(secret) and O(accounts), it returns the interpreter's version, the text of
    files, a keyed digest of the secret environment and the service's accounts.
  - With O(checks), it compares the host with what a converged host has (packages, the account, directories,
    files with their digest, owner and mode, links, the states of units, answers of HTTP URLs, paths that
    must not exist) and lists each difference under the phase of its check, one sentence each.
  - It follows no link when it reads a file, and it reads only the files root owns through O(read) and
    O(globs); a file another account owns (a build could have written it) reads as missing.
options:
  python:
    description: An interpreter whose C(sys.version) is returned as RV(python).
    type: path
  read:
    description:
      - Files to return as text, by name; a missing file, or one root does not own, reads as an empty string. Each
        is read without following a link, and at most 1 MiB of it.
    type: dict
    default: {}
  secret:
    description:
      - A secret and the key its digest is made with. RV(secret_digest) is the first 16 hex digits of
        SHA-256 over the key file's bytes followed by the content, so the digest tells nothing about the
        secret without the key, which is root's alone.
    type: dict
    suboptions:
      key:
        description: The key file on the host; a missing one counts as empty.
        type: path
        required: true
      content:
        description: The secret text. It is never logged.
        type: str
        required: true
  accounts:
    description:
      - Accounts and their groups to look up. RV(accounts) holds, for each, its entries and the group ids of every
        account whose comment is its O(accounts[].comment), which are the accounts the role created.
    type: list
    elements: dict
    default: []
    suboptions:
      user:
        description: The account's name.
        type: str
        required: true
      group:
        description: The group's name.
        type: str
        required: true
      comment:
        description: The comment the role gives the accounts of this kind it creates.
        type: str
        required: true
  paths:
    description:
      - Paths to look at without following a link. RV(paths) tells, for each, what is there and who owns it.
    type: list
    elements: path
    default: []
    version_added: 2.1.0
  globs:
    description:
      - Files to return as text, by name and shell pattern (like C(/srv/app/venvs/*/.complete)). RV(globbed) holds each
        name's matching regular files that root owns, at most 200, each read without following a link.
    type: dict
    default: {}
  checks:
    description:
      - What a converged host has, in groups. Each difference is listed in RV(drift) under the group's O(checks[].phase).
    type: list
    elements: dict
    default: []
    suboptions:
      phase:
        description: Where the differences of this group are listed in RV(drift).
        type: str
        required: true
      packages:
        description: Debian packages that must be installed, as C(name) or C(name=version) for an exact version.
        type: list
        elements: str
        default: []
      account:
        description: An account that must exist with this group, comment, home and shell.
        type: dict
        suboptions:
          user:
            description: The account's name.
            type: str
            required: true
          group:
            description: Its primary group.
            type: str
            required: true
          comment:
            description: Its comment (GECOS field).
            type: str
          home:
            description: Its home directory.
            type: path
          shell:
            description: Its login shell.
            type: path
      directories:
        description: Directories that must exist, with this owner, group and mode.
        type: list
        elements: dict
        default: []
        suboptions:
          path:
            description: The directory.
            type: path
            required: true
          owner:
            description: Its owner; not compared when absent.
            type: str
          group:
            description: Its group; not compared when absent.
            type: str
          mode:
            description: Its octal mode, like C(0755); not compared when absent.
            type: str
      files:
        description:
          - Regular files that must exist, with this owner, group, mode and content. The digest of each file found is
            returned in RV(digests), whether or not it is compared here.
        type: list
        elements: dict
        default: []
        suboptions:
          path:
            description: The file.
            type: path
            required: true
            aliases: [dest]
          owner:
            description: Its owner; not compared when absent.
            type: str
          group:
            description: Its group; not compared when absent.
            type: str
          mode:
            description: Its octal mode; not compared when absent.
            type: str
          sha256:
            description: The SHA-256 of its content, in hex; not compared when absent.
            type: str
          secret:
            description: Its digest in RV(digests) is keyed with O(secret.key), as RV(secret_digest) is.
            type: bool
            default: false
      links:
        description: Symbolic links that must point at their target.
        type: list
        elements: dict
        default: []
        suboptions:
          path:
            description: The link.
            type: path
            required: true
          src:
            description: What it must point at.
            type: path
            required: true
      units:
        description: systemd units that must be enabled or not, and active or not.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: The unit, with its suffix (C(app.service), C(app.socket)).
            type: str
            required: true
          enabled:
            description: Whether it must be enabled; not compared when absent.
            type: bool
          active:
            description: Whether it must be active; not compared when absent.
            type: bool
      http:
        description: URLs on the host that must answer.
        type: list
        elements: dict
        default: []
        suboptions:
          url:
            description: The C(http://) URL to GET.
            type: str
            required: true
          unix_socket:
            description: A unix socket to send the request to instead of the URL's host.
            type: path
          status:
            description: The status the answer must have.
            type: int
            default: 200
          search:
            description: A regular expression the answer's body must match (searched, not anchored).
            type: str
          names_release:
            description:
              - A release id the answer's body must name as a whole word (C(v1) is not C(v10)), the way a version
                path such as the example app's C(/version) names the release its worker loaded.
            type: str
          timeout:
            description: Seconds the answer may take.
            type: int
            default: 5
      absent:
        description: Paths that must not exist; what a present one holds is shown (printable, shortened).
        type: list
        elements: path
        default: []
attributes:
  check_mode:
    support: full
    description: It reads only, in check mode as otherwise.
  diff_mode:
    support: none
    description: It changes nothing, so there is nothing to show.
extends_documentation_fragment:
  - fastapi_gunicorn.deploy.module
"""

EXAMPLES = r"""
- name: Read the host and what differs from a converged one
  fastapi_gunicorn.deploy.host_facts:
    python: /usr/bin/python3
    read:
      record: /etc/ansible/facts.d/orders.fact
    accounts:
      - {user: orders, group: orders, comment: fastapi_gunicorn service account}
    checks:
      - phase: install
        packages: [python3, python3-venv]
        directories:
          - {path: /srv/orders, owner: root, group: root, mode: "0755"}
      - phase: live
        links:
          - {path: /srv/orders/current, src: /srv/orders/releases/v42}
        http:
          - {url: "http://127.0.0.1:8000/health", status: 200}
  register: orders_host

- name: Wait until the service answers with release v42
  fastapi_gunicorn.deploy.host_facts:
    checks:
      - phase: gate
        http:
          - {url: "http://127.0.0.1:8000/version", search: "v42"}
  register: orders_gate
  until: orders_gate.drift.gate == []
  retries: 30
  delay: 1
"""

RETURN = r"""
platform:
  description: What the host runs.
  returned: always
  type: dict
  contains:
    os_family:
      description: C(Debian) for Debian and its derivatives (as Ansible's fact names it), else the OS's name.
      type: str
      sample: Debian
    distribution:
      description: The OS's name and version.
      type: str
      sample: Debian GNU/Linux 12
    service_mgr:
      description: C(systemd) when systemd booted the host, else the name of PID 1.
      type: str
      sample: systemd
    architecture:
      description: What C(uname -m) prints.
      type: str
      sample: x86_64
cpus:
  description: The CPUs this host's processes may run on, as C(nproc) counts them.
  returned: always
  type: int
  sample: 2
python:
  description: C(sys.version) of O(python); empty when it does not run.
  returned: when O(python) is given
  type: str
  sample: "3.11.2 (main, Nov 30 2024, 21:22:50) [GCC 12.2.0]"
python_error:
  description: The end of what O(python) wrote to its standard error, or why it could not run.
  returned: when O(python) is given
  type: str
  sample: ""
files:
  description: The text of each O(read) file, by name; empty when missing.
  returned: always
  type: dict
  sample: {record: '{"history": []}'}
secret_digest:
  description: The keyed digest of O(secret.content).
  returned: when O(secret) is given
  type: str
  sample: 3f9a1c2b4d5e6f70
accounts:
  description: For each of O(accounts), its entries.
  returned: always
  type: list
  elements: dict
  contains:
    user:
      description: The account's C(uid), C(gid), C(comment), C(home) and C(shell), or null when there is none.
      type: dict
    group:
      description: The group's C(gid), or null when there is none.
      type: dict
    own_gids:
      description: The group ids of every account whose comment is O(accounts[].comment).
      type: list
      elements: int
  sample: [{user: null, group: null, own_gids: []}]
paths:
  description:
    - For each of O(paths), null when nothing is there, else its C(type) (C(file), C(directory), C(link) or C(other)),
      C(uid), C(owner) (the account's name, or the uid when it has none) and C(mode) (octal, like C(0755)).
  returned: always
  type: dict
  version_added: 2.1.0
  sample: {/var/lib/orders: {type: directory, uid: 998, owner: orders, mode: "0755"}, /etc/systemd/system/orders.service: null}
globbed:
  description: For each name of O(globs), the text of each matching file, by path.
  returned: always
  type: dict
  sample: {venvs: {/srv/orders/venvs/3f9a1c2b4d5e/.complete: "fastapi==0.165.0\n"}}
digests:
  description: The first 16 hex digits of SHA-256 over each checked file found (keyed for a secret one), by path.
  returned: always
  type: dict
  sample: {/etc/orders/gunicorn_conf.py: 0123456789abcdef}
drift:
  description: For each phase of O(checks), the differences found, one sentence each; an empty list means converged.
  returned: always
  type: dict
  sample: {install: [], live: ["/srv/orders/current points at /srv/orders/releases/v41, want /srv/orders/releases/v42"]}
"""

import glob
import grp
import hashlib
import http.client
import os
import pwd
import re
import socket
import stat
import urllib.parse

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils.files import read_regular
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils.run_lock import printable

READ_LIMIT = 1 << 20
# A release id as a whole word: not part of a longer id.
WORD = r"(^|[^A-Za-z0-9._-])%s([^A-Za-z0-9._-]|$)"


def os_release():
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        data = read_regular(path)
        if data is not None:
            entries = {}
            for line in data.decode("utf-8", "replace").splitlines():
                name, sep, value = line.partition("=")
                if sep:
                    entries[name.strip()] = value.strip().strip("'\"")
            return entries
    return {}


def platform_entries():
    """What the setup module's minimal subset would tell a platform check, read here."""
    release = os_release()
    ids = [release.get("ID", "")] + release.get("ID_LIKE", "").split()
    # sd_booted(): systemd is the service manager when it made this directory.
    manager = "systemd" if os.path.isdir("/run/systemd/system") else (read_regular("/proc/1/comm") or b"unknown").decode().strip()
    return {
        "os_family": "Debian" if "debian" in ids else release.get("NAME", "unknown"),
        "distribution": " ".join(filter(None, [release.get("NAME", "unknown"), release.get("VERSION_ID", "")])),
        "service_mgr": manager,
        "architecture": os.uname().machine,
    }


def digest(data, key=b""):
    return hashlib.sha256(key + data).hexdigest()[:16]


def names_of(info):
    try:
        user = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        user = str(info.st_uid)
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = str(info.st_gid)
    return user, group


def compare_ownership(path, info, want, problems):
    user, group = names_of(info)
    if want.get("owner") and user != want["owner"]:
        problems.append("%s is owned by %s, want %s" % (path, user, want["owner"]))
    if want.get("group") and group != want["group"]:
        problems.append("%s has group %s, want %s" % (path, group, want["group"]))
    if want.get("mode") and stat.S_IMODE(info.st_mode) != int(want["mode"], 8):
        problems.append("%s has mode %04o, want %s" % (path, stat.S_IMODE(info.st_mode), want["mode"]))


def check_entry(path, want, is_kind, kind, problems):
    """A directory or regular file with the wanted owner, group and mode; False when absent or another kind."""
    try:
        info = os.lstat(path)
    except OSError:
        problems.append("%s %s is missing" % (kind, path))
        return False
    if not is_kind(info.st_mode):
        problems.append("%s is not a %s" % (path, kind))
        return False
    compare_ownership(path, info, want, problems)
    return True


def path_entry(path):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    kind = ("link" if stat.S_ISLNK(info.st_mode) else "directory" if stat.S_ISDIR(info.st_mode)
            else "file" if stat.S_ISREG(info.st_mode) else "other")
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    return {"type": kind, "uid": info.st_uid, "owner": owner, "mode": "%04o" % stat.S_IMODE(info.st_mode)}


def account_entries(user, group, comment):
    entries = {"user": None, "group": None, "own_gids": []}
    try:
        entry = pwd.getpwnam(user)
        entries["user"] = {"uid": entry.pw_uid, "gid": entry.pw_gid, "comment": entry.pw_gecos, "home": entry.pw_dir, "shell": entry.pw_shell}
    except KeyError:
        pass
    try:
        entries["group"] = {"gid": grp.getgrnam(group).gr_gid}
    except KeyError:
        pass
    entries["own_gids"] = sorted({entry.pw_gid for entry in pwd.getpwall() if entry.pw_gecos == comment})
    return entries


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def http_get(url, unix_socket, timeout):
    parts = urllib.parse.urlsplit(url)
    if unix_socket:
        connection = UnixHTTPConnection(unix_socket, timeout)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", (parts.path or "/") + ("?" + parts.query if parts.query else ""), headers={"Host": parts.netloc or "localhost"})
        response = connection.getresponse()
        return response.status, response.read(65536).decode("utf-8", "replace")
    finally:
        connection.close()


class Reader:
    def __init__(self, module):
        self.module = module
        self.key = b""

    def run(self, args):
        """(rc, stdout) of a command; rc 127 when it is not there (not a Debian host, no systemd)."""
        program = self.module.get_bin_path(args[0])
        if program is None:
            return 127, ""
        rc, out, _err = self.module.run_command([program] + args[1:], environ_update={"LC_ALL": "C"})
        return rc, out

    def packages(self, wanted, problems):
        if not wanted:
            return
        names = [name.partition("=")[0] for name in wanted]
        rc, out = self.run(["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\t${Version}\n"] + names)
        found = {}
        for line in out.splitlines():
            package, status, version = (line.split("\t") + ["", ""])[:3]
            if status.startswith("ii"):
                found[package.split(":", 1)[0]] = version
        for name in wanted:
            package, _eq, version = name.partition("=")
            if package not in found:
                problems.append("package %s is not installed" % package)
            elif version and found[package] != version:
                problems.append("package %s is at %s, want %s" % (package, found[package], version))

    def account(self, want, problems):
        entries = account_entries(want["user"], want["group"], want.get("comment") or "")
        user, group = entries["user"], entries["group"]
        if group is None:
            problems.append("group %s does not exist" % want["group"])
        if user is None:
            problems.append("user %s does not exist" % want["user"])
            return
        if group is not None and user["gid"] != group["gid"]:
            problems.append("user %s has gid %s, want %s" % (want["user"], user["gid"], group["gid"]))
        for field in ("comment", "home", "shell"):
            if want.get(field) is not None and user[field] != want[field]:
                problems.append("user %s has %s %s, want %s" % (want["user"], field, user[field], want[field]))

    def units(self, wanted, problems):
        if not wanted:
            return
        names = [unit["name"] for unit in wanted]
        rc, out = self.run(["systemctl", "show", "--property", "Id,UnitFileState,ActiveState", "--"] + names)
        # One block per unit, in the order asked, separated by blank lines.
        blocks = [dict(line.split("=", 1) for line in block.splitlines() if "=" in line) for block in out.strip().split("\n\n")]
        blocks += [{}] * (len(names) - len(blocks))
        for unit, found in zip(wanted, blocks):
            for field, prop, word in (("enabled", "UnitFileState", "enabled"), ("active", "ActiveState", "active")):
                if unit.get(field) is None:
                    continue
                have = found.get(prop) == word
                if have != unit[field]:
                    problems.append("%s is %s, want %s" % (unit["name"], word if have else "not " + word, word if unit[field] else "not " + word))

    def http(self, wanted, problems):
        for want in wanted:
            try:
                status, body = http_get(want["url"], want.get("unix_socket"), want["timeout"])
            except (OSError, http.client.HTTPException) as error:
                problems.append("%s does not answer: %s" % (want["url"], error))
                continue
            if status != want["status"]:
                problems.append("%s answered %s, want %s" % (want["url"], status, want["status"]))
            elif want.get("search") and not re.search(want["search"], body):
                problems.append("%s answered %r, which does not match %s" % (want["url"], body[:200], want["search"]))
            elif want.get("names_release") and not re.search(WORD % re.escape(want["names_release"]), body):
                problems.append("%s answered %r, which does not name release %s" % (want["url"], body[:200], want["names_release"]))

    def group(self, checks, digests):
        problems = []
        self.packages(checks["packages"], problems)
        if checks.get("account"):
            self.account(checks["account"], problems)
        for want in checks["directories"]:
            check_entry(want["path"], want, stat.S_ISDIR, "directory", problems)
        for want in checks["files"]:
            if not check_entry(want["path"], want, stat.S_ISREG, "regular file", problems):
                continue
            data = read_regular(want["path"]) or b""
            digests[want["path"]] = digest(data, self.key if want["secret"] else b"")
            if want.get("sha256") and hashlib.sha256(data).hexdigest() != want["sha256"]:
                problems.append("%s differs from the wanted content" % want["path"])
        for want in checks["links"]:
            try:
                target = os.readlink(want["path"])
            except OSError:
                target = None
            if target != want["src"]:
                problems.append("%s points at %s, want %s" % (want["path"], target, want["src"]))
        self.units(checks["units"], problems)
        self.http(checks["http"], problems)
        for path in checks["absent"]:
            if os.path.lexists(path):
                problems.append("%s exists: %s" % (path, printable((read_regular(path) or b"").decode("utf-8", "replace"), 200)))
        return problems


def main():
    entry = {"type": "str"}
    module = AnsibleModule(
        argument_spec={
            "python": {"type": "path"},
            "read": {"type": "dict", "default": {}},
            "secret": {"type": "dict", "no_log": False, "options": {
                "key": {"type": "path", "required": True}, "content": {"type": "str", "required": True, "no_log": True}}},
            "accounts": {"type": "list", "elements": "dict", "default": [], "options": {
                "user": {"type": "str", "required": True}, "group": {"type": "str", "required": True}, "comment": {"type": "str", "required": True}}},
            "paths": {"type": "list", "elements": "path", "default": []},
            "globs": {"type": "dict", "default": {}},
            "checks": {"type": "list", "elements": "dict", "default": [], "options": {
                "phase": {"type": "str", "required": True},
                "packages": {"type": "list", "elements": "str", "default": []},
                "account": {"type": "dict", "options": {"user": {"type": "str", "required": True}, "group": {"type": "str", "required": True},
                                                        "comment": entry, "home": {"type": "path"}, "shell": {"type": "path"}}},
                "directories": {"type": "list", "elements": "dict", "default": [], "options": {
                    "path": {"type": "path", "required": True}, "owner": entry, "group": entry, "mode": entry}},
                "files": {"type": "list", "elements": "dict", "default": [], "options": {
                    "path": {"type": "path", "required": True, "aliases": ["dest"]}, "owner": entry, "group": entry, "mode": entry, "sha256": entry,
                    "secret": {"type": "bool", "default": False}}},
                "links": {"type": "list", "elements": "dict", "default": [], "options": {
                    "path": {"type": "path", "required": True}, "src": {"type": "path", "required": True}}},
                "units": {"type": "list", "elements": "dict", "default": [], "options": {
                    "name": {"type": "str", "required": True}, "enabled": {"type": "bool"}, "active": {"type": "bool"}}},
                "http": {"type": "list", "elements": "dict", "default": [], "options": {
                    "url": {"type": "str", "required": True}, "unix_socket": {"type": "path"}, "status": {"type": "int", "default": 200},
                    "search": entry, "names_release": entry, "timeout": {"type": "int", "default": 5}}},
                "absent": {"type": "list", "elements": "path", "default": []},
            }},
        },
        supports_check_mode=True,
    )
    params = module.params
    reader = Reader(module)
    result = {"changed": False, "platform": platform_entries(), "cpus": len(os.sched_getaffinity(0)), "digests": {}, "drift": {}}

    if params["python"]:
        # Reported, not failed: before the install phase the interpreter may be a package still to install.
        rc, out, err = 127, "", "%s is not an executable file" % params["python"]
        if os.path.isfile(params["python"]) and os.access(params["python"], os.X_OK):
            rc, out, err = module.run_command([params["python"], "-c", "import sys; print(sys.version)"])
        result["python"] = out.strip() if rc == 0 else ""
        result["python_error"] = "" if rc == 0 else (err.strip()[-300:] or "%s does not run (exit status %s)" % (params["python"], rc))

    # Only root's files: a build account could have written any other, in a venv it was building.
    result["files"] = {name: (read_regular(path, owner=0) or b"")[:READ_LIMIT].decode("utf-8", "replace") for name, path in params["read"].items()}

    if params["secret"]:
        reader.key = read_regular(params["secret"]["key"]) or b""
        result["secret_digest"] = digest(params["secret"]["content"].encode("utf-8", "surrogateescape"), reader.key)

    result["accounts"] = [account_entries(account["user"], account["group"], account["comment"]) for account in params["accounts"]]
    result["paths"] = {path: path_entry(path) for path in params["paths"]}
    result["globbed"] = {}
    for name, pattern in params["globs"].items():
        found = {}
        for path in sorted(glob.glob(pattern))[:200]:
            data = read_regular(path, owner=0)
            if data is not None:
                found[path] = data[:READ_LIMIT].decode("utf-8", "replace")
        result["globbed"][name] = found

    for checks in params["checks"]:
        result["drift"].setdefault(checks["phase"], []).extend(reader.group(checks, result["digests"]))

    module.exit_json(**result)


if __name__ == "__main__":
    main()
