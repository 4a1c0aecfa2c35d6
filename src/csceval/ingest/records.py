"""Read one collection year of record-level returns for every LA in a folder (used by rule ingest_records).

Folder layout (what rule ``simulate_records`` writes, and what an evaluator puts in ``data.records_dir``)::

    <records_dir>/ssda903/<year>/<la_code>/        one LA's SSDA903 CSV tables, or one XML file
    <records_dir>/cin_census/<year>/<la_code>.csv  the flattened CIN census (or <la_code>.xml)

The LA code is the folder or file name (old 3-digit DfE code); the collection year the folder name.
Every file goes through the validated readers (:func:`read_ssda903`, :func:`read_cin_census`):
unrecoverable input raises :class:`InputError` (nothing is written for the year); rows breaking a rule
are quarantined and listed, and ``rows_read = rows_accepted + rows_quarantined`` is checked for every
file and table before anything is returned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from csceval.ingest.cin_census import read_cin_census
from csceval.ingest.errors import InputError
from csceval.ingest.ssda903 import read_ssda903

__all__ = ["RecordYear", "read_record_year", "resolve_salt", "SYNTHETIC_SALT"]

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


def _check_reconciliation(recon: pd.DataFrame, path: Path) -> None:
    bad = recon[recon["rows_read"] != recon["rows_accepted"] + recon["rows_quarantined"]]
    if len(bad):  # pragma: no cover - the readers guarantee it; this guards against a regression
        row = bad.iloc[0]
        raise InputError(path, None, str(row["table"]), "rows read differ from rows accepted + quarantined",
                         f"{row['rows_read']} != {row['rows_accepted']} + {row['rows_quarantined']}")


def read_record_year(records_dir, year: int, *, salt: str) -> RecordYear:
    """Read every LA's SSDA903 and CIN census return of collection year ``year`` under ``records_dir``."""
    records_dir = Path(records_dir)
    year = int(year)
    episodes, events, quarantines, recons = {}, {}, [], []
    cla_dir = records_dir / "ssda903" / str(year)
    cin_dir = records_dir / "cin_census" / str(year)
    if not cla_dir.is_dir() and not cin_dir.is_dir():
        raise InputError(records_dir, None, None, f"no returns for collection year {year}",
                         f"expected {cla_dir} or {cin_dir}")
    for path in sorted(cla_dir.iterdir()) if cla_dir.is_dir() else []:
        if path.name.startswith("."):
            continue
        la = path.stem if path.is_file() else path.name
        result = read_ssda903(path, year, la, salt=salt)
        _check_reconciliation(result.reconciliation, path)
        if result.episodes is not None:
            episodes[la] = result.episodes[EPISODE_KEEP]
        quarantines.append(result.quarantine.assign(collection="SSDA903", la_code=la))
        recons.append(result.reconciliation.assign(collection="SSDA903", la_code=la))
    for path in sorted(cin_dir.iterdir()) if cin_dir.is_dir() else []:
        if path.name.startswith(".") or path.suffix.lower() not in (".csv", ".xml"):
            continue
        result = read_cin_census(path, salt=salt, year=year, la_code=path.stem)
        _check_reconciliation(result.reconciliation, path)
        events[path.stem] = result.events[EVENT_KEEP]
        quarantines.append(result.quarantine.assign(collection="CIN census", la_code=path.stem))
        recons.append(result.reconciliation.assign(collection="CIN census", la_code=path.stem))
    quarantine = pd.concat(quarantines, ignore_index=True) if quarantines else pd.DataFrame()
    reconciliation = pd.concat(recons, ignore_index=True) if recons else pd.DataFrame()
    if len(reconciliation):
        reconciliation.insert(0, "collection_year", year)
    if len(quarantine):
        quarantine.insert(0, "collection_year", year)
    return RecordYear(year, episodes, events, quarantine, reconciliation)
