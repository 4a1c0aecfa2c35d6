"""Provenance manifest: hashes, config, code version, dependencies, creation time."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from csceval import provenance
from csceval.provenance import build_manifest, read_lock, write_manifest

CREATED = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def run(tmp_path):
    """A fake run folder (not a git checkout): two inputs, one output, a lock file."""
    (tmp_path / "data").mkdir()
    a = tmp_path / "data" / "b1.csv"
    a.write_text("time_period,value\n2024,1\n")
    b = tmp_path / "data" / "cla.csv"
    b.write_bytes(b"\xef\xbb\xbftime_period\n2025\n")
    out = tmp_path / "results" / "table.csv"
    out.parent.mkdir()
    out.write_text("x\n1\n")
    (tmp_path / "requirements.lock").write_text("# pins\npandas==3.1.1\nopenpyxl==3.1.5\nnot-installed-pkg==0.1\n")
    return tmp_path, [b, a], [out]


def test_manifest_records_files_config_and_time(run):
    repo, inputs, outputs = run
    config = {"report": {"disclosure": {"min_count": 1}}, "start": dt.date(2023, 7, 1), "codes": ("838", "925")}
    m = build_manifest(inputs, config, outputs, repo_dir=repo, created=CREATED)
    assert [r["path"] for r in m["inputs"]] == ["data/b1.csv", "data/cla.csv"], "inputs recorded relative to the repo, sorted"
    first = m["inputs"][0]
    assert first["sha256"] == hashlib.sha256((repo / "data" / "b1.csv").read_bytes()).hexdigest(), "sha256 of the file bytes"
    assert first["size_bytes"] == (repo / "data" / "b1.csv").stat().st_size, "size in bytes"
    assert m["outputs"][0]["path"] == "results/table.csv", "outputs recorded too"
    assert m["config"] == {"report": {"disclosure": {"min_count": 1}}, "start": "2023-07-01", "codes": ["838", "925"]}, "full config as JSON"
    assert m["created_utc"] == "2026-03-01T12:00:00Z", "creation time override, in UTC"
    assert m["code"]["source"] == "package" and m["code"]["git_commit"] is None, "outside a git checkout: the package version"
    assert m["code"]["package_version"], "the installed csceval version must be recorded"
    assert m["python"]["version"].startswith("3."), "python version recorded"


def test_dependencies_from_the_lock_file(run):
    repo, inputs, outputs = run
    m = build_manifest(inputs, {}, outputs, repo_dir=repo, created=CREATED)
    deps = m["dependencies"]
    assert set(deps) == {"pandas", "openpyxl", "not-installed-pkg"}, "the packages named in requirements.lock"
    assert deps["openpyxl"]["locked"] == "3.1.5" and deps["openpyxl"]["installed"], "locked and installed versions side by side"
    assert deps["not-installed-pkg"]["installed"] is None, "a missing package is recorded as not installed, not an error"
    assert "not-installed-pkg" in m["dependencies_not_as_locked"], "packages that differ from the lock are listed"
    given = build_manifest(inputs, {}, outputs, repo_dir=repo, created=CREATED, packages=["numpy"])
    assert list(given["dependencies"]) == ["numpy"], "an explicit package list replaces the lock's"
    assert read_lock(repo / "requirements.lock") == {"pandas": "3.1.1", "openpyxl": "3.1.5", "not-installed-pkg": "0.1"}, "lock parsing"


def test_git_commit_and_dirty_tree(run, monkeypatch):
    repo, inputs, outputs = run
    (repo / ".git").mkdir()  # looks like a checkout; git itself is faked (tests never run git)
    calls = []

    def fake_git(repo_dir, *args):
        calls.append(args)
        return {"rev-parse": "0123456789abcdef0123456789abcdef01234567\n", "status": " M src/csceval/economics.py\n"}[args[0]]

    monkeypatch.setattr(provenance, "_run_git", fake_git)
    m = build_manifest(inputs, {}, outputs, repo_dir=repo, created=CREATED)
    assert m["code"]["git_commit"] == "0123456789abcdef0123456789abcdef01234567", "commit from git rev-parse HEAD"
    assert m["code"]["git_dirty"] is True and m["code"]["source"] == "git", "uncommitted changes must be flagged"
    assert calls[0] == ("rev-parse", "HEAD"), "the commit comes from `git rev-parse HEAD`"
    monkeypatch.setattr(provenance, "_run_git", lambda d, *a: "0123456789abcdef0123456789abcdef01234567\n" if a[0] == "rev-parse" else "")
    assert build_manifest(inputs, {}, outputs, repo_dir=repo, created=CREATED)["code"]["git_dirty"] is False, "clean tree"


def test_missing_file_is_an_error(run):
    repo, inputs, outputs = run
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        build_manifest([repo / "nope.csv"], {}, outputs, repo_dir=repo, created=CREATED)


def test_written_manifest_is_sorted_indented_and_deterministic(run, tmp_path):
    repo, inputs, outputs = run
    m1 = build_manifest(inputs, {"b": 1, "a": {"z": 2, "y": 3}}, outputs, repo_dir=repo, created=CREATED)
    m2 = build_manifest(list(reversed(inputs)), {"a": {"y": 3, "z": 2}, "b": 1}, outputs, repo_dir=repo, created=CREATED)
    p1, p2 = write_manifest(m1, tmp_path / "m1.json"), write_manifest(m2, tmp_path / "m2.json")
    assert p1.read_bytes() == p2.read_bytes(), "same run, same manifest bytes (keys sorted, inputs sorted)"
    text = p1.read_text()
    assert text.startswith('{\n  "code"'), "indented JSON with sorted keys"
    assert json.loads(text)["config"] == {"a": {"y": 3, "z": 2}, "b": 1}, "round trip through JSON"
