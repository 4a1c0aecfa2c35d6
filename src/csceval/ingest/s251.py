"""Reader for the DfE S251 outturn open-data file (children's and young people's services expenditure).

The EES file ``s251_childrens_young_peoples_services_la_regional_national.csv`` has one row per
financial year x geography x expenditure line: ``time_period`` (6-digit financial year, ``202324``
= 2023-24), ``geographic_level``, ``old_la_code``, ``new_la_code``, ``la_name``,
``category_of_expenditure`` (e.g. "Children looked after"), ``description_of_expenditure`` (the
line, prefixed with its line number) and the money columns ``own_provision``,
``private_provision``, ``other_public_sector_provision``, ``voluntary_provision`` and
``total_expenditure`` (columns per domain-facts section 1.3). :func:`read_s251` reads it through
:func:`csceval.ingest.read_ees` (symbols kept in ``status``, never turned into zeros) and checks
the S251 layout; :func:`cla_expenditure` takes one line (by default "Total Children Looked After")
as the expenditure on children looked after of each LA and year.

The unit of the money columns (pounds or thousands of pounds) is UNVERIFIED: it is configuration
(``units``), stated wherever the figures are used.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from csceval.ingest.ees import read_ees
from csceval.ingest.errors import InputError

__all__ = ["MONEY_COLUMNS", "S251_COLUMNS", "UNITS", "cla_expenditure", "read_s251"]

#: Columns every S251 outturn file must have.
S251_COLUMNS = (
    "time_period", "geographic_level", "old_la_code", "new_la_code", "la_name",
    "category_of_expenditure", "description_of_expenditure", "total_expenditure",
)
#: Money columns (measures) of the file.
MONEY_COLUMNS = ("own_provision", "private_provision", "other_public_sector_provision", "voluntary_provision", "total_expenditure")
#: Multipliers from the file's unit to pounds.
UNITS = {"pounds": 1.0, "thousands": 1e3, "millions": 1e6}

_LINE = re.compile(r"^\s*(\d+(?:\.\d+)*[a-z]?)\.?\s+(.*\S)\s*$")


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [c.strip() for c in next(csv.reader(fh), [])]


def _financial_year(period: pd.Series, path: Path, rows: pd.Series) -> np.ndarray:
    """``202324`` -> 2023; a period that is not two consecutive years raises with its row."""
    text = period.astype(str).str.strip()
    ok = text.str.fullmatch(r"\d{6}")
    start = pd.to_numeric(text.str[:4].where(ok), errors="coerce")
    end = pd.to_numeric(text.str[4:].where(ok), errors="coerce")
    bad = ~ok | ((start + 1) % 100 != end)
    if bad.any():
        i = bad.to_numpy().nonzero()[0][0]
        raise InputError(path, int(rows.iloc[i]), "time_period", "not a 6-digit financial year such as 202324",
                         repr(text.iloc[i]))
    return start.astype(int).to_numpy()


def read_s251(path) -> pd.DataFrame:
    """Read the S251 outturn file into long form, one row per line x money column.

    Returns
    -------
    DataFrame
        ``year`` (financial year start, int), ``geographic_level``, ``la_code`` (old 3-digit code,
        ``""`` off LA rows), ``new_la_code``, ``category``, ``line`` (line number, ``""`` if the
        description has none), ``description`` (without the number), ``measure`` (money column),
        ``value`` (float, NaN where a symbol stands, in the file's unit), ``status`` (the symbol or
        ``""``) and ``source_row``.

    Raises
    ------
    InputError
        Everything :func:`csceval.ingest.read_ees` raises, plus: an S251 column is missing,
        ``total_expenditure`` holds text, a ``time_period`` is not a 6-digit financial year, or an
        LA row has no 3-digit ``old_la_code``.
    """
    path = Path(path)
    if path.exists() and path.stat().st_size:
        header = _header(path)
        missing = [c for c in S251_COLUMNS if c not in header]
        if missing:
            raise InputError(path, 1, missing[0], "required S251 outturn column is missing", f"header has {header}")
    long = read_ees(path)
    if "total_expenditure" not in set(long["measure"]):
        raise InputError(path, 1, "total_expenditure", "column holds text, not numbers or DfE symbols")
    for column in ("category_of_expenditure", "description_of_expenditure"):
        if column not in long.columns:
            raise InputError(path, 1, column, "column must hold text (it was read as numbers)")
    long = long[long["measure"].isin(MONEY_COLUMNS)].copy()
    la = long["geographic_level"].eq("Local authority")
    bad_code = la & ~long["la_code"].str.fullmatch(r"\d{3}")
    if bad_code.any():
        row = long.loc[bad_code].iloc[0]
        raise InputError(path, int(row["source_row"]), "old_la_code", "local authority row needs a 3-digit old LA code", repr(row["la_code"]))
    parts = long["description_of_expenditure"].str.extract(_LINE)
    long["line"] = parts[0].fillna("")
    long["description"] = parts[1].fillna(long["description_of_expenditure"].str.strip())
    long["category"] = long["category_of_expenditure"].str.strip()
    long["year"] = _financial_year(long["time_period"], path, long["source_row"])
    columns = ["year", "geographic_level", "la_code", "new_la_code", "category", "line", "description", "measure",
               "value", "status", "source_row"]
    return long[columns].reset_index(drop=True)


def cla_expenditure(
    s251: pd.DataFrame,
    *,
    line: str = "Total Children Looked After",
    measure: str = "total_expenditure",
    units: str = "pounds",
    category: str = "Children looked after",
    path="S251 outturn file",
) -> pd.DataFrame:
    """Expenditure on children looked after by LA and financial year, in pounds.

    ``line`` is matched to the description without its line number, case-insensitively, within
    ``category``. Returns ``la_code, year, expenditure, status, source_row`` (NaN expenditure
    where the file has a symbol, which is kept in ``status``).

    Raises
    ------
    InputError
        No row of ``line`` in ``category``, or two rows for the same LA and year.
    ValueError
        ``units`` is not one of :data:`UNITS`.
    """
    if units not in UNITS:
        raise ValueError(f"S251 expenditure units must be one of {sorted(UNITS)}, got {units!r}")
    la = s251[s251["geographic_level"].eq("Local authority") & s251["measure"].eq(measure)]
    in_category = la[la["category"].str.casefold().eq(category.casefold())]
    rows = in_category[in_category["description"].str.casefold().eq(line.casefold())]
    if rows.empty:
        seen = sorted(in_category["description"].unique())[:12]
        raise InputError(path, None, "description_of_expenditure", f"no local authority row of line {line!r} in category {category!r}",
                         f"lines in that category: {seen}" if seen else f"no rows in category {category!r}")
    dup = rows.duplicated(["la_code", "year"], keep="first")
    if dup.any():
        row = rows.loc[dup].iloc[0]
        raise InputError(path, int(row["source_row"]), "description_of_expenditure",
                         f"line {line!r} appears twice for LA {row['la_code']} in {row['year']}")
    out = rows[["la_code", "year", "value", "status", "source_row"]].rename(columns={"value": "expenditure"})
    out["expenditure"] = out["expenditure"] * UNITS[units]
    return out.sort_values(["la_code", "year"]).reset_index(drop=True)
