"""Revised back years: combine several releases of the same statistics so the newest release wins.

DfE re-publishes earlier years in every release, sometimes revised (late returns, corrected LA
submissions, re-based ONS denominators). :func:`resolve_revisions` takes the long tables of several
releases (as :func:`~csceval.ingest.read_ees` or :func:`~csceval.ingest.read_lait` return them) and
keeps, for every cell - measure x geography x period x breakdown - the row of the newest release that
has it, logging every cell where the releases disagree.

Which release a table is from
-----------------------------
The caller says so, in one of three ways (checked in this order):

1. ``tables`` is a mapping ``{release: table}``;
2. the table has a ``release`` column (one value per table);
3. ``table.attrs["release"]``.

:func:`release_from_name` derives it from a published file name: EES files end in the last reporting
year they cover (``b1_children_in_need_2013_to_2025.csv`` -> ``"2025"``, ``..._2024.csv`` -> ``"2024"``),
which identifies the release (DfE publishes reporting year Y in the autumn of Y). LAIT files carry no
year in their name (``bds_long_0.parquet``), so the release of a LAIT extract must be given (e.g. the
download date ``"2025-06-30"``). Releases are ordered as dates: ``"2025"`` is 1 January 2025, so a
year-named EES release sorts before a dated download later in the same year.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from csceval.ingest.errors import InputError

#: Columns that describe a row rather than identify the cell it is a value of.
NON_KEY_COLUMNS = frozenset({
    "value", "status", "source_row", "release", "new_la_code", "la_code", "region_code", "la_name",
    "unit", "measure_label", "decimal_places", "data_item", "years", "release_status", "period_start",
    "period_end", "time_identifier",
})

#: Key columns always used; ``geography`` is built from the level and the LA or region code.
BASE_KEYS = ["measure", "geographic_level", "geography", "time_period"]

LOG_COLUMNS = ["old_release", "old_value", "old_status", "new_release", "new_value", "new_status", "kept_release"]

def release_from_name(path) -> str:
    """Release identifier of an EES file from its name: the last 4-digit year at the end of the stem."""
    stem = Path(path).stem
    match = re.search(r"(?:^|_)(\d{4})$", stem)
    if match is None:
        raise InputError(
            path, None, None, "cannot tell which release this file is from",
            "name it <table>_<first>_to_<last year>.csv or give the release explicitly",
        )
    return match.group(1)


def _release_time(release) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(str(release))
    except (ValueError, TypeError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise ValueError(f"release {release!r} is not a year or a date; releases must be ordered in time")
    return stamp


def _as_pairs(tables) -> list[tuple[str, pd.DataFrame]]:
    if isinstance(tables, Mapping):
        return [(str(release), table) for release, table in tables.items()]
    pairs = []
    for i, table in enumerate(tables):
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"table {i} is a {type(table).__name__}, not a DataFrame")
        if "release" in table.columns:
            releases = table["release"].astype(str).unique()
            if len(releases) != 1:
                raise ValueError(f"table {i} holds several releases {sorted(releases)}; pass one table per release")
            pairs.append((releases[0], table))
        elif "release" in table.attrs:
            pairs.append((str(table.attrs["release"]), table))
        else:
            raise ValueError(
                f"table {i} does not say which release it is from: pass {{release: table}}, a 'release' column or attrs['release']"
            )
    return pairs


def _geography(table: pd.DataFrame) -> pd.Series:
    level = table["geographic_level"].astype(str)
    la = table["la_code"].astype(str) if "la_code" in table else pd.Series("", index=table.index)
    region = table["region_code"].astype(str) if "region_code" in table else pd.Series("", index=table.index)
    return pd.Series(np.where(level.eq("Local authority"), la, np.where(level.eq("Regional"), region, "")), index=table.index)


def _same(a_value, a_status, b_value, b_status) -> np.ndarray:
    both_missing = pd.isna(a_value) & pd.isna(b_value)
    equal = (a_value == b_value) | both_missing
    return np.asarray(equal & (a_status == b_status))


def resolve_revisions(tables) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the newest release of every cell and log where releases disagree.

    Parameters
    ----------
    tables : mapping ``{release: table}``, or an iterable of tables each carrying its release in a
        ``release`` column or ``attrs["release"]`` (see the module docstring). Tables are long, with at
        least ``measure``, ``geographic_level``, ``time_period``, ``value``, ``status``.

    Returns
    -------
    resolved : the union of the tables' columns plus ``release`` (the release each row was taken from),
        one row per cell. A cell is (``measure``, ``geographic_level``, geography - ``la_code`` on LA rows,
        ``region_code`` on regional rows, nothing on national rows -, ``time_period``, and every other column
        that is not a value or a description, e.g. ``population_type`` or ``category``; a breakdown column
        missing from one release counts as ``""`` there). The newest release holding the cell wins even when
        it replaces a number with a symbol; a cell a newer release no longer carries keeps its older row.
    log : one row per cell and older release whose value or status differs from the kept one: the key
        columns, then ``old_release, old_value, old_status, new_release, new_value, new_status,
        kept_release``. Two missing values with the same symbol agree; a changed symbol is a disagreement.

    Raises
    ------
    ValueError
        Fewer than one table, a release that is not a year or date, two tables of the same release, a
        table without the key columns, or a release with two rows for one cell.
    """
    pairs = _as_pairs(tables)
    if not pairs:
        raise ValueError("resolve_revisions needs at least one table")
    releases = [release for release, _ in pairs]
    duplicated = sorted({r for r in releases if releases.count(r) > 1})
    if duplicated:
        raise ValueError(f"release(s) {duplicated} given more than once; each release must be one table")
    order = {release: _release_time(release) for release in releases}
    if len(set(order.values())) < len(order):
        raise ValueError(f"two releases fall on the same date: {order}")

    breakdowns: list[str] = []
    for release, table in pairs:
        for column in ("measure", "geographic_level", "time_period", "value", "status"):
            if column not in table.columns:
                raise ValueError(f"release {release}: column {column!r} is missing")
        breakdowns += [c for c in table.columns if c not in NON_KEY_COLUMNS and c not in BASE_KEYS and c not in breakdowns]
    keys = BASE_KEYS + breakdowns

    frames = []
    for release, table in pairs:
        frame = table.copy()
        frame["release"] = release
        frame["geography"] = _geography(frame)
        for column in breakdowns:
            if column not in frame.columns:
                frame[column] = ""
        frame[breakdowns] = frame[breakdowns].astype(str)
        dup = frame.duplicated(keys, keep=False)
        if dup.any():
            first = frame.loc[dup, keys].iloc[0].to_dict()
            raise ValueError(f"release {release}: more than one row for the cell {first}")
        frame["_order"] = order[release]
        frames.append(frame)
    combined = pd.concat(frames, ignore_index=True)
    combined = combined.sort_values([*keys, "_order"], kind="stable", ignore_index=True)

    newest = ~combined.duplicated(keys, keep="last")
    kept = combined.loc[newest]
    older = combined.loc[~newest]
    compare = older.merge(
        kept[[*keys, "release", "value", "status"]], on=keys, how="left", suffixes=("", "_new"), validate="many_to_one",
    )
    differs = ~_same(compare["value"], compare["status"].astype(str), compare["value_new"], compare["status_new"].astype(str))
    log = compare.loc[differs, keys].copy()
    log["old_release"] = compare.loc[differs, "release"].to_numpy()
    log["old_value"] = compare.loc[differs, "value"].to_numpy(dtype=float)
    log["old_status"] = compare.loc[differs, "status"].astype(str).to_numpy()
    log["new_release"] = compare.loc[differs, "release_new"].to_numpy()
    log["new_value"] = compare.loc[differs, "value_new"].to_numpy(dtype=float)
    log["new_status"] = compare.loc[differs, "status_new"].astype(str).to_numpy()
    log["kept_release"] = log["new_release"]
    log = log.reset_index(drop=True)

    columns = [c for c in combined.columns if c not in ("_order", "geography")]
    resolved = kept[columns].reset_index(drop=True)
    return resolved, log[[*keys, *LOG_COLUMNS]]
