"""Reference tables of English local authorities (LAs) with children's services.

The package ships two small CSV files of public facts:

``local_authorities.csv``
    One row per English LA with children's services that existed at any time
    since DfE reporting year 2013 (158 old 3-digit DfE codes, including the
    defunct Dorset county 835, Poole 836, Bournemouth 837, Northamptonshire 928
    and Cumbria 909).
``boundary_changes.csv``
    The reorganisations, splits and GSS code changes since 2013.

A DfE *reporting year* ``Y`` is the year ending 31 March ``Y``.  LA codes are
always handled as strings (``"201"``, never ``201``).

Only the functions in ``__all__`` are public; other modules should not rely on
anything else in here.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from functools import cache
from importlib import resources

import pandas as pd

__all__ = [
    "local_authorities",
    "boundary_changes",
    "la_codes",
    "la_name",
    "unknown_la_codes",
    "ons_code",
]

_STR_COLUMNS_LA = [
    "la_code",
    "la_name",
    "ons_code",
    "former_ons_code",
    "region_code",
    "region_name",
    "ons_region_code",
    "ons_region_name",
    "la_type",
]


def _read_csv(name: str) -> pd.DataFrame:
    with resources.files(__name__).joinpath(name).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


@cache
def _la_table() -> pd.DataFrame:
    raw = _read_csv("local_authorities.csv")
    df = raw[_STR_COLUMNS_LA].copy()
    for col in ("ons_code_changed", "valid_from", "valid_to"):
        df[col] = pd.to_datetime(raw[col].replace("", None), format="%Y-%m-%d")
    df["first_reporting_year"] = raw["first_reporting_year"].astype(int)
    df["last_reporting_year"] = pd.to_numeric(raw["last_reporting_year"].replace("", None)).astype("Int64")
    df = df[list(raw.columns)]  # keep the file's column order
    return df.set_index("la_code", drop=False).rename_axis(None)


@cache
def _changes_table() -> pd.DataFrame:
    df = _read_csv("boundary_changes.csv")
    df["effective_date"] = pd.to_datetime(df["effective_date"], format="%Y-%m-%d")
    df["first_reporting_year_after"] = df["first_reporting_year_after"].astype(int)
    for col in ("predecessors", "successors"):
        df[col] = df[col].map(lambda s: tuple(c.strip() for c in s.split(";") if c.strip()))
    return df


def _reports_in(df: pd.DataFrame, reporting_year: int) -> pd.Series:
    last = df["last_reporting_year"]
    return (df["first_reporting_year"] <= reporting_year) & (last.isna() | (last >= reporting_year)).astype(bool)


def local_authorities(reporting_year: int | None = None) -> pd.DataFrame:
    """Return the LA reference table.

    Parameters
    ----------
    reporting_year : int, optional
        A DfE reporting year (ending 31 March).  If given, only the LAs that
        report in that year are returned; otherwise all 158 rows.

    Returns
    -------
    pandas.DataFrame
        One row per LA, in ``la_code`` order, with columns ``la_code``,
        ``la_name``, ``ons_code``, ``former_ons_code`` (``""`` if none),
        ``ons_code_changed``, ``region_code``, ``region_name`` (EES LA-level
        regions: London boroughs are Inner/Outer London), ``ons_region_code``,
        ``ons_region_name`` (the nine ONS regions), ``la_type`` (``LB``, ``MD``,
        ``UA`` or ``SC``), ``valid_from``, ``valid_to`` (Timestamps, NaT when not
        applicable), ``first_reporting_year`` (int) and ``last_reporting_year``
        (nullable ``Int64``, NA while the LA is current).  The index is
        ``la_code``.  The frame is a copy and may be modified freely.
    """
    df = _la_table()
    if reporting_year is not None:
        df = df[_reports_in(df, int(reporting_year))]
    return df.copy()


def boundary_changes() -> pd.DataFrame:
    """Return the table of boundary and code changes since 2013.

    Returns
    -------
    pandas.DataFrame
        Columns ``change_id``, ``effective_date`` (Timestamp), ``kind``
        (``reorganisation``, ``split`` or ``code_change``), ``predecessors`` and
        ``successors`` (tuples of old LA codes as str), ``first_reporting_year_after``
        (int: the first reporting year on the new arrangement), ``note`` and
        ``source``.  For a ``code_change`` the predecessor and successor are the
        same LA code; only its GSS code changed.
    """
    return _changes_table().copy()


def la_codes(reporting_year: int | None = None) -> list[str]:
    """Return sorted old 3-digit LA codes.

    Parameters
    ----------
    reporting_year : int, optional
        If given, only the LAs reporting in that DfE reporting year (152 in
        2013-2019, 151 in 2020-2021, 152 in 2022-2023, 153 from 2024).

    Returns
    -------
    list of str
    """
    return sorted(local_authorities(reporting_year)["la_code"])


def la_name(code: str) -> str:
    """Return the EES spelling of an LA's name.

    Parameters
    ----------
    code : str
        Old 3-digit DfE LA code, e.g. ``"838"``.

    Returns
    -------
    str

    Raises
    ------
    KeyError
        If ``code`` is not in the reference table.
    """
    return str(_row(code)["la_name"])


def unknown_la_codes(codes: Iterable[str]) -> list[str]:
    """Return the codes that are not in the LA reference table.

    Useful for validating configuration files.  Each code is compared as
    ``str(code)``, so an integer ``838`` read from YAML is accepted as ``"838"``.

    Parameters
    ----------
    codes : iterable of str

    Returns
    -------
    list of str
        The unknown codes, de-duplicated and sorted; empty if all are known.
    """
    known = set(_la_table().index)
    return sorted({str(c) for c in codes} - known)


def ons_code(code: str, on: _dt.date | str | pd.Timestamp | None = None) -> str:
    """Return the ONS GSS code of an LA.

    Parameters
    ----------
    code : str
        Old 3-digit DfE LA code.
    on : date-like, optional
        Date at which the GSS code is wanted.  If it is before the LA's
        ``ons_code_changed`` date the former code is returned (e.g. North
        Yorkshire ``"815"`` is ``E10000023`` before 2023-04-01 and
        ``E06000065`` from then on).  If omitted, the current (or, for a
        defunct LA, the last) code is returned.  The date is not checked
        against the LA's ``valid_from``/``valid_to``.

    Returns
    -------
    str

    Raises
    ------
    KeyError
        If ``code`` is not in the reference table.

    Notes
    -----
    For a DfE reporting year ``Y`` EES files use the code valid on 31 March
    ``Y``, i.e. ``ons_code(code, f"{Y}-03-31")``.
    """
    row = _row(code)
    if on is not None and row["former_ons_code"] and pd.Timestamp(on) < row["ons_code_changed"]:
        return str(row["former_ons_code"])
    return str(row["ons_code"])


def _row(code: str) -> pd.Series:
    table = _la_table()
    key = str(code)
    if key not in table.index:
        raise KeyError(
            f"unknown LA code {code!r}: not an old 3-digit DfE LA code in "
            "csceval/reference/local_authorities.csv (codes are strings such as '838')"
        )
    return table.loc[key]
