"""Read one collection year of record-level returns for every LA in a folder (used by rule ingest_records).

Folder layout (what rule ``simulate_records`` writes, and what an evaluator puts in ``data.records_dir``)::

    <records_dir>/ssda903/<year>/<la_code>/        one LA's SSDA903 CSV tables, or one XML file
    <records_dir>/cin_census/<year>/<la_code>.csv  the flattened CIN census (or <la_code>.xml)

The LA code is the folder or file name (old 3-digit DfE code); the collection year the folder name.
Every file goes through the validated readers (:func:`read_ssda903`, :func:`read_cin_census`), in
their many-returns form (:func:`read_ssda903_many`, :func:`read_cin_census_many`: the same results,
but each table of a batch of LAs is validated as one frame, so the fixed cost of a rule is paid per batch,
not per LA; batches hold up to :data:`BATCH_BYTES` of files, which bounds memory): unrecoverable input
raises :class:`InputError` for the first bad file in sorted order (nothing is written for the year);
rows breaking a rule are quarantined and listed, and ``rows_read = rows_accepted + rows_quarantined``
is checked for every file and table before anything is returned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from csceval.ingest.cin_census import read_cin_census_many
from csceval.ingest.errors import InputError
from csceval.ingest.ssda903 import read_ssda903_many

__all__ = ["RecordYear", "read_record_year", "resolve_salt", "SYNTHETIC_SALT"]

#: Returns of up to this many bytes (on disk) are validated together. Validation needs ~10x the file
#: size in memory, held only while the batch is read; 8 MB keeps a national year's job near 700 MB peak
#: (the accepted events of all LAs, ~600 MB, are the rest) while a batch still spans ~8 LAs' CIN census
#: or ~60 LAs' SSDA903 files, so the fixed cost of each rule is paid ~20 times a year instead of ~300.
BATCH_BYTES = 8 * 2**20

#: Salt used for synthetic returns when no secret is set (synthetic identifiers are not personal data).
SYNTHETIC_SALT = "csceval-synthetic-returns"

EPISODE_KEEP = ["child", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC", "HOME_POST", "PL_POST",
                "la_code", "collection_year"]
EVENT_KEEP = ["child", "la_code", "event_type", "date", "cin_episode", "referral_source", "referral_nfa", "primary_need",
              "category_of_abuse", "number_of_previous_cpp", "reason_for_closure", "collection_year"]


def resolve_salt(env_var: str, synthetic: bool) -> str:
    """The pseudonymisation salt: the environment variable ``env_var``; for synthetic returns a fixed
    public salt when it is unset; for real returns an unset variable is an error (never a default)."""
    value = os.environ.get(env_var, "")
    if value:
        return value
    if synthetic:
        return SYNTHETIC_SALT
    raise InputError(env_var, None, env_var, "no pseudonymisation salt: set this environment variable to a secret")


@dataclass
class RecordYear:
    """One collection year of every LA's returns: accepted rows per LA, quarantine and reconciliation."""

    year: int
    episodes: dict[str, pd.DataFrame]
    events: dict[str, pd.DataFrame]
    quarantine: pd.DataFrame
    reconciliation: pd.DataFrame


def _check_reconciliation(recon: pd.DataFrame, paths: list[Path]) -> None:
    """rows read = accepted + quarantined on every row of ``recon`` (the rows of ``paths``, one path
    per row: the return the row belongs to)."""
    bad = np.flatnonzero((recon["rows_read"] != recon["rows_accepted"] + recon["rows_quarantined"]).to_numpy())
    if len(bad):  # pragma: no cover - the readers guarantee it; this guards against a regression
        row = recon.iloc[bad[0]]
        raise InputError(paths[bad[0]], None, str(row["table"]), "rows read differ from rows accepted + quarantined",
                         f"{row['rows_read']} != {row['rows_accepted']} + {row['rows_quarantined']}")


def _stack(frames: list[pd.DataFrame], collections: list[str], las: list[str]) -> pd.DataFrame:
    """The frames one after another with ``collection`` and ``la_code`` columns (one value per frame):
    what concatenating ``frame.assign(collection=..., la_code=...)`` gives, without a pandas call per LA."""
    if not frames:
        return pd.DataFrame()
    stacked = pd.concat(frames, ignore_index=True)
    lengths = [len(f) for f in frames]
    for name, values in (("collection", collections), ("la_code", las)):
        stacked[name] = pd.array(values, dtype="str").take(np.repeat(np.arange(len(frames)), lengths))
    return stacked


def _size(path: Path) -> int:
    """Bytes on disk of a return (a file, or the files of a folder)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size if path.exists() else 0


def _batches(returns: list[tuple[Path, str]]):
    """Consecutive runs of returns of up to :data:`BATCH_BYTES` (at least one return each), in order."""
    batch, size = [], 0
    for path, la in returns:
        n = _size(path)
        if batch and size + n > BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append((path, la))
        size += n
    if batch:
        yield batch


def read_record_year(records_dir, year: int, *, salt: str) -> RecordYear:
    """Read every LA's SSDA903 and CIN census return of collection year ``year`` under ``records_dir``."""
    records_dir = Path(records_dir)
    year = int(year)
    episodes, events = {}, {}
    quarantines, recons, owners = [], [], []    # per return: its frames, (collection, LA code, path)
    cla_dir = records_dir / "ssda903" / str(year)
    cin_dir = records_dir / "cin_census" / str(year)
    if not cla_dir.is_dir() and not cin_dir.is_dir():
        raise InputError(records_dir, None, None, f"no returns for collection year {year}",
                         f"expected {cla_dir} or {cin_dir}")
    cla = [(p, p.stem if p.is_file() else p.name) for p in sorted(cla_dir.iterdir()) if not p.name.startswith(".")] \
        if cla_dir.is_dir() else []
    for batch in _batches(cla):
        for (path, la), result in zip(batch, read_ssda903_many(batch, year, salt=salt)):
            if result.episodes is not None:
                episodes[la] = result.episodes[EPISODE_KEEP]
            quarantines.append(result.quarantine)
            recons.append(result.reconciliation)
            owners.append(("SSDA903", la, path))
    cin = [(p, p.stem) for p in sorted(cin_dir.iterdir())
           if not p.name.startswith(".") and p.suffix.lower() in (".csv", ".xml")] if cin_dir.is_dir() else []
    for batch in _batches(cin):
        for (path, la), result in zip(batch, read_cin_census_many(batch, salt=salt, year=year)):
            events[la] = result.events[EVENT_KEEP]
            quarantines.append(result.quarantine)
            recons.append(result.reconciliation)
            owners.append(("CIN census", la, path))
    collections, las, paths = ([o[i] for o in owners] for i in range(3))
    quarantine = _stack(quarantines, collections, las)
    reconciliation = _stack(recons, collections, las)
    if len(reconciliation):
        _check_reconciliation(reconciliation, [p for p, r in zip(paths, recons) for _ in range(len(r))])
        reconciliation.insert(0, "collection_year", year)
    if len(quarantine):
        quarantine.insert(0, "collection_year", year)
    return RecordYear(year, episodes, events, quarantine, reconciliation)
