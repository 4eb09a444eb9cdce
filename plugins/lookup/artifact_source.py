# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Fetch a release artifact on the controller, verify its checksum, and unpack it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: artifact_source
short_description: Verify an app artifact (tarball, sdist or wheel) by its sha256 and unpack it on the controller
version_added: 1.3.0
description:
  - Reads the artifact from a path on the controller, or downloads it from an http(s) URL into
    O(cache_dir), and compares its sha256 with O(checksum) before anything else is done with it.
  - Unpacks a C(.tar.gz), C(.tgz), C(.tar.xz), C(.tar) (a tarball or an sdist), or a C(.whl) or C(.zip),
    into C(<cache_dir>/trees/<sha256>/), once. When every member of a tarball sits in one top
    directory (an sdist, a tarball made with C(git archive --prefix)), its content is the tree.
  - A member with an absolute path, a C(..) component, or a link, device or other special file is
    refused.
options:
  _terms:
    description: The artifact, a path on the controller or an http(s) URL.
    required: true
  checksum:
    description: Its expected sha256, as C(sha256:<64 hex digits>) or the bare digits.
    type: str
    required: true
  cache_dir:
    description: Where downloads and unpacked trees are kept on the controller; the 20 most recently used of each are kept, and any used in the last hour.
    type: path
    default: ~/.cache/fastapi_gunicorn/artifacts
  unpack:
    description: Unpack the artifact; false returns the verified file itself (an archive a host unpacks).
    type: bool
    default: true
    version_added: 1.6.0
  variable:
    description: The variable that gave the artifact, named in errors (its checksum's is this name with C(_checksum)).
    type: str
    default: fastapi_gunicorn_app_artifact
    version_added: 1.6.0
"""

EXAMPLES = r"""
- name: Unpack a verified release tarball from a URL on the controller
  ansible.builtin.set_fact:
    app_tree: >-
      {{ lookup('fastapi_gunicorn.deploy.artifact_source', 'https://artifacts.example.com/app-1.4.2.tar.gz',
                checksum='sha256:0d5b5f9f4c6e0b1c2a7f8e3d4c5b6a79880716253443526170f8e9d0c1b2a3f4') }}

- name: Verify an interpreter archive without unpacking it (the host unpacks it)
  ansible.builtin.debug:
    msg: >-
      {{ lookup('fastapi_gunicorn.deploy.artifact_source', '/srv/artifacts/python-3.12.tar.gz', unpack=false,
                checksum=python_archive_sha256, variable='fastapi_gunicorn_python_archive').path }}
"""

RETURN = r"""
_raw:
  description: One dict with C(sha256) (the artifact's) and C(path) (the unpacked tree, or with O(unpack=false) the file).
  type: list
  elements: dict
"""

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import zipfile

from ansible.errors import AnsibleLookupError
from ansible.module_utils.urls import open_url
from ansible.plugins.lookup import LookupBase
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils.controller_cache import cached_tree, claim, prune, touch

# A download, by the checksum it must have and its file name.
DOWNLOAD = r"[0-9a-f]{64}-.+"

TARBALLS = (".tar.gz", ".tgz", ".tar.xz", ".tar")
ZIPS = (".whl", ".zip")


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(source, want, cache_dir, variable):
    """The artifact as a local file: the controller path itself, or the download (kept by checksum)."""
    if not re.match(r"https?://", source):
        if not os.path.isfile(source):
            raise AnsibleLookupError(f"{variable} {source} is not a file on the controller")
        return source
    downloads = claim(os.path.join(cache_dir, "downloads"), DOWNLOAD)
    path = os.path.join(downloads, want + "-" + os.path.basename(source.split("?", 1)[0]))
    if not touch(path):
        handle, partial = tempfile.mkstemp(dir=downloads, prefix=".download-")
        try:
            with os.fdopen(handle, "wb") as out, open_url(source, timeout=60) as response:
                shutil.copyfileobj(response, out)
            os.rename(partial, path)
        except Exception as error:  # any failure to download names the variable
            raise AnsibleLookupError(f"{variable} {source} cannot be downloaded: {error}") from None
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    prune(downloads, DOWNLOAD)
    return path


def safe(name):
    parts = name.replace("\\", "/").split("/")
    return name and not name.startswith("/") and ".." not in parts


def unpack(path, into):
    name = path.lower()
    if name.endswith(ZIPS):
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if not safe(member.filename) or (member.external_attr >> 16) & 0o170000 not in (0, 0o100000, 0o040000):
                    raise AnsibleLookupError(f"the artifact's member {member.filename} is refused (a path out of the tree or a special file)")
            archive.extractall(into)
    elif name.endswith(TARBALLS):
        with tarfile.open(path) as archive:
            members = archive.getmembers()
            for member in members:
                if not safe(member.name) or not (member.isfile() or member.isdir()):
                    raise AnsibleLookupError(f"the artifact's member {member.name} is refused (a path out of the tree, a link or a special file)")
            # Members are already limited to files and directories inside the tree; the data filter
            # (where this Python has it) also drops modes such as setuid.
            archive.extractall(into, members=members, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        entries = os.listdir(into)
        if len(entries) == 1 and os.path.isdir(os.path.join(into, entries[0])):
            return os.path.join(into, entries[0])
    else:
        raise AnsibleLookupError(f"fastapi_gunicorn_app_artifact {path} is not a {', '.join(TARBALLS + ZIPS)} file")
    return into


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1 or not terms[0]:
            raise AnsibleLookupError("artifact_source takes one artifact")
        source, variable = terms[0], self.get_option("variable")
        match = re.fullmatch(r"(?:sha256:)?([0-9a-fA-F]{64})", self.get_option("checksum") or "")
        if not match:
            raise AnsibleLookupError(f"{variable}_checksum must be sha256:<64 hex digits>")
        want = match.group(1).lower()
        cache_dir = os.path.expanduser(self.get_option("cache_dir"))
        path = fetch(source, want, cache_dir, variable)
        got = sha256_of(path)
        if got != want:
            if path != source:
                os.unlink(path)  # a bad download is not kept
            raise AnsibleLookupError(f"{variable}_checksum does not match {source}: its sha256 is {got}, not {want}")
        if not self.get_option("unpack"):
            return [{"sha256": want, "path": path}]
        tree = cached_tree(os.path.join(cache_dir, "trees"), want, lambda work: unpack(path, work))
        return [{"sha256": want, "path": tree}]
