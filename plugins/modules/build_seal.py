#!/usr/bin/python
# -*- coding: utf-8 -*-
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: build_seal
short_description: Take a build's output back from the build account, without following a link
version_added: 2.0.0
description:
  - A virtualenv is built by an unprivileged build account, in a directory that account owns. Once the build has
    ended (no process of the account may still run), this module takes the tree over for the deploy owner. It
    walks it by open directories, never following a link, refuses anything but directories, regular files with
    one name and symbolic links, refuses entries the build account does not own, and gives every entry to
    O(owner) and O(group) without set-id bits or write bits for others. Then it writes O(files) into the tree,
    the last one marking it complete.
  - With O(state=absent) it takes the top directory back from the build account and removes the tree, never
    following a link (what a failed build left).
options:
  path:
    description: The build's output directory. Its parent must be root's alone.
    type: path
    required: true
  build_user:
    description: The account the build ran as.
    type: str
    required: true
  owner:
    description: Who owns the tree once it is sealed.
    type: str
    default: root
  group:
    description: Its group once it is sealed.
    type: str
    default: root
  state:
    description: C(sealed) takes the tree over; C(absent) removes it.
    type: str
    choices: [sealed, absent]
    default: sealed
  files:
    description: Files written into the sealed tree, in order (O(owner), O(group), 0644).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The file's name in the top directory.
        type: str
        required: true
      content:
        description: Its text.
        type: str
        required: true
attributes:
  check_mode:
    support: full
    description: A dry run reports whether the tree would be sealed or removed, and changes nothing.
  diff_mode:
    support: none
    description: A build's output is too large to show.
extends_documentation_fragment:
  - fastapi_gunicorn.deploy.module
"""

EXAMPLES = r"""
- name: Take the new virtualenv of orders from the build account and mark it complete
  fastapi_gunicorn.deploy.build_seal:
    path: /srv/orders/venvs/3f9a1c2b4d5e
    build_user: orders-build
    files:
      - {name: requirements.txt, content: "fastapi==0.165.0\n"}
      - {name: .complete, content: "fastapi==0.165.0\n"}

- name: Remove what a failed build left
  fastapi_gunicorn.deploy.build_seal:
    path: /srv/orders/venvs/3f9a1c2b4d5e
    build_user: orders-build
    state: absent
"""

RETURN = r"""
entries:
  description: How many entries were taken over.
  returned: O(state=sealed)
  type: int
  sample: 4120
"""

import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils import files, safe_tree


def running_as(uid):
    """The pids of processes that run as uid."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat("/proc/" + name).st_uid == uid:
                    pids.append(int(name))
            except OSError:
                pass
    return pids


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "build_user": {"type": "str", "required": True},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "default": "root"},
            "state": {"type": "str", "choices": ["sealed", "absent"], "default": "sealed"},
            "files": {"type": "list", "elements": "dict", "default": [], "options": {
                "name": {"type": "str", "required": True}, "content": {"type": "str", "required": True}}},
        },
        supports_check_mode=True,
    )
    params = module.params
    path = os.path.normpath(params["path"])
    if module.check_mode:
        module.exit_json(changed=params["state"] == "sealed" or os.path.lexists(path), entries=0)
    if not os.path.lexists(path):
        if params["state"] == "sealed":
            module.fail_json(msg="%s is not there: the build made nothing" % path)
        module.exit_json(changed=False)
    try:
        build_uid = pwd.getpwnam(params["build_user"]).pw_uid
        uid, gid = files.ids(params["owner"], params["group"])
    except KeyError as error:
        module.fail_json(msg=str(error))
    if build_uid == 0:
        module.fail_json(msg="build_user must not be root")
    still = running_as(build_uid)
    if still:
        module.fail_json(msg="processes of %s still run (%s): a build's output is taken over only once the build has ended"
                         % (params["build_user"], ", ".join(map(str, still[:10]))))
    try:
        if params["state"] == "absent":
            if os.path.isdir(path) and not os.path.islink(path):
                top = safe_tree.open_directory(path)
                try:
                    os.fchown(top, 0, 0)
                finally:
                    os.close(top)
            safe_tree.remove(path)
            module.exit_json(changed=True)
        entries = safe_tree.seal(path, build_uid, uid, gid)
    except (OSError, safe_tree.Refused) as error:
        module.fail_json(msg="cannot take over %s from %s: %s" % (path, params["build_user"], error))
    for spec in params["files"]:
        files.write_file(module, os.path.join(path, spec["name"]), spec["content"].encode("utf-8"), uid, gid, 0o644)
    module.exit_json(changed=True, entries=entries)


if __name__ == "__main__":
    main()
