# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""What every module of the collection documents alike."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  platform:
    support: full
    platforms: posix
    description: Debian-family hosts are the ones tested (the roles refuse others); the module itself needs only POSIX.
author:
  - fastapi_gunicorn maintainers (@fastapi-gunicorn)
"""

    # The filters that read a service's kept states from a read of its host.
    STATES = r"""
options:
  states_dir:
    description: The directory of the states' files on the host.
    type: str
    required: true
  service:
    description: The service's unit name, without C(.service).
    type: str
    required: true
"""
