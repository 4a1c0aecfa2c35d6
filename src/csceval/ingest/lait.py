"""Reader for the DfE Local Authority Interactive Tool (LAIT) long-format parquet.

LAIT publishes one row per indicator x period x area, every value as text::

    Short Desc | Data item | Years | LA and Regions | Values | LA Number | Region

with ``-`` (and occasionally other DfE symbols or a blank) where a number would be. A data dictionary
(``lait_data_dictionary.csv``, one row per indicator keyed by ``Measure_short``) gives each indicator's
long name, unit (``y_axis_name``), decimal places and the kind of year its ``Years`` labels count in
(``Year_Type``). :func:`read_lait` returns the same tidy long form as :func:`csceval.ingest.read_ees`
(``time_period, geographic_level, la_code, new_la_code, region_code, measure, value, status,
source_row``) followed by LAIT's own descriptive columns.

Periods
-------
``Years`` labels mean different things for different indicators, so they are read together with the
indicator's ``Year_Type`` (never guessed from the label alone). The mapping, with the ``time_period``
string in the EES convention (4 digits for a single reporting or calendar year, 6 digits ``YYYYyy``
for an academic or financial year):

=========================  =====================  ==========================================  =============
``Years``                  ``Year_Type``          period                                      time_period
=========================  =====================  ==========================================  =============
``2023``                   Financial Year,        year ending 31 March 2023 (the DfE          ``2023``
                           Annual                 children's social care *reporting year*)
``2023``                   Academic Year          academic year 2022/23 (1 Sep 2022 -         ``202223``
                                                  31 Aug 2023; LAIT labels an academic
                                                  year by the summer it ends in)
``2023``                   Calendar Year          1 Jan - 31 Dec 2023                         ``2023``
``2023``                   Annual (end of Sept)   year ending 30 September 2023 (workforce)   ``2023``
``2023``                   Annual - January       January 2023 school census (1-31 Jan 2023)  ``2023``
``2022-23``, ``2022/23``   Financial Year         1 Apr 2022 - 31 Mar 2023                    ``202223``
``2022-23``, ``2022/23``   Academic Year          1 Sep 2022 - 31 Aug 2023                    ``202223``
``2014-16``, ``2015-16``   Calendar Year          calendar years 2014 to 2016 inclusive        ``2014-2016``
                                                  (a rolling multi-year figure)
``2013/14-15/16``          Financial Year         1 Apr 2013 - 31 Mar 2016 (rolling)          ``201314-201516``
``2013/14-15/16``          Academic Year          1 Sep 2013 - 31 Aug 2016 (rolling)          ``201314-201516``
=========================  =====================  ==========================================  =============

A trailing ``(Rev)``, ``(Final)``, ``(prov)`` or ``(OT)`` is the release status of the figure
(revised, final, provisional, outturn); it is removed from the period and kept in ``release_status``.
``Years`` = ``0`` is a placeholder LAIT uses for an indicator with no data in a year slot: such rows
are dropped (and counted in ``table.attrs["dropped_placeholder_rows"]``) only when every value on them
is a symbol or blank; a number under ``0`` is an error. Any other label, or a label that does not fit
its indicator's ``Year_Type`` (e.g. a 2-year ``2014-16`` range for a financial-year indicator), raises
:class:`~csceval.ingest.InputError`.

Geography
---------
``LA Number`` 970 is England (``National``), 980-990 the nine ONS regions plus Inner and Outer London
(``Regional``); every other number must be an LA code in :mod:`csceval.reference` (which includes
the defunct authorities, e.g. Dorset county 835 and Cumbria 909), otherwise InputError.

``source_row`` is the 1-based position of the row in the parquet file (a parquet file has no header
line, so row 1 is the first data row); errors name the same row.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from csceval.ingest.ees import EES_SYMBOLS
from csceval.ingest.errors import InputError
from csceval.reference import local_authorities

log = logging.getLogger(__name__)

#: Columns the LAIT parquet must have.
LAIT_COLUMNS = ("Short Desc", "Data item", "Years", "LA and Regions", "Values", "LA Number", "Region")

#: Columns the data dictionary must have.
DICTIONARY_COLUMNS = ("Measure_short", "Measure", "y_axis_name", "Year_Type", "dps")

DICTIONARY_NAME = "lait_data_dictionary.csv"

#: LAIT area numbers that are not LAs: number -> (geographic level, EES region/country code, name).
LAIT_AREAS: dict[int, tuple[str, str, str]] = {
    970: ("National", "", "England"),
    980: ("Regional", "E12000001", "North East"),
    981: ("Regional", "E12000002", "North West"),
    982: ("Regional", "E12000003", "Yorkshire and The Humber"),
    983: ("Regional", "E12000004", "East Midlands"),
    984: ("Regional", "E12000005", "West Midlands"),
    985: ("Regional", "E12000006", "East of England"),
    986: ("Regional", "E12000007", "London"),
    987: ("Regional", "E13000001", "Inner London"),
    988: ("Regional", "E13000002", "Outer London"),
    989: ("Regional", "E12000008", "South East"),
    990: ("Regional", "E12000009", "South West"),
}

#: Release-status suffixes of a ``Years`` label -> the word kept in ``release_status``.
RELEASE_SUFFIXES: dict[str, str] = {"Rev": "revised", "Final": "final", "prov": "provisional", "OT": "outturn"}

#: Year_Type values understood (see the module docstring for the period each implies).
YEAR_TYPES = (
    "Financial Year", "Annual", "Academic Year", "Calendar Year", "Annual (end of Sept)", "Annual - January",
)

_NUMBER = r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?"
_LABEL = re.compile(
    r"^(?:(?P<single>\d{4})"
    r"|(?P<a>\d{4})[-/](?P<b>\d{2})"
    r"|(?P<r1>\d{4})/(?P<r1b>\d{2})-(?P<r2>\d{2})/(?P<r2b>\d{2}))"
    r"(?: \((?P<suffix>" + "|".join(RELEASE_SUFFIXES) + r")\))?$"
)

OUTPUT_COLUMNS = [
    "time_period", "geographic_level", "la_code", "new_la_code", "region_code", "measure", "value", "status",
    "source_row", "time_identifier", "period_start", "period_end", "years", "release_status", "la_name",
    "unit", "measure_label", "decimal_places", "data_item",
]


def read_lait_dictionary(path) -> pd.DataFrame:
    """Read the LAIT data dictionary: one row per indicator (``Measure_short``).

    Returns columns ``measure``, ``measure_label``, ``unit``, ``year_type``, ``decimal_places``.
    Row numbers in errors count CSV records (header = 1); some dictionary cells span several lines.
    Some indicators appear twice (reworded labels, e.g. "CLA" and "LAC"); the first row is kept,
    and two rows that disagree on ``Year_Type`` are an error because the periods would then be ambiguous.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, None, None, "LAIT data dictionary does not exist (expected next to the parquet)")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", index_col=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(path, None, None, "LAIT data dictionary is not a readable CSV", str(err)) from None
    for column in DICTIONARY_COLUMNS:
        if column not in table.columns:
            raise InputError(path, 1, column, "required data dictionary column is missing", f"header has {list(table.columns)}")
    table = table.assign(Measure_short=table["Measure_short"].str.strip(), Year_Type=table["Year_Type"].str.strip())
    unknown = ~table["Year_Type"].isin(YEAR_TYPES)
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(
            path, row + 2, "Year_Type", f"unknown Year_Type (known: {', '.join(YEAR_TYPES)})",
            f"{table['Measure_short'].iloc[row]!r}: {table['Year_Type'].iloc[row]!r}",
        )
    types = table.groupby("Measure_short")["Year_Type"].nunique()
    if (types > 1).any():
        measure = types.index[types > 1][0]
        rows = np.flatnonzero(table["Measure_short"].eq(measure).to_numpy()) + 2
        raise InputError(
            path, int(rows[1]), "Year_Type", "indicator listed twice with different year types",
            f"{measure!r}: {sorted(table.loc[table['Measure_short'].eq(measure), 'Year_Type'])}",
        )
    table = table.drop_duplicates("Measure_short", keep="first")
    dps = pd.to_numeric(table["dps"].replace({"NA": "", "": None}), errors="coerce")
    return pd.DataFrame({
        "measure": table["Measure_short"].to_numpy(),
        "measure_label": table["Measure"].to_numpy(),
        "unit": table["y_axis_name"].replace({"NA": ""}).to_numpy(),
        "year_type": table["Year_Type"].to_numpy(),
        "decimal_places": dps.astype("Int64").to_numpy(),
    })


#: Longest span, in years, a LAIT label may cover; a longer one means a 2-digit end year before the start.
MAX_SPAN_YEARS = 10


def _end_year(first: int, two_digits: str) -> int:
    """Full year of a 2-digit end year following ``first`` (``2099-01`` ends in 2101)."""
    last = (first // 100) * 100 + int(two_digits)
    return last + 100 if last < first else last


def _one_period(years: str, year_type: str):
    """(time_period, time_identifier, start, end, release_status, problem) for one label."""
    none = ("", "", pd.NaT, pd.NaT, "")
    match = _LABEL.match(years)
    if match is None:
        return (*none, f"unknown Years format {years!r}")
    status = RELEASE_SUFFIXES.get(match["suffix"] or "", "")
    ts = pd.Timestamp
    if match["single"]:
        y = int(match["single"])
        if year_type in ("Financial Year", "Annual"):
            return str(y), "Reporting year", ts(y - 1, 4, 1), ts(y, 3, 31), status, ""
        if year_type == "Academic Year":
            return f"{y - 1}{y % 100:02d}", "Academic year", ts(y - 1, 9, 1), ts(y, 8, 31), status, ""
        if year_type == "Calendar Year":
            return str(y), "Calendar year", ts(y, 1, 1), ts(y, 12, 31), status, ""
        if year_type == "Annual (end of Sept)":
            return str(y), "Year ending September", ts(y - 1, 10, 1), ts(y, 9, 30), status, ""
        if year_type == "Annual - January":
            return str(y), "January census", ts(y, 1, 1), ts(y, 1, 31), status, ""
        return (*none, f"unknown Year_Type {year_type!r} for Years {years!r}")
    if match["a"]:
        first = int(match["a"])
        last = _end_year(first, match["b"])
        if last <= first or last - first >= MAX_SPAN_YEARS:
            return (*none, f"Years {years!r} ends before it starts")
        if year_type in ("Financial Year", "Academic Year"):
            if last != first + 1:
                return (*none, f"Years {years!r} spans {last - first + 1} years but a {year_type} label must span one")
            if year_type == "Financial Year":
                return f"{first}{last % 100:02d}", "Financial year", ts(first, 4, 1), ts(last, 3, 31), status, ""
            return f"{first}{last % 100:02d}", "Academic year", ts(first, 9, 1), ts(last, 8, 31), status, ""
        if year_type == "Calendar Year" and "/" not in years:
            return f"{first}-{last}", "Calendar years (rolling)", ts(first, 1, 1), ts(last, 12, 31), status, ""
        return (*none, f"Years {years!r} does not fit Year_Type {year_type!r}")
    first = int(match["r1"])
    last = _end_year(first, match["r2"])
    first_end, last_end = _end_year(first, match["r1b"]), _end_year(last, match["r2b"])
    if first_end != first + 1 or last_end != last + 1 or last <= first or last - first >= MAX_SPAN_YEARS:
        return (*none, f"Years {years!r} is not a range of whole years")
    code = f"{first}{first_end % 100:02d}-{last}{last_end % 100:02d}"
    if year_type == "Financial Year":
        return code, "Financial years (rolling)", ts(first, 4, 1), ts(last_end, 3, 31), status, ""
    if year_type == "Academic Year":
        return code, "Academic years (rolling)", ts(first, 9, 1), ts(last_end, 8, 31), status, ""
    return (*none, f"Years {years!r} does not fit Year_Type {year_type!r}")


_STR = pd.StringDtype("pyarrow", na_value=np.nan)


def _take(uniques, codes) -> pd.Series:
    """A pandas ``str`` Series of ``uniques[codes]``, built in Arrow (5x faster than from Python objects)."""
    arrow = pa.array([str(u) for u in uniques], pa.large_string()).take(pa.array(np.asarray(codes, dtype="int64")))
    return arrow.to_pandas(types_mapper={pa.large_string(): _STR}.get)


class _Encoded:
    """A string column as integer codes into its distinct values (stripped; null -> "")."""

    def __init__(self, table, column: str):
        encoded = table.column(column).combine_chunks().dictionary_encode()
        uniques = [("" if v is None else str(v).strip()) for v in encoded.dictionary.to_pylist()]
        uniques.append("")  # code for nulls
        self.uniques = np.array(uniques, dtype=object)
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        if encoded.indices.null_count:
            codes = np.where(np.isnan(codes), len(uniques) - 1, codes)
        self.codes = codes.astype("int64")

    def at(self, i: int) -> str:
        return self.uniques[self.codes[i]]


def read_lait(path, dictionary=None) -> pd.DataFrame:
    """Read the LAIT long-format parquet into the tidy long form of :func:`~csceval.ingest.read_ees`.

    Parameters
    ----------
    path : str or Path
        ``bds_long_*.parquet`` as published.
    dictionary : str or Path, optional
        The data dictionary CSV; default ``lait_data_dictionary.csv`` in the parquet's folder.

    Returns
    -------
    DataFrame
        ``time_period`` (str, see the module docstring), ``geographic_level`` (``National``,
        ``Regional``, ``Local authority``), ``la_code`` (old 3-digit code, ``""`` off LA rows),
        ``new_la_code`` (current ONS code of the LA), ``region_code``, ``measure`` (LAIT ``Short Desc``),
        ``value`` (float, NaN where a symbol or blank stands), ``status`` (the symbol or ``""``),
        ``source_row``, then ``time_identifier``, ``period_start``, ``period_end``, ``years`` (the label as
        published), ``release_status``, ``la_name`` (area name as published), ``unit``, ``measure_label``,
        ``decimal_places`` (from the dictionary) and ``data_item`` (LAIT's own description, often blank).
        ``attrs["dropped_placeholder_rows"]`` counts the all-missing ``Years`` = ``0`` rows dropped.

    Raises
    ------
    InputError
        Missing file or column, an indicator absent from the dictionary, an unknown or inconsistent
        ``Years`` label, an unknown or non-integer LA number, a value that is neither a number nor a
        DfE symbol, or two rows for the same indicator, area and period.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, None, None, "file does not exist")
    dict_path = Path(dictionary) if dictionary is not None else path.parent / DICTIONARY_NAME
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for unreadable files
        raise InputError(path, None, None, "file is not a readable parquet file", f"{type(err).__name__}: {err}") from None
    for column in LAIT_COLUMNS:
        if column not in table.column_names:
            raise InputError(path, None, column, "required LAIT column is missing", f"columns are {table.column_names}")
    if table.num_rows == 0:
        raise InputError(path, None, None, "file has no rows")
    meta = read_lait_dictionary(dict_path).set_index("measure")
    n = table.num_rows
    source_row = np.arange(1, n + 1)

    # Every column has few distinct values (the 640k cells hold ~55k distinct strings): work on the
    # distinct values and broadcast through the codes, which keeps the reader at about a second.
    measure = _Encoded(table, "Short Desc")
    years = _Encoded(table, "Years")
    cell = _Encoded(table, "Values")
    name = _Encoded(table, "LA and Regions")
    item = _Encoded(table, "Data item")

    def fail(mask, field, rule, detail_of):
        first = int(np.flatnonzero(np.asarray(mask))[0])
        raise InputError(path, first + 1, field, rule, detail_of(first))

    # --- values: a number, a DfE symbol, or blank ------------------------------------------------
    u = pd.Series(cell.uniques, dtype=object)
    u_symbol = u.isin(list(EES_SYMBOLS)).to_numpy()
    u_number = u.str.fullmatch(_NUMBER).fillna(False).to_numpy(dtype=bool)
    u_bad = ~(u_symbol | u_number | u.eq("").to_numpy())
    if u_bad[cell.codes].any():
        fail(u_bad[cell.codes], "Values", "value is neither a number nor a DfE symbol", lambda i: repr(cell.at(i)))
    u_value = np.full(len(u), np.nan)
    # astype(float) goes through Python's correctly-rounded parser: '9.3699999999999992' -> 9.37 exactly.
    u_value[u_number] = u[u_number].to_numpy(dtype=object).astype("float64")
    is_number = u_number[cell.codes]

    # --- placeholder year 0 --------------------------------------------------------------------
    placeholder = (years.uniques == "0")[years.codes]
    if (placeholder & is_number).any():
        fail(placeholder & is_number, "Years", "Years is 0 (a placeholder) but the row holds a number", lambda i: repr(cell.at(i)))
    keep = ~placeholder
    dropped = int(placeholder.sum())
    if dropped:
        log.info("%s: dropped %d rows with the placeholder Years '0' (all values missing)", path, dropped)

    # --- indicators known to the dictionary ------------------------------------------------------
    u_known = pd.Index(meta.index).get_indexer(measure.uniques) >= 0
    if not u_known[measure.codes].all():
        fail(~u_known[measure.codes], "Short Desc", f"indicator is not in the data dictionary {dict_path.name}", lambda i: repr(measure.at(i)))

    # --- LA numbers ---------------------------------------------------------------------------
    number_raw = table.column("LA Number").to_numpy()
    number = pd.to_numeric(pd.Series(number_raw), errors="coerce").to_numpy(dtype=float)
    not_int = np.isnan(number) | (number != np.floor(number))
    if not_int.any():
        fail(not_int, "LA Number", "LA number is missing or not a whole number", lambda i: repr(number_raw[i]))
    u_num, num_codes = np.unique(number.astype("int64"), return_inverse=True)
    u_code = np.array([str(x) for x in u_num], dtype=object)
    las = local_authorities().set_index("la_code")
    u_la = np.isin(u_code, las.index.to_numpy())
    u_area = np.isin(u_num, list(LAIT_AREAS))
    if not (u_la | u_area).all():
        fail(
            ~(u_la | u_area)[num_codes], "LA Number",
            "LA number is neither an LA in csceval.reference (current or defunct) nor a LAIT England/region number",
            lambda i: repr(u_code[num_codes[i]]),
        )
    u_level = np.array([("Local authority" if la else LAIT_AREAS[int(x)][0]) for x, la in zip(u_num, u_la)], dtype=object)
    u_ons = np.array([(las.at[c, "ons_code"] if la else "") for c, la in zip(u_code, u_la)], dtype=object)
    u_region = np.array(
        [(las.at[c, "region_code"] if la else LAIT_AREAS[int(x)][1]) for c, x, la in zip(u_code, u_num, u_la)], dtype=object,
    )
    u_la_code = np.where(u_la, u_code, "")

    # --- periods: one per distinct (Years, indicator's Year_Type) --------------------------------
    u_year_type = meta["year_type"].reindex(measure.uniques).to_numpy(dtype=object)
    pair = years.codes.astype("int64") * len(measure.uniques) + measure.codes
    pair_u, pair_codes = np.unique(pair[keep], return_inverse=True)
    rows = [
        (years.uniques[p // len(measure.uniques)], u_year_type[p % len(measure.uniques)], measure.uniques[p % len(measure.uniques)])
        for p in pair_u
    ]
    resolved = [_one_period(y, t) for y, t, _ in rows]
    for (label, year_type, indicator), (*_, problem), p in zip(rows, resolved, pair_u):
        if problem:
            first = int(np.flatnonzero(pair == p)[0])
            raise InputError(path, first + 1, "Years", "Years label cannot be read as a period", f"{problem} (indicator {indicator!r})")

    def per_pair(k, dtype=object):
        return np.array([r[k] for r in resolved], dtype=dtype)[pair_codes]

    def per_pair_str(k):
        return _take([r[k] for r in resolved], pair_codes)

    kept_rows = source_row[keep]
    mc = measure.codes[keep]
    nc = num_codes[keep]
    cc = cell.codes[keep]
    out = pd.DataFrame({
        "time_period": per_pair_str(0),
        "geographic_level": _take(u_level, nc),
        "la_code": _take(u_la_code, nc),
        "new_la_code": _take(u_ons, nc),
        "region_code": _take(u_region, nc),
        "measure": _take(measure.uniques, mc),
        "value": u_value[cc],
        "status": _take(np.where(u_symbol, u.to_numpy(dtype=object), ""), cc),
        "source_row": kept_rows.astype("int64"),
        "time_identifier": per_pair_str(1),
        "period_start": per_pair(2, "datetime64[ns]"),
        "period_end": per_pair(3, "datetime64[ns]"),
        "years": _take(years.uniques, years.codes[keep]),
        "release_status": per_pair_str(4),
        "la_name": _take(name.uniques, name.codes[keep]),
        "unit": _take(meta["unit"].reindex(measure.uniques).to_numpy(dtype=object), mc),
        "measure_label": _take(meta["measure_label"].reindex(measure.uniques).to_numpy(dtype=object), mc),
        "decimal_places": pd.array(meta["decimal_places"].reindex(measure.uniques).to_numpy()[mc], dtype="Int64"),
        "data_item": _take(item.uniques, item.codes[keep]),
    })

    # Two labels may name one period ('2023' and '2023 (Rev)'): key on the resolved period, not the label.
    period_key, _ = pd.factorize(pd.Series([(ind, r[0], r[1]) for (_, _, ind), r in zip(rows, resolved)]))
    key = period_key[pair_codes].astype("int64") * len(u_num) + nc
    dup = pd.Series(key).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputError(
            path, int(kept_rows[i]), "Years", "two rows for the same indicator, area and period",
            f"{out.at[i, 'measure']!r}, LA Number {u_num[nc[i]]}, Years {out.at[i, 'years']!r}",
        )
    out.attrs["dropped_placeholder_rows"] = dropped
    out.attrs["source"] = str(path)
    return out
