"""state_install: files written whole with owner and mode, only what differs, a dry run and a diff, the
link swapped, and a release unpacked into a directory of its own."""

from __future__ import annotations

import io
import json
import os
import tarfile

from ansible_collections.fastapi_gunicorn.deploy.plugins.modules import state_install


def test_writes_whole_files_and_only_what_differs(run_module, tmp_path):
    target = tmp_path / "states" / "abc"
    (tmp_path / "states").mkdir()
    spec = {"directories": [{"path": str(target), "owner": "root", "group": "root", "mode": "0750"}],
            "files": [{"key": "conf", "dest": str(target / "conf.py"), "content": "workers = 2\n", "owner": "root", "group": "daemon", "mode": "0640"},
                      {"key": "env", "dest": str(target / "secret.env"), "content": "TOKEN=s3cret-value\n", "owner": "root", "group": "root",
                       "mode": "0600", "secret": True}]}
    dry = run_module(state_install.main, spec, check=True, diff=True)
    assert dry["changed"] and dry["changed_keys"] == ["conf", "env"] and dry["made_directories"] == [str(target)] and not target.exists(), dry
    first = run_module(state_install.main, spec, diff=True)
    assert first["changed_keys"] == ["conf", "env"] and first["made_directories"] == [str(target)], first
    assert "s3cret-value" not in json.dumps(first), "the secret content was echoed"
    assert [d["after"] for d in first["diff"]] == ["workers = 2\n", "(secret content)\n"]
    assert (target / "conf.py").read_text() == "workers = 2\n"
    assert oct((target / "conf.py").stat().st_mode & 0o777) == "0o640" and (target / "conf.py").stat().st_gid == 1
    assert oct(target.stat().st_mode & 0o777) == "0o750"
    again = run_module(state_install.main, spec)
    assert not again["changed"] and again["changed_keys"] == [], again
    os.chmod(target / "secret.env", 0o644)
    assert run_module(state_install.main, spec)["changed_keys"] == ["env"]
    assert oct((target / "secret.env").stat().st_mode & 0o777) == "0o600"
    assert not [p for p in target.iterdir() if p.name.startswith(".")], "a temporary file was left"


def test_copies_a_host_file_never_through_a_link_and_swaps_the_link(run_module, tmp_path):
    releases = tmp_path / "releases"
    for name in ("r1", "r2"):
        (releases / name).mkdir(parents=True)
    (tmp_path / "src.py").write_text("x = 1\n")
    (tmp_path / "src-link").symlink_to(tmp_path / "src.py")
    current = tmp_path / "current"
    current.symlink_to(releases / "r1")
    link = {"path": str(current), "src": str(releases / "r2"), "owner": "root", "group": "root"}
    files = [{"key": "conf", "src": str(tmp_path / "src.py"), "dest": str(tmp_path / "conf.py"), "owner": "root", "group": "root", "mode": "0644"}]
    dry = run_module(state_install.main, {"link": link, "files": files}, check=True)
    assert dry["link_changed"] and os.readlink(current) == str(releases / "r1") and not (tmp_path / "conf.py").exists(), dry
    done = run_module(state_install.main, {"link": link, "files": files}, diff=True)
    assert done["link_changed"] and os.readlink(current) == str(releases / "r2") and (tmp_path / "conf.py").read_text() == "x = 1\n"
    assert run_module(state_install.main, {"link": link, "files": files})["changed"] is False
    refused = run_module(state_install.main, {"files": [dict(files[0], src=str(tmp_path / "src-link"))]})
    assert refused.get("failed") and "not a regular file" in refused["msg"], refused


def test_unpacks_a_release_into_a_directory_of_its_own(run_module, tmp_path):
    archive = tmp_path / "code.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in (("main.py", b"app = 1\n"), ("pkg/mod.py", b"x = 2\n"), (".fastapi_gunicorn_release", b"c0ffee\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (tmp_path / "releases").mkdir()
    dest = tmp_path / "releases" / "r1"
    spec = {"archive": {"src": str(archive), "dest": str(dest), "owner": "root", "group": "root"}}
    dry = run_module(state_install.main, spec, check=True)
    assert dry["unpacked"] and not dest.exists()
    done = run_module(state_install.main, spec)
    assert done["unpacked"] and (dest / "pkg" / "mod.py").read_text() == "x = 2\n" and (dest / ".fastapi_gunicorn_release").exists()
    assert sorted(os.listdir(tmp_path / "releases")) == ["r1"], "a work directory was left"
    assert not run_module(state_install.main, spec)["unpacked"], "an existing release was unpacked again"


def test_a_hostile_archive_leaves_nothing(run_module, tmp_path):
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tar:
        tar.addfile(tarfile.TarInfo("ok.py"), io.BytesIO(b""))
        info = tarfile.TarInfo("leak")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tar.addfile(info)
    (tmp_path / "releases").mkdir()
    result = run_module(state_install.main, {"archive": {"src": str(archive), "dest": str(tmp_path / "releases" / "r1"),
                                                         "owner": "root", "group": "root"}})
    assert result.get("failed") and "refused" in result["msg"] and os.listdir(tmp_path / "releases") == [], result
