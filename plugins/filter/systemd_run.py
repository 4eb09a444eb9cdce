# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""The argv prefix of a command run by systemd in a transient, sandboxed unit."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: systemd_run
short_description: The argv that runs a command as an account in a transient, sandboxed systemd unit
version_added: 2.0.0
description:
  - Returns C(systemd-run) with C(--wait --pipe --collect), the account, one C(--property) per unit setting (a sandbox),
    one C(--setenv) per variable, the working directory and C(--), then the words of O(command). Its exit status and
    output are the task's.
  - systemd expands C($NAME) and C(${NAME}) in a transient unit's command line, so each C($) of O(command) is written
    C($$) and reaches the command as it was. Words added after the returned argv must be escaped so by the caller.
  - Any account may read a transient unit's environment (C(systemctl show)), so secrets go in a root-only file named
    by an C(EnvironmentFile=) property, which systemd reads as root.
options:
  _input:
    description: How the command runs.
    type: dict
    required: true
    suboptions:
      user:
        description: The account.
        type: str
        required: true
      group:
        description: Its group.
        type: str
        required: true
      properties:
        description: Unit settings, like C(ProtectSystem=strict).
        type: list
        elements: str
      environment:
        description: Environment variables, by name, passed on the command line (never secrets).
        type: dict
  properties:
    description: More unit settings for this command (like the state's C(EnvironmentFile=)).
    type: list
    elements: str
    default: []
  working_directory:
    description: Where the command starts.
    type: str
  command:
    description: The command's words.
    type: list
    elements: str
    default: []
    version_added: 2.1.0
"""

EXAMPLES = r"""
- name: Import the app as its service user, sandboxed
  ansible.builtin.command:
    argv: >-
      {{ {'user': 'orders', 'group': 'orders', 'properties': ['ProtectSystem=strict', 'PrivateTmp=yes'], 'environment': {'APP_ENV': 'prod'}}
         | fastapi_gunicorn.deploy.systemd_run(working_directory='/srv/orders/current',
                                               command=['/srv/orders/venvs/3f9a1c2b4d5e/bin/python', '-c', 'import main']) }}
  changed_when: false

- name: Build as the build account, the index credentials in a root-only file
  ansible.builtin.command:
    argv: >-
      {{ {'user': 'orders-build', 'group': 'orders-build'}
         | fastapi_gunicorn.deploy.systemd_run(['EnvironmentFile=/srv/orders/builds/3f9a1c2b4d5e/index.env'],
                                               command=['/bin/sh', '-ec', 'pip download -d "$HOME/w" "$1"', 'build', 'fastapi']) }}
  changed_when: true
"""

RETURN = r"""
_value:
  description: The argv.
  type: list
  elements: str
"""

from ansible_collections.fastapi_gunicorn.deploy.plugins.plugin_utils import state


def systemd_run(spec, properties=(), working_directory=None, command=()):
    return state.systemd_run(spec["user"], spec["group"], list(spec.get("properties") or []) + list(properties),
                             {str(name): str(value) for name, value in (spec.get("environment") or {}).items()}, working_directory, command)


class FilterModule:
    def filters(self):
        return {"systemd_run": systemd_run}
