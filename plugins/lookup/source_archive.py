# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Pack an application source directory on the controller: content hash and a deterministic archive."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: source_archive
short_description: Hash an application source directory and pack it into a cached, deterministic archive
version_added: 1.1.0
description:
  - Walks the directory, leaving out what matches O(excludes), hashes the paths and contents of what is
    left, and packs it into C(<hash>.tar.gz) in O(cache_dir), once; the archive of a hash is reused.
  - The archive holds regular files (0644, or 0755 when executable) and directories (0755), owned by
    root, with fixed times, so the same content gives the same bytes. A symbolic link is packed as the
    file it points at, and only when that file is inside the source.
  - When O(marker) is given, a last member of that name holds the hash, so a release directory whose
    marker is present was unpacked completely.
options:
  _terms:
    description: The source directory.
    required: true
  excludes:
    description:
      - Patterns (shell-style) left out. One without C(/) matches a file or directory name at any depth,
        like C(__pycache__); one with C(/) matches the path from the source root, like C(docs/build).
    type: list
    elements: str
    default: []
  marker:
    description: Name of the completion marker written last into the archive.
    type: str
    default: ""
  cache_dir:
    description: Where archives are kept on the controller; the 20 most recently used are kept, and any used in the last hour.
    type: path
    default: ~/.cache/fastapi_gunicorn/sources
"""

EXAMPLES = r"""
- name: Pack an app directory, with a completion marker, leaving out caches
  ansible.builtin.set_fact:
    app_source: >-
      {{ lookup('fastapi_gunicorn.deploy.source_archive', playbook_dir ~ '/app', marker='.release',
                excludes=['__pycache__', '*.pyc', '.git', 'docs/build']) }}

- name: Unpack it on the host
  ansible.builtin.unarchive:
    src: "{{ app_source.archive }}"
    dest: "/srv/app/releases/{{ app_source.hash }}"
"""

RETURN = r"""
_raw:
  description: One dict with C(hash) (12 hex digits), C(archive) (its path) and C(files) (how many were packed).
  type: list
  elements: dict
"""

import fnmatch
import gzip
import hashlib
import io
import os
import tarfile
import tempfile

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils.controller_cache import claim, prune, touch

# A packed release: its content hash.
ARCHIVE = r"[0-9a-f]{12}\.tar\.gz"


def excluded(relative, patterns):
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(relative if "/" in pattern else name, pattern.strip("/")) for pattern in patterns)


def collect(root, patterns):
    """The files to ship, sorted: (relative path, absolute path), links resolved inside the root only."""
    real_root = os.path.realpath(root)
    found = []
    for directory, subdirectories, files in os.walk(root):
        relative_directory = os.path.relpath(directory, root)
        prefix = "" if relative_directory == "." else relative_directory + "/"
        subdirectories[:] = sorted(d for d in subdirectories if not excluded(prefix + d, patterns))
        for name in subdirectories + sorted(files):
            relative = prefix + name
            if excluded(relative, patterns):
                continue
            path = os.path.join(directory, name)
            target = os.path.realpath(path)
            if os.path.commonpath([real_root, target]) != real_root:
                raise AnsibleLookupError("fastapi_gunicorn_app_src: %s links outside the source (%s): exclude it (fastapi_gunicorn_app_excludes) "
                                         "or copy the file in" % (relative, target))
            if os.path.isfile(target) and name in files:
                found.append((relative, target))
    return sorted(found)


def pack(files, digest, marker, destination):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        directories = set()
        for relative, _path in files:
            parts = relative.split("/")[:-1]
            directories.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
        for directory in sorted(directories):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            archive.addfile(info)
        for relative, path in files:
            with open(path, "rb") as handle:
                data = handle.read()
            info = tarfile.TarInfo(relative)
            info.size, info.mtime = len(data), 0
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            archive.addfile(info, io.BytesIO(data))
        if marker:
            data = (digest + "\n").encode()
            info = tarfile.TarInfo(marker)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(destination), prefix=".work-")
    with os.fdopen(handle, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as compressed:
        compressed.write(buffer.getvalue())
    os.replace(temporary, destination)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError("source_archive takes one source directory")
        root = os.path.expanduser(str(terms[0]))
        if not os.path.isdir(root):
            raise AnsibleLookupError("%s is not a directory on the controller" % root)
        patterns = [str(pattern) for pattern in self.get_option("excludes")]
        marker = self.get_option("marker")
        files = collect(root, patterns + ([marker] if marker else []))

        summary = hashlib.sha256()
        for relative, path in files:
            with open(path, "rb") as handle:
                content = hashlib.sha256(handle.read()).hexdigest()
            summary.update(("%s  %s\n" % (content, relative)).encode())
        digest = summary.hexdigest()[:12]

        cache = claim(os.path.expanduser(self.get_option("cache_dir")), ARCHIVE)
        archive = os.path.join(cache, digest + ".tar.gz")
        if not touch(archive):
            pack(files, digest, marker, archive)
        prune(cache, ARCHIVE)
        return [{"hash": digest, "archive": archive, "files": len(files)}]
