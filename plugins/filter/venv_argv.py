# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""A command run from a virtualenv: its first word, when it has no '/', is a program of the venv."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: venv_argv
short_description: A command's argv that runs as in an activated virtualenv
version_added: 1.5.0
description:
  - Returns the command behind C(/usr/bin/env) with the virtualenv's C(bin) first on C(PATH), C(VIRTUAL_ENV) set and,
    with O(app), the app's directory on C(PYTHONPATH). A first word without C(/) is looked up on that C(PATH), so C(python),
    C(alembic) and C(celery) come from the venv, C(bash) from the system, and so does every program the command runs
    (an app's C(prestart.sh) that calls C(python)).
  - The app's directory on C(PYTHONPATH) makes its modules importable from a console script, which puts its own
    C(bin) directory first on C(sys.path), not the working directory (Alembic's C(env.py) importing the app's models).
options:
  _input:
    description: The command, one word per entry.
    type: list
    elements: str
    required: true
  venv:
    description: The virtualenv's directory.
    type: str
    required: true
  app:
    description: The app's directory, put on C(PYTHONPATH); none when empty.
    type: str
    default: ""
    version_added: 2.2.0
"""

EXAMPLES = r"""
- name: Run alembic from the release's virtualenv, the app importable
  ansible.builtin.command:
    argv: "{{ ['alembic', 'upgrade', 'head'] | fastapi_gunicorn.deploy.venv_argv('/srv/app/venvs/0123456789ab', app='/srv/app/releases/r1/backend') }}"
    chdir: /srv/app/releases/r1/backend
  changed_when: true
"""

RETURN = r"""
_value:
  description: C(/usr/bin/env), the environment's assignments, then the command.
  type: list
  elements: str
"""

# After the venv: the system's programs, in Debian's order.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def venv_argv(command, venv, app=""):
    return (["/usr/bin/env", "PATH=%s/bin:%s" % (venv, SYSTEM_PATH), "VIRTUAL_ENV=" + venv] + (["PYTHONPATH=" + app] if app else [])
            + list(command))


class FilterModule:
    def filters(self):
        return {"venv_argv": venv_argv}
