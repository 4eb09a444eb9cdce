# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Which paths are, or sit inside, directories they must stay out of."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: paths_within
short_description: The paths that are, or sit inside, any of a list of directories
version_added: 2.0.0
description:
  - Compares absolute paths by their components (C(/srv/app) is inside C(/srv), C(/srvx) is not), after removing
    C(.) components and repeated or trailing slashes. A path with a C(..) component counts as inside every directory.
  - With O(overlap), a path that contains one of the directories counts too.
options:
  _input:
    description: The paths.
    type: list
    elements: str
    required: true
  directories:
    description: The directories.
    type: list
    elements: str
    required: true
  overlap:
    description: Also count a path that contains one of the directories.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Refuse a base directory in a directory other accounts may write
  ansible.builtin.assert:
    that: "['/var/lib/orders/srv'] | fastapi_gunicorn.deploy.paths_within(['/tmp', '/var/lib/orders']) == []"
"""

RETURN = r"""
_value:
  description: One C([path, directory]) pair for each path that is (or sits inside) a directory.
  type: list
  elements: list
"""


def components(path):
    return [part for part in str(path).split("/") if part not in ("", ".")]


def inside(child, parent):
    child, parent = components(child), components(parent)
    return ".." in child or child[:len(parent)] == parent


def paths_within(paths, directories, overlap=False):
    return [[path, directory] for path in paths for directory in directories
            if inside(path, directory) or (overlap and inside(child=directory, parent=path))]


class FilterModule:
    def filters(self):
        return {"paths_within": paths_within}
