# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Resolve a git ref to one commit on the controller and export that commit's tree."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: git_source
short_description: Resolve a git ref to a commit and export the commit's files on the controller
version_added: 1.3.0
description:
  - Keeps a mirror of the repository in O(cache_dir) (cloned once, fetched on each call), resolves
    O(ref) (a branch, tag or commit) to a full commit id, and exports that commit's files, without
    C(.git), into C(<cache_dir>/trees/<commit>/), once; an exported tree is reused.
  - With O(commit) the ref is not resolved again, and that commit is exported (fetched first when the
    mirror lacks it). The rollout role passes the commit it resolved once, so every batch deploys it.
  - git runs without a terminal prompt, so a repository that asks for credentials fails at once.
options:
  _terms:
    description: The repository, a URL or a path on the controller.
    required: true
  ref:
    description: Branch, tag or commit to resolve.
    type: str
    default: HEAD
  commit:
    description: A commit already resolved; O(ref) is then ignored.
    type: str
    default: ""
  cache_dir:
    description: Where mirrors and exported trees are kept on the controller; the 20 most recently used trees are kept, and any used in the last hour.
    type: path
    default: ~/.cache/fastapi_gunicorn/git
"""

EXAMPLES = r"""
- name: Export the commit a tag points at
  ansible.builtin.set_fact:
    app_git: "{{ lookup('fastapi_gunicorn.deploy.git_source', 'https://git.example.com/team/app.git', ref='v1.4.2') }}"

- name: Show the commit and where its files are
  ansible.builtin.debug:
    msg: "{{ app_git.commit }} in {{ app_git.path }}"
"""

RETURN = r"""
_raw:
  description: One dict with C(commit) (the full commit id) and C(path) (the exported tree).
  type: list
  elements: dict
"""

import hashlib
import os
import shutil
import subprocess
import tempfile

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils.controller_cache import cached_tree

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "SSH_ASKPASS": "/bin/false", "GIT_CONFIG_NOSYSTEM": "1"}


def git(*args, cwd=None):
    env = dict(os.environ, **GIT_ENV)
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise AnsibleLookupError((result.stderr.strip().splitlines() or ["git " + args[0] + " failed"])[-1])
    return result.stdout.strip()


def mirror(repo, cache_dir):
    """The repository's mirror in the cache, made or brought up to date."""
    path = os.path.join(cache_dir, "mirrors", hashlib.sha256(repo.encode()).hexdigest()[:16] + ".git")
    if os.path.isdir(path):
        git("--git-dir", path, "fetch", "--prune", "--quiet", "origin")  # a mirror fetches every ref
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        work = tempfile.mkdtemp(dir=os.path.dirname(path), prefix=".clone-")
        try:
            git("clone", "--mirror", "--quiet", "--", repo, work)
            os.rename(work, path)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return path


def commit_of(path, name):
    try:
        return git("--git-dir", path, "rev-parse", "--verify", "--quiet", "--end-of-options", name + "^{commit}")
    except AnsibleLookupError:
        return ""


def export(path, commit, cache_dir):
    """The commit's files, without .git, in trees/<commit>/ (made once)."""

    def make(work):
        archive = subprocess.run(["git", "--git-dir", path, "archive", "--format=tar", commit], capture_output=True,
                                 env=dict(os.environ, **GIT_ENV), timeout=600, check=False)
        if archive.returncode != 0:
            raise AnsibleLookupError(archive.stderr.decode(errors="replace").strip() or "git archive failed")
        subprocess.run(["tar", "-x", "-C", work], input=archive.stdout, check=True, timeout=600)
        return work

    return cached_tree(os.path.join(cache_dir, "trees"), commit, make)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1 or not terms[0]:
            raise AnsibleLookupError("git_source takes one repository")
        repo, ref, pinned = terms[0], self.get_option("ref"), self.get_option("commit")
        cache_dir = os.path.expanduser(self.get_option("cache_dir"))
        try:
            path = mirror(repo, cache_dir)
        except AnsibleLookupError as error:
            raise AnsibleLookupError(f"fastapi_gunicorn_app_git_repo {repo} cannot be read: {error}") from None
        if pinned:
            commit = commit_of(path, pinned)
            if not commit:
                raise AnsibleLookupError(f"fastapi_gunicorn_app_git_commit {pinned} is not a commit of {repo}")
        else:
            commit = commit_of(path, ref)
            if not commit:
                raise AnsibleLookupError(f"fastapi_gunicorn_app_git_ref {ref} is not a branch, tag or commit of {repo}")
        return [{"commit": commit, "path": export(path, commit, cache_dir)}]
