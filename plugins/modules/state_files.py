#!/usr/bin/python
# -*- coding: utf-8 -*-
# MIT License (see galaxy.yml)
"""Write a state's files in one call: each atomically, with its owner, group and mode."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: state_files
short_description: Write a state's files, switch its link, prune old states and give back the lock, in one call
version_added: 1.1.0
description:
  - Writes the files of a C(fastapi_gunicorn) state (config, secret environment, units), from given content
    or from a file already on the host, in one round trip. A file whose content, owner, group and mode
    already match is left alone.
  - Each file is written to a temporary file in its directory and renamed over the old one, so a reader
    sees the old file or the new one, never a part.
options:
  directories:
    description:
      - Directories (each C(path), C(owner), C(group), C(mode)) made first when missing, for files that go
        in them (the state's) or for what comes next (the release's, which the code is unpacked into). An
        existing one is left as it is, unless C(fresh) is set, in which case whatever is at C(path) is removed and
        the directory made new (a failed build's leftovers go). Their paths are returned in RV(made_directories).
      - C(fresh) was added in 1.9.0.
    type: list
    elements: dict
    default: []
    version_added: 1.7.0
  link:
    description:
      - A symbolic link (C(path), C(src), C(owner), C(group)) pointed at C(src) after the files are written,
        by renaming a new link over the old one, so the path always exists.
    type: dict
  prune:
    description:
      - After the files, remove every directory directly under C(parents) that is not in C(keep)
        (old states, releases and virtualenvs). Links and files there are left alone.
    type: dict
  unlock:
    description:
      - Last, remove the run's lock file at C(path) if this run holds it, that is if its content starts with
        C(owner) and a space. A lock held by another run is left alone. Whether it was removed is returned in
        RV(unlocked).
    type: dict
    version_added: 1.9.0
  files:
    description: The files to write.
    type: list
    elements: dict
    default: []
    suboptions:
      key:
        description: A name for the file, returned in RV(changed_keys) when it is written.
        type: str
        required: true
      dest:
        description: Where the file goes.
        type: path
        required: true
      content:
        description: The file's text (never logged). Either this or O(files[].src).
        type: str
      src:
        description: A file on the host to copy.
        type: path
      owner:
        description: Owner of the file.
        type: str
        required: true
      group:
        description: Group of the file.
        type: str
        required: true
      mode:
        description: Octal mode, like C(0640).
        type: str
        required: true
author:
  - fastapi_gunicorn maintainers
notes:
  - Supports check mode. There, a missing C(src) counts as a change.
"""

EXAMPLES = r"""
- name: Install a kept state's files
  fastapi_gunicorn.deploy.state_files:
    files:
      - key: conf
        src: /etc/fastapi_app/states/0123456789ab/gunicorn_conf.py
        dest: /etc/fastapi_app/gunicorn_conf.py
        owner: root
        group: fastapi
        mode: "0640"
"""

RETURN = r"""
changed_keys:
  description: The keys of the files written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
made_directories:
  description: The paths of O(directories) that were made (or, in check mode, would be).
  returned: always
  type: list
  elements: str
link_changed:
  description: Whether O(link) was moved (or, in check mode, would be).
  returned: always
  type: bool
pruned:
  description: The directories removed by O(prune) (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
unlocked:
  description: Whether O(unlock) removed the lock (never in check mode).
  returned: always
  type: bool
"""

import grp
import os
import pwd
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils.run_lock import give_back
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils.state_write import DIRECTORIES_SPEC, FILES_SPEC, write_state


def main():
    module = AnsibleModule(
        argument_spec={
            "files": FILES_SPEC,
            "prune": {"type": "dict", "options": {
                "parents": {"type": "list", "elements": "path", "required": True},
                "keep": {"type": "list", "elements": "path", "required": True},
            }},
            "link": {"type": "dict", "options": {
                "path": {"type": "path", "required": True},
                "src": {"type": "path", "required": True},
                "owner": {"type": "str", "required": True},
                "group": {"type": "str", "required": True},
            }},
            "unlock": {"type": "dict", "options": {
                "path": {"type": "path", "required": True},
                "owner": {"type": "str", "required": True},
            }},
            "directories": DIRECTORIES_SPEC,
        },
        supports_check_mode=True,
    )
    made, changed = write_state(module, module.params["directories"], module.params["files"])
    link = module.params["link"]
    link_changed = False
    if link:
        try:
            link_changed = os.readlink(link["path"]) != link["src"]
        except OSError:
            link_changed = True
        if link_changed and not module.check_mode:
            temporary = "%s.%d.new" % (link["path"], os.getpid())
            try:
                os.symlink(link["src"], temporary)
                os.lchown(temporary, pwd.getpwnam(link["owner"]).pw_uid, grp.getgrnam(link["group"]).gr_gid)
                os.rename(temporary, link["path"])
            except (OSError, KeyError) as error:
                if os.path.lexists(temporary):
                    os.unlink(temporary)
                module.fail_json(msg="cannot point %s at %s: %s" % (link["path"], link["src"], error), changed_keys=changed)
    pruned = []
    prune = module.params["prune"]
    if prune:
        keep = {os.path.normpath(path) for path in prune["keep"]}
        for parent in prune["parents"]:
            try:
                entries = sorted(os.scandir(parent), key=lambda entry: entry.name)
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and os.path.normpath(entry.path) not in keep:
                    pruned.append(entry.path)
                    if not module.check_mode:
                        shutil.rmtree(entry.path)
    # The lock is not part of the state: giving it back is no change.
    unlock = module.params["unlock"]
    unlocked = bool(unlock) and not module.check_mode and give_back(unlock["path"], unlock["owner"])
    module.exit_json(changed=bool(made) or bool(changed) or link_changed or bool(pruned), changed_keys=changed,
                     made_directories=made, link_changed=link_changed, pruned=pruned, unlocked=unlocked)


if __name__ == "__main__":
    main()
