"""state_record puts the state first, keeps what the record names, and prunes the rest (root's only)."""

from __future__ import annotations

import json
import os

from ansible_collections.fastapi_gunicorn.deploy.plugins.modules import state_record


def layout(tmp_path):
    paths = {name: str(tmp_path / name) for name in ("states", "releases", "venvs", "pythons", "builds")}
    for path in paths.values():
        os.mkdir(path)
    return paths


def entry(n, python="/usr/bin/python3"):
    return {"state": f"s{n}", "release": f"r{n}", "venv": f"/VENVS/v{n}", "python": python, "digests": {"conf": f"d{n}"}}


def test_records_newest_first_keeps_n_and_prunes_the_rest(run_module, tmp_path):
    paths = layout(tmp_path)
    for n in range(4):
        for kind, name in (("states", f"s{n}"), ("releases", f"r{n}"), ("venvs", f"v{n}")):
            os.mkdir(os.path.join(paths[kind], name))
    os.mkdir(os.path.join(paths["pythons"], "abc"))
    os.mkdir(os.path.join(paths["builds"], "v3"))
    os.mkdir(os.path.join(paths["releases"], "foreign"))
    os.chown(os.path.join(paths["releases"], "foreign"), 4242, 4242)
    record = tmp_path / "app.fact"
    record.write_text(json.dumps({"history": [entry(1), entry(0)]}))

    def fix(e):
        return dict(e, venv=os.path.join(paths["venvs"], os.path.basename(e["venv"])))

    spec = {"path": str(record), "keep": 3, "layout": paths, "instance": {"service": "app", "base_dir": "/srv/app", "config_dir": "/etc/app"},
            "state": fix(entry(3, python=os.path.join(paths["pythons"], "abc", "bin", "python3")))}
    with_record = json.loads(record.read_text())
    with_record["history"] = [fix(e) for e in with_record["history"]]
    record.write_text(json.dumps(with_record))
    dry = run_module(state_record.main, spec, check=True, diff=True)
    assert dry["changed"] and [h["state"] for h in dry["history"]] == ["s3", "s1", "s0"] and os.path.isdir(os.path.join(paths["states"], "s2"))
    done = run_module(state_record.main, spec)
    assert [h["state"] for h in done["history"]] == ["s3", "s1", "s0"] and done["history"][0]["since"]
    written = json.loads(record.read_text())
    assert written["fastapi_gunicorn"] == {"service": "app", "base_dir": "/srv/app", "config_dir": "/etc/app"}
    assert [h["state"] for h in written["history"]] == ["s3", "s1", "s0"]
    assert sorted(os.listdir(paths["states"])) == ["s0", "s1", "s3"] and sorted(os.listdir(paths["venvs"])) == ["v0", "v1", "v3"]
    assert os.listdir(paths["pythons"]) == ["abc"] and os.listdir(paths["builds"]) == []
    assert "foreign" in os.listdir(paths["releases"]) and done["left_alone"] == [os.path.join(paths["releases"], "foreign")]
    assert oct(os.stat(record).st_mode & 0o777) == "0o644"


def test_keep_below_two_and_a_broken_record_are_refused(run_module, tmp_path):
    paths = layout(tmp_path)
    record = tmp_path / "app.fact"
    base = {"path": str(record), "layout": paths, "state": entry(1), "instance": {"service": "a", "base_dir": "/b", "config_dir": "/c"}}
    result = run_module(state_record.main, dict(base, keep=1))
    assert result.get("failed") and "at least 2" in result["msg"]
    record.write_text("{broken")
    result = run_module(state_record.main, dict(base, keep=3))
    assert result.get("failed") and "not a record" in result["msg"]
