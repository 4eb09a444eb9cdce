#!/usr/bin/python
# -*- coding: utf-8 -*-
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: state_record
short_description: Record a healthy fastapi_gunicorn state, and keep only what the record names
version_added: 2.0.0
description:
  - The record is one JSON file that lists the host's healthy states, newest first; the first
    is live. This module puts O(state) first (with the time it was recorded), keeps the O(keep) newest states, and
    writes the record in full before it replaces the old one.
  - Then it removes every directory directly under the O(layout) directories that no kept state uses (old states,
    releases, virtualenvs and interpreters, failed attempts included). A directory that is not root's is left
    alone and listed in RV(left_alone). Links and files there are left alone too.
  - It reads the record it changes on the host, so a run that planned from an older record keeps what another run
    recorded meanwhile.
options:
  path:
    description: The record file (root, 0644). Its directory must exist.
    type: path
    required: true
  state:
    description: The state that passed its health gate, now live.
    type: dict
    required: true
    suboptions:
      state:
        description: The state's id.
        type: str
        required: true
      release:
        description: Its release id (the directory in O(layout.releases)).
        type: str
        required: true
      venv:
        description: Its virtualenv's directory.
        type: path
        required: true
      python:
        description: The interpreter its virtualenv was made from.
        type: path
        required: true
      digests:
        description: The digests of its files, by key.
        type: dict
        required: true
  instance:
    description:
      - Which service the record is of, and where its directories are, kept in the record under C(fastapi_gunicorn), so
        another instance of the role on the host can refuse directories of this one.
    type: dict
    required: true
    suboptions:
      service:
        description: The service's unit name.
        type: str
        required: true
      base_dir:
        description: Its base directory (code, virtualenvs).
        type: path
        required: true
      config_dir:
        description: Its configuration directory.
        type: path
        required: true
  keep:
    description: How many healthy states are kept, the live one included.
    type: int
    required: true
  layout:
    description: Where the pieces of the states are, each an entry directly under its directory.
    type: dict
    required: true
    suboptions:
      states:
        description: The directory of the states' files (C(<states>/<state>)).
        type: path
        required: true
      releases:
        description: The directory of the releases (C(<releases>/<release>)).
        type: path
        required: true
      venvs:
        description: The directory of the virtualenvs (the states' O(state.venv)).
        type: path
        required: true
      pythons:
        description: The directory of the interpreters unpacked from archives (an entry is kept while a state's O(state.python) is in it).
        type: path
        required: true
      builds:
        description: The directory of the inputs of virtualenv builds; once a state is recorded, none is needed.
        type: path
attributes:
  check_mode:
    support: full
    description: A dry run reports the record it would write and what it would remove.
  diff_mode:
    support: full
    description: The record before and after.
  safe_file_operations:
    support: full
    description: The record is moved into place with C(atomic_move).
extends_documentation_fragment:
  - fastapi_gunicorn.deploy.module
"""

EXAMPLES = r"""
- name: Record state 0123456789ab of orders as live, keep three
  fastapi_gunicorn.deploy.state_record:
    path: /etc/ansible/facts.d/orders.fact
    state:
      state: 0123456789ab
      release: v42
      venv: /srv/orders/venvs/3f9a1c2b4d5e
      python: /usr/bin/python3
      digests: {conf: 0123456789abcdef}
    instance: {service: orders, base_dir: /srv/orders, config_dir: /etc/orders}
    keep: 3
    layout:
      states: /etc/orders/states
      releases: /srv/orders/releases
      venvs: /srv/orders/venvs
      pythons: /srv/orders/pythons
      builds: /srv/orders/builds
"""

RETURN = r"""
history:
  description: The healthy states the record now lists, newest (live) first.
  returned: always
  type: list
  elements: dict
  sample: [{state: 0123456789ab, release: v42, venv: /srv/orders/venvs/3f9a1c2b4d5e, python: /usr/bin/python3,
            digests: {conf: 0123456789abcdef}, since: "2026-12-01T10:00:00+00:00"}]
pruned:
  description: The directories removed (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [/srv/orders/releases/v39]
left_alone:
  description: Directories no kept state uses that are not root's, so were not removed.
  returned: always
  type: list
  elements: str
  sample: []
"""

import datetime
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils import files, safe_tree


def kept_paths(history, layout):
    kept = set()
    for entry in history:
        kept.add(os.path.join(layout["states"], entry["state"]))
        kept.add(os.path.join(layout["releases"], entry["release"]))
        kept.add(os.path.normpath(entry["venv"]))
        python = os.path.normpath(entry.get("python") or "/")
        if python.startswith(layout["pythons"] + "/"):
            kept.add(os.path.join(layout["pythons"], python[len(layout["pythons"]) + 1:].split("/", 1)[0]))
    return kept


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "dict", "required": True, "options": {
                "state": {"type": "str", "required": True}, "release": {"type": "str", "required": True},
                "venv": {"type": "path", "required": True}, "python": {"type": "path", "required": True},
                "digests": {"type": "dict", "required": True}}},
            "instance": {"type": "dict", "required": True, "options": {
                "service": {"type": "str", "required": True}, "base_dir": {"type": "path", "required": True},
                "config_dir": {"type": "path", "required": True}}},
            "keep": {"type": "int", "required": True},
            "layout": {"type": "dict", "required": True, "options": dict({name: {"type": "path", "required": True}
                                                                          for name in ("states", "releases", "venvs", "pythons")},
                                                                         builds={"type": "path"})},
        },
        supports_check_mode=True,
    )
    params = module.params
    if params["keep"] < 2:
        module.fail_json(msg="keep must be at least 2: the live state and the one a rollback goes back to")
    before = files.read_regular(params["path"])
    try:
        history = json.loads(before or b"{}").get("history", [])
    except ValueError:
        module.fail_json(msg="%s is not a record of healthy states (JSON with a history list)" % params["path"])
    new = dict(params["state"], since=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    history = ([new] + [entry for entry in history if entry.get("state") != new["state"]])[:params["keep"]]
    text = json.dumps({"fastapi_gunicorn": params["instance"], "history": history}, indent=4, sort_keys=True) + "\n"

    diff = []
    written = files.install_files(module, [{"key": "record", "dest": params["path"], "content": text, "src": None, "owner": "root",
                                            "group": "root", "mode": "0644", "secret": False}], diff)

    kept, pruned, left_alone = kept_paths(history, params["layout"]), [], []
    for parent in filter(None, (params["layout"][name] for name in ("states", "releases", "venvs", "pythons", "builds"))):
        try:
            entries = sorted(os.scandir(parent), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False) or os.path.normpath(entry.path) in kept:
                continue
            if entry.stat(follow_symlinks=False).st_uid != 0:
                left_alone.append(entry.path)
                continue
            pruned.append(entry.path)
            if not module.check_mode:
                try:
                    safe_tree.remove(entry.path)
                except (OSError, safe_tree.Refused) as error:
                    module.fail_json(msg="cannot remove %s: %s" % (entry.path, error), history=history, pruned=pruned)
    result = {"changed": bool(written or pruned), "history": history, "pruned": pruned, "left_alone": left_alone}
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
