# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Where the controller keeps the wheelhouse of a dependency set."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: wheelhouse
short_description: The controller's wheelhouse archive of a dependency set, for hosts without an index
version_added: 1.5.0
description:
  - Returns the path of C(<cache_dir>/<key>.tar), the wheels of one dependency set for one interpreter
    and architecture, whether or not it exists yet (the role fetches it there once, under a work name
    starting with C(.), then renames it into place).
  - An existing archive is marked as used; the 20 most recently used archives are kept, and any used in
    the last hour (another run may still need it); the rest are removed.
  - O(cache_dir) must be the wheelhouses' own directory, since it is pruned; it is refused unless it is new, empty,
    or holds the file C(.fastapi_gunicorn-cache) (written when the lookup first uses it). Without a key, the
    lookup only checks this and returns O(cache_dir).
options:
  _terms:
    description: The key, C(<venv name>-<architecture>); none to check O(cache_dir) only.
    required: false
  cache_dir:
    description: Where the archives are kept on the controller.
    type: path
    default: ~/.cache/fastapi_gunicorn/wheelhouses
"""

EXAMPLES = r"""
- name: Where the controller keeps the wheels of a dependency set for x86_64 hosts
  ansible.builtin.debug:
    msg: "{{ lookup('fastapi_gunicorn.deploy.wheelhouse', '3f9a1c2b4d5e-x86_64') }}"

- name: Check that the directory is for wheelhouses only
  ansible.builtin.assert:
    that: lookup('fastapi_gunicorn.deploy.wheelhouse', cache_dir='~/.cache/wheelhouses', errors='ignore') | default('', true) | length > 0
"""

RETURN = r"""
_raw:
  description: The archive's path on the controller (without a key, O(cache_dir)).
  type: list
  elements: str
"""

import os
import re

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils.controller_cache import NotACacheError, claim, prune, touch

# A wheelhouse archive: <venv name>-<architecture>.tar.
ARCHIVE = r"[0-9a-f]{12}-[A-Za-z0-9_]+\.tar"


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) > 1 or terms and not re.fullmatch(r"[0-9a-f]{12}-[A-Za-z0-9_]+", str(terms[0])):
            raise AnsibleLookupError(f"wheelhouse takes one key, <venv name>-<architecture>, not {terms!r}")
        cache_dir = os.path.expanduser(self.get_option("cache_dir"))
        try:
            claim(cache_dir, ARCHIVE)
        except NotACacheError as error:
            raise AnsibleLookupError(str(error)) from None
        if not terms:
            return [cache_dir]
        archive = os.path.join(cache_dir, terms[0] + ".tar")
        if touch(archive):
            prune(cache_dir, ARCHIVE)
        return [archive]
