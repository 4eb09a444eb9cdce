#!/usr/bin/python
# -*- coding: utf-8 -*-
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: state_install
short_description: Put the files, code and link of a fastapi_gunicorn state in place
version_added: 2.0.0
description:
  - Installs the pieces of a state in one call, in this order. O(directories) are made where missing. O(archive),
    a tarball on the controller, is unpacked into a new directory. O(files) are written. Then O(link) is pointed
    at its target.
  - A file is written in full under a temporary name with its owner, group and mode, then moved over the old one
    (C(atomic_move)), so a reader sees the old file or the new one, never a part. A file whose content, owner,
    group and mode already match is left alone. A link is swapped by renaming a new link over it, so the path
    never goes missing.
  - An archive is unpacked into a directory of its own, made whole, then renamed to O(archive.dest), so the release
    is there in full or not at all. It may hold only plain files and directories inside the tree.
  - It writes and reads nothing through a link.
options:
  directories:
    description: Directories to make when missing.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The directory.
        type: path
        required: true
      owner:
        description: Its owner.
        type: str
        required: true
      group:
        description: Its group.
        type: str
        required: true
      mode:
        description: Its octal mode, like C(0750).
        type: str
        required: true
  archive:
    description:
      - A tarball of plain files and directories on the controller (the action plugin sends it), unpacked into
        O(archive.dest) when that directory is not there yet. Its entries are given to O(archive.owner) and
        O(archive.group), mode 0644 (0755 for an executable file) and directories 0755.
    type: dict
    suboptions:
      src:
        description: The tarball on the controller.
        type: path
        required: true
      dest:
        description: The directory it becomes. Its parent must exist.
        type: path
        required: true
      owner:
        description: The owner of every entry.
        type: str
        required: true
      group:
        description: The group of every entry.
        type: str
        required: true
  files:
    description: Files to write.
    type: list
    elements: dict
    default: []
    suboptions:
      key:
        description: A name for the file, returned in RV(changed_keys) when it is written.
        type: str
        required: true
      dest:
        description: Where the file goes. Its directory must exist.
        type: path
        required: true
      content:
        description: The file's text. It is never logged. One of O(files[].content) and O(files[].src).
        type: str
      src:
        description: A regular file on the host to copy (read without following a link).
        type: path
      owner:
        description: Its owner.
        type: str
        required: true
      group:
        description: Its group.
        type: str
        required: true
      mode:
        description: Its octal mode, like C(0640).
        type: str
        required: true
      secret:
        description: Its content is secret, so a diff shows only that it changed.
        type: bool
        default: false
  link:
    description: A symbolic link to point at O(link.src) once everything else is in place.
    type: dict
    suboptions:
      path:
        description: The link.
        type: path
        required: true
      src:
        description: What it points at.
        type: path
        required: true
      owner:
        description: The link's owner.
        type: str
        required: true
      group:
        description: The link's group.
        type: str
        required: true
attributes:
  action:
    support: full
    description: The action plugin sends O(archive.src) to the host in the same task.
  check_mode:
    support: full
    description: A dry run reports what would be made, unpacked, written and moved, and does none of it.
  diff_mode:
    support: full
    description: Text files show their content before and after; a secret file shows only that it changed.
  safe_file_operations:
    support: full
    description: Files are moved into place with C(atomic_move), which keeps SELinux contexts.
extends_documentation_fragment:
  - fastapi_gunicorn.deploy.module
"""

EXAMPLES = r"""
- name: Make a new release of orders, with its state's files beside it
  fastapi_gunicorn.deploy.state_install:
    directories:
      - {path: /etc/orders/states/0123456789ab, owner: root, group: orders, mode: "0750"}
    archive:
      src: /home/deploy/.cache/fastapi_gunicorn/sources/4d5e6f708192.tar.gz
      dest: /srv/orders/releases/v42
      owner: root
      group: root
    files:
      - key: conf
        dest: /etc/orders/states/0123456789ab/gunicorn_conf.py
        content: "workers = 2\n"
        owner: root
        group: orders
        mode: "0640"

- name: Make that state live
  fastapi_gunicorn.deploy.state_install:
    files:
      - key: conf
        src: /etc/orders/states/0123456789ab/gunicorn_conf.py
        dest: /etc/orders/gunicorn_conf.py
        owner: root
        group: orders
        mode: "0640"
    link:
      path: /srv/orders/current
      src: /srv/orders/releases/v42
      owner: root
      group: root
"""

RETURN = r"""
made_directories:
  description: The paths of O(directories) made (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [/etc/orders/states/0123456789ab]
unpacked:
  description: Whether O(archive) was unpacked (in check mode, would be).
  returned: always
  type: bool
  sample: true
changed_keys:
  description: The keys of the files written (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [conf]
link_changed:
  description: Whether O(link) was moved (in check mode, would be).
  returned: always
  type: bool
  sample: true
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils import files, safe_tree


def unpack(module, spec):
    """Unpack the archive into dest, through a new directory renamed into place; whether it did (or would)."""
    dest = spec["dest"]
    try:
        if os.path.lexists(dest):
            return False
        if module.check_mode:
            return True
        uid, gid = files.ids(spec["owner"], spec["group"])
        work = os.path.join(os.path.dirname(dest), ".%s.new-%d" % (os.path.basename(dest), os.getpid()))
        try:
            safe_tree.unpack(spec["src"], work, uid, gid)
            os.rename(work, dest)
        finally:
            if os.path.lexists(work):
                safe_tree.remove(work)
        return True
    except (OSError, KeyError, safe_tree.Refused) as error:
        module.fail_json(msg="cannot unpack %s into %s: %s" % (os.path.basename(spec["src"]), dest, error))


def main():
    module = AnsibleModule(
        argument_spec={
            "directories": {"type": "list", "elements": "dict", "default": [], "options": files.DIRECTORY_OPTIONS},
            "archive": {"type": "dict", "options": {"src": {"type": "path", "required": True}, "dest": {"type": "path", "required": True},
                                                    "owner": {"type": "str", "required": True}, "group": {"type": "str", "required": True}}},
            "files": files.FILES_SPEC,
            "link": {"type": "dict", "options": {"path": {"type": "path", "required": True}, "src": {"type": "path", "required": True},
                                                 "owner": {"type": "str", "required": True}, "group": {"type": "str", "required": True}}},
        },
        supports_check_mode=True,
    )
    params, diff = module.params, []
    made = []
    for spec in params["directories"]:
        try:
            if files.make_directory(module, spec):
                made.append(spec["path"])
        except (OSError, KeyError) as error:
            module.fail_json(msg="cannot make %s: %s" % (spec["path"], error), made_directories=made)
    unpacked = bool(params["archive"]) and unpack(module, params["archive"])
    changed_keys = files.install_files(module, params["files"], diff)
    link_changed = bool(params["link"]) and files.point_link(module, params["link"], diff)
    result = {"changed": bool(made or unpacked or changed_keys or link_changed), "made_directories": made, "unpacked": unpacked,
              "changed_keys": changed_keys, "link_changed": link_changed}
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
