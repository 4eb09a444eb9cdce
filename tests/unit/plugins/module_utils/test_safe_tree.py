"""Taking a build's tree over, unpacking and removing, never through a link."""

from __future__ import annotations

import io
import os
import tarfile

import pytest
from ansible_collections.fastapi_gunicorn.deploy.plugins.module_utils import safe_tree

BUILD = 4242  # the build account, as a uid no account has here


def build_tree(root):
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_text("#!/bin/sh\n")
    os.chmod(root / "bin" / "tool", 0o4777)
    (root / "lib64").symlink_to("lib")
    (root / "python").symlink_to("/usr/bin/python3")
    for path in [root, root / "bin", root / "bin" / "tool"]:
        os.lchown(path, BUILD, BUILD)
    os.lchown(root / "lib64", BUILD, BUILD)
    os.lchown(root / "python", BUILD, BUILD)


def test_seal_takes_every_entry_without_write_or_set_id_bits(tmp_path):
    root = tmp_path / "venvs" / "v1"
    build_tree(root)
    outside = tmp_path / "outside"
    outside.write_text("x")
    os.chown(outside, BUILD, BUILD)
    (root / "escape").symlink_to(outside)
    os.lchown(root / "escape", BUILD, BUILD)
    assert safe_tree.seal(str(root), BUILD, 0, 0) == 6
    tool = os.stat(root / "bin" / "tool")
    assert (tool.st_uid, oct(tool.st_mode & 0o7777)) == (0, "0o755")
    assert os.lstat(root / "escape").st_uid == 0 and os.stat(outside).st_uid == BUILD, "a link was followed"


@pytest.mark.parametrize("plant", ["hardlink", "foreign", "fifo"])
def test_seal_refuses_what_a_build_may_not_leave(tmp_path, plant):
    root = tmp_path / "venvs" / "v1"
    build_tree(root)
    if plant == "hardlink":
        victim = tmp_path / "victim"
        victim.write_text("root's")
        os.chown(victim, BUILD, BUILD)
        os.link(victim, root / "bin" / "linked")
    elif plant == "foreign":
        (root / "bin" / "planted").write_text("x")
        os.chown(root / "bin" / "planted", 1, 1)
    else:
        os.mkfifo(root / "bin" / "pipe")
        os.chown(root / "bin" / "pipe", BUILD, BUILD)
    with pytest.raises(safe_tree.Refused):
        safe_tree.seal(str(root), BUILD, 0, 0)


def test_seal_refuses_a_top_that_is_a_link(tmp_path):
    (tmp_path / "venvs").mkdir()
    (tmp_path / "real").mkdir()
    (tmp_path / "venvs" / "v1").symlink_to(tmp_path / "real")
    with pytest.raises(OSError):
        safe_tree.seal(str(tmp_path / "venvs" / "v1"), BUILD, 0, 0)


def tarball(path, members):
    with tarfile.open(path, "w") as tar:
        for name, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size, info.mode = 2, 0o755 if name.endswith(".sh") else 0o600
                tar.addfile(info, io.BytesIO(b"ok"))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
                tar.addfile(info)


def test_unpack_makes_a_tree_of_plain_files(tmp_path):
    tarball(tmp_path / "a.tar", [("app", "dir"), ("app/main.py", "file"), ("run.sh", "file"), ("deep/er/x.py", "file")])
    safe_tree.unpack(str(tmp_path / "a.tar"), str(tmp_path / "out"), 0, 0)
    assert (tmp_path / "out" / "app" / "main.py").read_text() == "ok"
    assert oct(os.stat(tmp_path / "out" / "run.sh").st_mode & 0o777) == "0o755"
    assert oct(os.stat(tmp_path / "out" / "app" / "main.py").st_mode & 0o777) == "0o644"
    assert oct(os.stat(tmp_path / "out" / "deep" / "er").st_mode & 0o777) == "0o755"


@pytest.mark.parametrize("member", [("../x", "file"), ("/etc/x", "file"), ("a/../../x", "file"), ("leak", "link")])
def test_unpack_refuses_a_member_out_of_the_tree(tmp_path, member):
    tarball(tmp_path / "bad.tar", [member])
    with pytest.raises(safe_tree.Refused):
        safe_tree.unpack(str(tmp_path / "bad.tar"), str(tmp_path / "out"), 0, 0)
    assert not (tmp_path / "out").exists() and not (tmp_path / "x").exists()


def test_remove_does_not_follow_a_link(tmp_path):
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "f").write_text("x")
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "in").symlink_to(tmp_path / "keep")
    (tmp_path / "top").symlink_to(tmp_path / "keep")
    safe_tree.remove(str(tmp_path / "tree"))
    safe_tree.remove(str(tmp_path / "top"))
    assert (tmp_path / "keep" / "f").exists() and not (tmp_path / "tree").exists() and not (tmp_path / "top").exists()
