# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""The app's dependency set, as requirement lines, with the server packages in it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: app_requirements
short_description: The dependency set of an app on the controller, with the server packages joined to it
version_added: 2.2.0
description:
  - Reads what the app declares, in this order, from its directory O(app_dir) inside the source, and returns the
    requirement lines a venv is built from.
  - A requirements file (O(requirements_file)). Plain lines are installed after the server pins O(server), as
    given. A hash-locked file (a C(--hash) on any line) that lacks a server package is resolved again with
    C(uv pip compile --generate-hashes --universal), the app's pins kept, and the packages added are listed.
  - Else a C(uv.lock) in the app's directory or one above it in the source (a workspace's root). It is exported
    with C(uv export --frozen --no-dev --no-emit-workspace), for the workspace member in O(app_dir) when that is
    one, since workspace members are the app itself and run from the source, not from the venv. When the lock lacks
    a server package, a copy of the project is re-locked with C(uv add --no-sync) of the missing pins, which
    keeps every other pin, and exported again.
  - Else a C(pyproject.toml) in the app's directory. A copy is locked with the missing server pins
    (C(uv add --no-sync)) and exported, so every host of a rollout installs the same pins.
  - Else the server pins alone.
  - uv reads no C(uv.toml) (C(UV_NO_CONFIG)), builds nothing (C(--no-build), so no build code of the app or
    its dependencies runs on the controller) and downloads no Python. A result is kept in O(cache_dir) under
    the hash of what it was made from, so every host and batch gets the same lines.
  - A server package that cannot join the app's pins (a real conflict) fails, with uv's reason.
options:
  _terms:
    description: The source's directory on the controller.
    required: true
  app_dir:
    description: The app's directory, relative to the source; empty for the source itself.
    type: str
    default: ""
  requirements_file:
    description: A requirements file, relative to the app's directory.
    type: str
    default: requirements.txt
  constraints_file:
    description: A constraints file, relative to the app's directory; empty for none.
    type: str
    default: ""
  server:
    description: The server packages the venv needs, pinned (like C(gunicorn==27.0.1)), added where the app lacks them.
    type: list
    elements: str
    default: []
  extra:
    description: More requirement lines, added after the app's.
    type: list
    elements: str
    default: []
  index_url:
    description: The package index uv resolves against, when it must resolve; empty for uv's default.
    type: str
    default: ""
  extra_index_urls:
    description: More package indexes.
    type: list
    elements: str
    default: []
  cache_dir:
    description: Where results are kept on the controller; the 20 most recently used are kept, and any used in the last hour.
    type: path
    default: ~/.cache/fastapi_gunicorn/requirements
"""

EXAMPLES = r"""
- name: Read the dependency set of an app in backend/ of a uv workspace
  ansible.builtin.set_fact:
    dependencies: >-
      {{ lookup('fastapi_gunicorn.deploy.app_requirements', '/home/me/src/fullstack', app_dir='backend',
                server=['gunicorn==27.0.1', 'uvicorn[standard]==0.54.0']) }}

- name: Say what the role added to the app's lock
  ansible.builtin.debug:
    msg: "{{ dependencies.added }}"
  when: dependencies.added
"""

RETURN = r"""
_raw:
  description:
    - One dict. C(requirements) (the lines to install), C(constraints) (the constraints file's lines),
      C(hash_locked) (whether the lines carry hashes, so they install alone with C(--require-hashes)),
      C(added) (the server packages and their dependencies that the role joined to the app's pins, as
      C(name==version)), C(source) (C(requirements file), C(uv.lock), C(pyproject.toml) or C(none)) and
      C(file) (what was read, relative to the source).
  type: list
  elements: dict
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils.controller_cache import claim, prune, touch
from ansible_collections.fastapi_gunicorn.deploy.plugins.plugin_utils.requirements import names, requirement_lines

try:
    import tomllib
except ImportError:  # Python 3.10: the controller reads no pyproject.toml, and says so
    tomllib = None

# A cached result: the hash of what it was made from.
ENTRY = r"[0-9a-f]{64}\.json"
EXPORT = ["export", "--frozen", "--no-dev", "--no-emit-workspace", "--no-header", "--quiet", "--format", "requirements-txt"]
SERVER_VARIABLES = "the server packages (fastapi_gunicorn_gunicorn_version, fastapi_gunicorn_uvicorn_version, fastapi_gunicorn_uvicorn_worker_version)"


def uv(arguments, cwd, env):
    result = subprocess.run(["uv"] + arguments, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = " ".join(line.strip() for line in (result.stderr or result.stdout).strip().splitlines()[-6:])
        raise AnsibleLookupError(reason or "uv %s failed (exit status %d)" % (arguments[0], result.returncode))
    return result.stdout


def project(directory):
    """The [project] table of a pyproject.toml, or None."""
    path = os.path.join(directory, "pyproject.toml")
    if not os.path.isfile(path):
        return None
    if tomllib is None:
        raise AnsibleLookupError("reading %s needs Python 3.11 or later on the controller" % path)
    with open(path, "rb") as handle:
        return tomllib.load(handle).get("project")


def find_lock(source, app):
    """The directory of the uv.lock in the app's directory or the nearest one above it in the source."""
    directory = app
    while True:
        if os.path.isfile(os.path.join(directory, "uv.lock")):
            return directory
        if directory == source:
            return None
        directory = os.path.dirname(directory)


def digest(parts, tree=None):
    """The hash of what a result is made from: the parts, and every pyproject.toml and uv.lock in the tree."""
    summary = hashlib.sha256(json.dumps(parts, sort_keys=True).encode())
    for directory, subdirectories, files in os.walk(tree) if tree else ():
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith(".") and d not in ("node_modules", "__pycache__"))
        for name in sorted(f for f in files if f in ("pyproject.toml", "uv.lock")):
            with open(os.path.join(directory, name), "rb") as handle:
                summary.update(("%s\0" % os.path.relpath(os.path.join(directory, name), tree)).encode() + handle.read())
    return summary.hexdigest()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError("app_requirements takes one source directory")
        source = os.path.realpath(os.path.expanduser(str(terms[0])))
        app = os.path.realpath(os.path.join(source, self.get_option("app_dir")))
        if os.path.commonpath([source, app]) != source or not os.path.isdir(app):
            raise AnsibleLookupError("fastapi_gunicorn_app_dir must be a directory of the app's source, not %s" % app)
        server = list(self.get_option("server"))
        extra = list(self.get_option("extra"))
        env = dict(os.environ, UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
        for name in ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_FIND_LINKS", "UV_NO_INDEX"):
            env.pop(name, None)
        if self.get_option("index_url"):
            env["UV_DEFAULT_INDEX"] = self.get_option("index_url")
        if self.get_option("extra_index_urls"):
            env["UV_INDEX"] = " ".join(self.get_option("extra_index_urls"))
        self.cache = claim(os.path.expanduser(self.get_option("cache_dir")), ENTRY)

        # A missing constraints file is the role's check to name.
        constraints = []
        constraints_file = os.path.join(app, self.get_option("constraints_file"))
        if self.get_option("constraints_file") and os.path.isfile(constraints_file):
            with open(constraints_file, encoding="utf-8") as handle:
                constraints = requirement_lines(handle.read())

        requirements_file = os.path.join(app, self.get_option("requirements_file"))
        lock_dir = None if os.path.isfile(requirements_file) else find_lock(source, app)
        if os.path.isfile(requirements_file):
            with open(requirements_file, encoding="utf-8") as handle:
                lines = requirement_lines(handle.read()) + extra
            found = self.from_requirements(lines, server, env)
            found.update(source="requirements file", file=os.path.relpath(requirements_file, source))
        elif lock_dir:
            found = self.from_lock(lock_dir, app, server, env)
            found["requirements"] += extra
            found.update(source="uv.lock", file=os.path.relpath(os.path.join(lock_dir, "uv.lock"), source))
        elif project(app) is not None:
            found = self.from_project(app, server, env)
            found["requirements"] += extra
            found.update(source="pyproject.toml", file=os.path.relpath(os.path.join(app, "pyproject.toml"), source))
        else:
            found = {"requirements": server + extra, "hash_locked": False, "added": [], "source": "none", "file": ""}
        found["constraints"] = constraints
        return [found]

    def cached(self, key, make):
        """make()'s result, kept under `key`."""
        path = os.path.join(self.cache, key + ".json")
        if touch(path):
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        result = make()
        handle, work = tempfile.mkstemp(dir=self.cache, prefix=".work-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(result, out)
        os.replace(work, path)
        prune(self.cache, ENTRY)
        return result

    def from_requirements(self, lines, server, env):
        hashed = any(re.search(r"(^|\s)--hash[=\s]", line) for line in lines)
        missing = [pin for pin in server if names([pin])[0] not in names(lines)]
        if not hashed:
            return {"requirements": server + lines, "hash_locked": False, "added": []}
        if not missing:
            return {"requirements": lines, "hash_locked": True, "added": []}

        def compile_them():
            with tempfile.TemporaryDirectory() as work:
                with open(os.path.join(work, "app.txt"), "w", encoding="utf-8") as handle:
                    handle.write("\n".join(lines) + "\n")
                with open(os.path.join(work, "server.in"), "w", encoding="utf-8") as handle:
                    handle.write("\n".join(missing) + "\n")
                try:
                    out = uv(["pip", "compile", "--generate-hashes", "--universal", "--no-build", "--no-header", "--quiet",
                              "app.txt", "server.in"], work, env)
                except AnsibleLookupError as error:
                    raise AnsibleLookupError("%s cannot join the app's hash-locked requirements: %s" % (SERVER_VARIABLES, error)) from None
            compiled = requirement_lines(out)
            return {"requirements": compiled, "hash_locked": True, "added": pins_added(lines, compiled)}

        return self.cached(digest({"mode": "compile", "lines": lines, "missing": missing, "env": index_of(env)}), compile_them)

    def from_lock(self, lock_dir, app, server, env):
        member = (project(app) or {}).get("name") if app != lock_dir else None
        export = EXPORT + (["--package", member] if member else [])
        lines = requirement_lines(uv(export, lock_dir, env))
        missing = [pin for pin in server if names([pin])[0] not in names(lines)]
        if not missing:
            return {"requirements": lines, "hash_locked": True, "added": []}

        def relock():
            with tempfile.TemporaryDirectory() as work:
                copy = os.path.join(work, "project")
                shutil.copytree(lock_dir, copy, symlinks=True, ignore=shutil.ignore_patterns(".git", ".venv", "node_modules", "__pycache__"))
                try:
                    uv(["add", "--no-sync", "--no-build"] + (["--package", member] if member else []) + missing, copy, env)
                except AnsibleLookupError as error:
                    raise AnsibleLookupError("%s cannot join the app's uv.lock: %s" % (SERVER_VARIABLES, error)) from None
                relocked = requirement_lines(uv(export, copy, env))
            return {"requirements": relocked, "hash_locked": True, "added": pins_added(lines, relocked)}

        return self.cached(digest({"mode": "lock", "member": member, "missing": missing, "env": index_of(env)}, lock_dir), relock)

    def from_project(self, app, server, env):
        declared = names((project(app) or {}).get("dependencies") or [])
        missing = [pin for pin in server if names([pin])[0] not in declared]

        def lock():
            with tempfile.TemporaryDirectory() as work:
                copy = os.path.join(work, "project")
                shutil.copytree(app, copy, symlinks=True, ignore=shutil.ignore_patterns(".git", ".venv", "node_modules", "__pycache__"))
                try:
                    uv(["add", "--no-sync", "--no-build"] + missing if missing else ["lock", "--no-build"], copy, env)
                except AnsibleLookupError as error:
                    raise AnsibleLookupError("the app's pyproject.toml cannot be locked with %s: %s" % (SERVER_VARIABLES, error)) from None
                locked = requirement_lines(uv(EXPORT, copy, env))
            return {"requirements": locked, "hash_locked": True, "added": pins_added([], locked, only=names(missing))}

        return self.cached(digest({"mode": "project", "missing": missing, "env": index_of(env)}, app), lock)


def index_of(env):
    return [env.get("UV_DEFAULT_INDEX", ""), env.get("UV_INDEX", "")]


def pins_added(before, after, only=None):
    """The name==version of each package in `after` that `before` lacks (or, with `only`, of those names)."""
    had = set(names(before))
    added = []
    for line in after:
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)", line)
        if match and (names([match.group(1)])[0] not in had) and (only is None or names([match.group(1)])[0] in only):
            added.append("%s==%s" % (match.group(1), match.group(3)))
    return added
