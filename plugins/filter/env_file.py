# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Variables as the text of a systemd EnvironmentFile."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: env_file
short_description: Variables as the text of a systemd C(EnvironmentFile=), every value byte for byte
version_added: 2.1.0
description:
  - One C(NAME="value") line per variable, sorted by name. In double quotes systemd keeps newlines and every other
    byte as they are; only C(\), C("), C($) and the backquote are escaped (C($) would start a variable, and a
    trailing backslash would join the next line).
  - systemd reads the file as root when it starts the unit, so a root-only file gives the values to a process
    that cannot read the file, and keeps them out of the unit, where C(systemctl show) prints them to any account.
options:
  _input:
    description: The variables, by name.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Write the secret environment, root's alone
  ansible.builtin.copy:
    content: "{{ {'DATABASE_URL': vault_database_url} | fastapi_gunicorn.deploy.env_file }}"
    dest: /etc/orders/secret.env
    owner: root
    group: root
    mode: "0600"
"""

RETURN = r"""
_value:
  description: The file's text.
  type: str
"""


def env_file(variables):
    lines = []
    for name, value in sorted((variables or {}).items()):
        escaped = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
        lines.append('%s="%s"\n' % (name, escaped))
    return "".join(lines)


class FilterModule:
    def filters(self):
        return {"env_file": env_file}
