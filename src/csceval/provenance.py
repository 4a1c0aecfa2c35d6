"""Provenance manifest of a run: what went in, with which settings and code, and what came out.

``build_manifest`` records, for ``results/report/manifest.json``:

* every input and output file: path, size in bytes and SHA-256;
* the full resolved configuration (as JSON: dates as ISO text, tuples as lists);
* the code version: the git commit (``git rev-parse HEAD``) and whether the working tree had
  uncommitted changes, when ``repo_dir`` is inside a git checkout; otherwise the installed
  ``csceval`` package version;
* Python and the versions of the dependencies (installed versions via ``importlib.metadata``,
  next to the pinned ones when read from ``requirements.lock``);
* the creation time in UTC (``created`` overrides it, for reproducible tests).

Git is only *read* (``--no-optional-locks``; nothing in the repository is written).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_PACKAGES", "MANIFEST_VERSION", "build_manifest", "file_record", "read_lock", "write_manifest"]

MANIFEST_VERSION = 1
#: Packages recorded when there is no requirements.lock and no list is given.
DEFAULT_PACKAGES = ("numpy", "pandas", "scipy", "statsmodels", "linearmodels", "matplotlib", "afcharts",
                    "pyarrow", "pyyaml", "jsonschema", "openpyxl", "snakemake")
_LOCK_LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def _sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _display_path(path: Path, repo_dir: Path | None) -> str:
    resolved = path.resolve()
    if repo_dir is not None:
        try:
            return resolved.relative_to(repo_dir.resolve()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def file_record(path, repo_dir=None) -> dict[str, Any]:
    """``{"path", "size_bytes", "sha256"}`` of one file (path relative to ``repo_dir`` when inside it)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"provenance: {p} is not a file (every input and output must exist when the manifest is built)")
    return {"path": _display_path(p, Path(repo_dir) if repo_dir else None), "size_bytes": p.stat().st_size, "sha256": _sha256(p)}


def _jsonable(value):
    """The config as plain JSON values (dates as ISO text, paths as text, tuples/sets as lists)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "item"):  # numpy scalar
        return _jsonable(value.item())
    return str(value)


def _git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _run_git(repo_dir: Path, *args: str) -> str | None:
    """Output of a read-only git command in ``repo_dir``, or None if git fails or is absent."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        done = subprocess.run(["git", "--no-optional-locks", "-C", str(repo_dir), *args], capture_output=True, text=True,
                              timeout=30, env=env, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _code_version(repo_dir: Path) -> dict[str, Any]:
    version = {"package": "csceval", "package_version": _package_version("csceval"), "git_commit": None, "git_dirty": None, "source": "package"}
    root = _git_root(repo_dir.resolve())
    if root is None:
        return version
    head = _run_git(root, "rev-parse", "HEAD")
    if head is None or not re.fullmatch(r"[0-9a-f]{40}", head.strip()):
        return version
    status = _run_git(root, "status", "--porcelain", "--untracked-files=no")
    version.update(git_commit=head.strip(), git_dirty=None if status is None else bool(status.strip()), source="git")
    return version


def read_lock(path) -> dict[str, str]:
    """``{package: pinned version}`` from a pip requirements lock (``name==version`` lines)."""
    pins = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        match = _LOCK_LINE.match(line)
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def _dependencies(packages: Iterable[str] | None, lock: Path | None) -> dict[str, dict[str, str | None]]:
    pins = read_lock(lock) if lock is not None and lock.is_file() else {}
    names = list(packages) if packages is not None else (list(pins) or list(DEFAULT_PACKAGES))
    out = {}
    for name in sorted(set(names), key=str.lower):
        installed = _package_version(name)
        out[name] = {"installed": installed, "locked": pins.get(name)}
    return out


def _utc_text(created) -> str:
    if created is None:
        created = dt.datetime.now(dt.timezone.utc)
    if isinstance(created, str):
        created = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.timezone.utc)  # naive times are taken as UTC
    return created.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def build_manifest(
    inputs: Iterable,
    config: Mapping[str, Any],
    outputs: Iterable,
    *,
    repo_dir,
    packages: Iterable[str] | None = None,
    lock_file=None,
    created: dt.datetime | str | None = None,
) -> dict[str, Any]:
    """The provenance record of a run.

    Parameters
    ----------
    inputs, outputs : iterables of paths
        Files read and written (all must exist). Recorded sorted by path.
    config : mapping
        The full resolved configuration of the run.
    repo_dir : path
        The repository (for relative paths, the git commit and the default lock file).
    packages : iterable of str, optional
        Distributions whose versions to record (default: every package in ``lock_file``).
    lock_file : path, optional
        Pinned requirements (default ``repo_dir/requirements.lock`` if it exists).
    created : datetime or ISO text, optional
        Creation time (UTC; naive = UTC). Default: now.
    """
    repo = Path(repo_dir)
    lock = Path(lock_file) if lock_file is not None else repo / "requirements.lock"
    dependencies = _dependencies(packages, lock)
    mismatched = sorted(n for n, v in dependencies.items() if v["locked"] is not None and v["installed"] != v["locked"])
    return {
        "manifest_version": MANIFEST_VERSION,
        "created_utc": _utc_text(created),
        "code": _code_version(repo),
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation(), "in_virtualenv": sys.prefix != sys.base_prefix,
                   "platform": platform.platform(terse=True)},
        "dependencies": dependencies,
        "dependencies_not_as_locked": mismatched,
        "config": _jsonable(config),
        "inputs": sorted((file_record(p, repo) for p in inputs), key=lambda r: r["path"]),
        "outputs": sorted((file_record(p, repo) for p in outputs), key=lambda r: r["path"]),
    }


def write_manifest(manifest: Mapping[str, Any], path) -> Path:
    """Write the manifest as sorted, indented JSON (UTF-8, trailing newline), atomically."""
    from csceval.disclosure import _atomic_write

    path = Path(path)
    text = json.dumps(_jsonable(manifest), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    _atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path
