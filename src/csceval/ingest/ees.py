"""Reader for Explore Education Statistics (EES) open-data CSV files.

EES files are wide: one row per time period x geography x breakdown, one column per measure, with
symbols (``c`` suppressed, ``x`` not available, ``z`` not applicable, ``u`` low reliability, ``low``
and ``k`` rounds to zero, ``:`` not available in older CIN releases) where a number would be.
:func:`read_ees` returns them long: one row per measure, the number in ``value`` (NaN where a symbol
stands) and the symbol in ``status``. Symbols are never turned into zeros.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from csceval.ingest.errors import InputError

#: Symbols DfE publishes in place of a number, with their meaning.
EES_SYMBOLS: dict[str, str] = {
    "c": "confidential (suppressed)",
    "x": "not available",
    "z": "not applicable",
    "u": "low reliability",
    "low": "rounds to zero but is not zero",
    "k": "rounds to zero but is not zero",
    ":": "not available (older releases)",
    "..": "not available",
    "-": "not available (LAIT)",
}

#: Columns that say when and where a row is; everything else is a measure or a breakdown.
GEOGRAPHY_TIME_COLUMNS = (
    "time_period",
    "time_identifier",
    "geographic_level",
    "country_code",
    "country_name",
    "region_code",
    "region_name",
    "old_la_code",
    "new_la_code",
    "la_name",
)

REQUIRED_COLUMNS = ("time_period", "time_identifier", "geographic_level")

#: Column names renamed between releases of the same file: old name -> current name.
#: (The 2025 CLA release renamed ``population_count`` to ``population_type`` and ``number`` to
#: ``children_count``.)
COLUMN_ALIASES: dict[str, str] = {
    "population_count": "population_type",
    "number": "children_count",
}

GEOGRAPHIC_LEVELS = ("National", "Regional", "Local authority")

_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(path, None, None, "file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise InputError(
            path, line, None, "file is not UTF-8 text", f"byte 0x{raw[err.start]:02x} at offset {err.start}"
        ) from None


def read_ees(path) -> pd.DataFrame:
    """Read one EES open-data CSV into long form.

    Parameters
    ----------
    path : str or Path
        The CSV as published (a UTF-8 byte-order mark is accepted).

    Returns
    -------
    DataFrame
        Columns ``time_period`` (str), ``geographic_level``, ``la_code`` (old 3-digit code, ``""``
        off LA rows), ``new_la_code``, ``region_code``, ``measure``, ``value`` (float, NaN where a symbol
        stands), ``status`` (the symbol, or ``""``), ``source_row`` (line in the file), followed by the
        file's own breakdown columns unchanged. Renamed columns are mapped to their current names
        (:data:`COLUMN_ALIASES`).

    Raises
    ------
    InputError
        The file is empty, not UTF-8, lacks a required column, has rows of the wrong length, an
        unknown geographic level, or a measure cell that is neither a number nor a DfE symbol.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, None, None, "file does not exist")
    text = _read_text(path)
    from io import StringIO

    try:
        wide = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.ParserError as err:
        match = re.search(r"line (\d+)", str(err))
        raise InputError(
            path, int(match.group(1)) if match else None, None, "row has a different number of fields than the header", str(err)
        ) from None
    wide.columns = [c.strip() for c in wide.columns]
    wide = wide.rename(columns={old: new for old, new in COLUMN_ALIASES.items() if old in wide.columns and new not in wide.columns})
    for column in REQUIRED_COLUMNS:
        if column not in wide.columns:
            raise InputError(path, 1, column, "required EES column is missing", f"header has {list(wide.columns)}")
    if wide.empty:
        raise InputError(path, None, None, "file has a header but no rows")
    wide["source_row"] = np.arange(2, len(wide) + 2)

    bad_level = ~wide["geographic_level"].isin(GEOGRAPHIC_LEVELS)
    # Files may carry other levels (e.g. Local authority district); keep the three CSC levels only.
    wide = wide.loc[~bad_level | wide["geographic_level"].eq("")].copy()
    if wide["geographic_level"].eq("").any():
        row = int(wide.loc[wide["geographic_level"].eq(""), "source_row"].iloc[0])
        raise InputError(path, row, "geographic_level", "geographic level is blank")

    is_la = wide["geographic_level"].eq("Local authority")
    if is_la.any() and "old_la_code" not in wide.columns:
        raise InputError(path, 1, "old_la_code", "Local authority rows need an old_la_code column")

    other = [c for c in wide.columns if c not in GEOGRAPHY_TIME_COLUMNS and c != "source_row"]
    measures, breakdowns = [], []
    for column in other:
        values = wide[column].str.strip()
        filled = values[values.ne("")]
        numeric = filled.str.fullmatch(_NUMBER.pattern) | filled.isin(EES_SYMBOLS.keys())
        if len(filled) and numeric.all():
            measures.append(column)
        elif len(filled) and numeric.mean() > 0.9:
            # Mostly numbers: a measure with a bad cell, not a breakdown.
            bad = filled.index[~numeric][0]
            raise InputError(
                path, int(wide.at[bad, "source_row"]), column,
                "value is neither a number nor a DfE symbol", repr(wide.at[bad, column]),
            )
        else:
            breakdowns.append(column)
    if not measures:
        raise InputError(path, 1, None, "no measure columns found (every non-geography column holds text)")

    ids = ["time_period", "geographic_level", "old_la_code", "new_la_code", "region_code", "source_row", *breakdowns]
    for column in ids:
        if column not in wide.columns:
            wide[column] = ""
    long = wide.melt(id_vars=ids, value_vars=measures, var_name="measure", value_name="cell")
    cell = long["cell"].str.strip()
    is_symbol = cell.isin(EES_SYMBOLS.keys())
    long["status"] = np.where(is_symbol, cell, "")
    long["value"] = pd.to_numeric(cell.where(~is_symbol & cell.ne("")), errors="coerce").astype(float)
    long = long.rename(columns={"old_la_code": "la_code"})
    columns = [
        "time_period", "geographic_level", "la_code", "new_la_code", "region_code",
        "measure", "value", "status", "source_row", *breakdowns,
    ]
    return long[columns].reset_index(drop=True)
