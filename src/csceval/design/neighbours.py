r"""Statistical neighbours: DfE's published groupings, and a synthetic stand-in for synthetic runs.

The Children's Services Statistical Neighbour Benchmarking Tool (CSSNBT; NFER 2007, updated for
local government reorganisation in 2009, April 2021 and May 2025) gives each English LA its 10
closest statistical neighbours, each with a closeness band. Two published CSV layouts are read:

``sn_model_2025_wide.csv`` (May 2025 model)
    ``old_la_code, la_name, region_ind, region_name, SN_1, SN_1P, ..., SN_10, SN_10P``; UTF-8 with a
    byte-order mark; bands written ``"Very close"``, ``"Close "`` (with a trailing space), ...
``New_Statistical_Neighbour_Groupings_April_2021.csv`` (April 2021 model)
    ``LA num, LA Name, LA number, GOInd, GOReg, SN1, SNP, SN2, SNP, ..., SN10, SNP,`` (every band
    column is called ``SNP``; a trailing empty column); UTF-8 with a byte-order mark; bands written
    ``"Very Close"``, ``"Somewhat close"``; after the current LAs, blank rows and an ``"Old SNs:"``
    marker row introduce the pre-reorganisation LAs (Dorset 835, Poole 836, Bournemouth 837,
    Northamptonshire 928), read with ``section = "old"``.

Both files use a fifth band, ``"Extremely close"``, above ``"Very close"`` (12 of the 1,530
neighbour pairs of the 2025 model), so :data:`BANDS` has five levels, closest first.

Neighbour cells may hold an old 3-digit DfE code (as published) or an LA name (as in some
spreadsheet versions of the tool); names are resolved through the package LA reference table and
the file's own name column. Problems that make a file untrustworthy (unknown layout, no LA code,
unknown code or name, an LA listed twice, an LA as its own neighbour, a neighbour listed twice for
one LA, an unknown band, a missing neighbour) raise :class:`csceval.ingest.InputError` naming the
file, line, column and rule.

For synthetic runs the real groupings do not describe the simulated LAs. The real CSSNBT variables
and their weights are **not public** (NFER's report describes the method, not a reproducible
specification; domain facts section 4), so :func:`synthetic_statistical_neighbours` uses a
transparent stand-in: the 10 nearest LAs by standardised Euclidean distance (the distance the
comparable CIPFA model uses) on the LAs' pre-period outcome levels and log child population, with
closeness bands cut at quantiles of those distances chosen to reproduce the published 2025 band
mix (:data:`DEFAULT_BAND_SHARES`).
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from csceval.ingest import InputError
from csceval.reference import local_authorities

__all__ = [
    "BANDS",
    "DEFAULT_BAND_SHARES",
    "NEIGHBOUR_COLUMNS",
    "band_rank",
    "read_statistical_neighbours",
    "synthetic_statistical_neighbours",
    "write_statistical_neighbours",
]

#: Closeness bands, closest first. The first four are the ones the tool documents; "Extremely close"
#: also appears in both published files.
BANDS: tuple[str, ...] = ("Extremely close", "Very close", "Close", "Somewhat close", "Not close")
_BAND_LOOKUP = {b.lower(): b for b in BANDS}

#: Share of neighbour pairs in each band in the published May 2025 model (12, 820, 513, 136 and 49
#: of 1,530 pairs), used to cut synthetic distances into bands.
DEFAULT_BAND_SHARES: dict[str, float] = {
    "Extremely close": 12 / 1530,
    "Very close": 820 / 1530,
    "Close": 513 / 1530,
    "Somewhat close": 136 / 1530,
    "Not close": 49 / 1530,
}

#: Columns of the long neighbour table (``distance`` is added by the synthetic model only).
NEIGHBOUR_COLUMNS: list[str] = ["model", "la_code", "la_name", "neighbour_code", "rank", "closeness", "section"]

#: The 2025 file's ``region_ind`` numbering (alphabetical order of the nine ONS regions).
_REGION_IND = {
    "East Midlands": 1, "East of England": 2, "London": 3, "North East": 4, "North West": 5,
    "South East": 6, "South West": 7, "West Midlands": 8, "Yorkshire and The Humber": 9,
}

_CODE_RE = re.compile(r"^(\d{3})(?:\.0+)?$")
_SYNTHETIC_RE = re.compile(r"^X\d{4}$")


def band_rank(band) -> int:
    """Position of a closeness band in :data:`BANDS` (0 = closest); case and spaces are ignored."""
    key = str(band).strip().lower()
    if key not in _BAND_LOOKUP:
        raise ValueError(f"unknown closeness band {band!r}; expected one of {list(BANDS)}")
    return BANDS.index(_BAND_LOOKUP[key])


# --------------------------------------------------------------------------------------- reading
def _normalise_name(name: str) -> str:
    """LA name key: case, '&', punctuation and 'City of' / 'County' / '(Pre LG)' variants ignored."""
    s = str(name).lower().replace("&", " and ")
    s = re.sub(r"\(pre lg\)", " ", s)
    s = re.sub(r"[^a-z ]", " ", s)
    tokens = [t for t in s.split() if t not in {"city", "of", "county", "the"}]
    return " ".join(tokens)


def _reference_names() -> tuple[dict[str, list[str]], set[str], dict[str, str]]:
    la = local_authorities()
    by_name: dict[str, list[str]] = {}
    for code, name, last in zip(la["la_code"], la["la_name"], la["last_reporting_year"]):
        by_name.setdefault(_normalise_name(name), []).append(code)
    current = set(la.loc[la["last_reporting_year"].isna(), "la_code"])
    names = dict(zip(la["la_code"], la["la_name"]))
    return by_name, current, names


def _read_rows(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    text = text.lstrip("\ufeff")
    return [[c.replace("\ufeff", "") for c in row] for row in csv.reader(io.StringIO(text, newline=""))]


def _layout(header: list[str], path: Path) -> dict:
    cells = [h.strip().lower() for h in header]
    code_col = next((cells.index(c) for c in ("old_la_code", "la num", "la_code", "la number", "la code") if c in cells), None)
    name_col = next((cells.index(c) for c in ("la_name", "la name") if c in cells), None)
    sn_cols: dict[int, int] = {}
    for i, c in enumerate(cells):
        m = re.fullmatch(r"sn_?(\d+)", c)
        if m:
            k = int(m.group(1))
            if k in sn_cols:
                raise InputError(path, 1, header[i], "neighbour rank column appears twice", repr(header[i]))
            sn_cols[k] = i
    if code_col is None or not sn_cols:
        raise InputError(
            path, 1, None,
            "not a statistical neighbour file: expected an LA code column (old_la_code or 'LA num') and "
            "neighbour columns SN_1.. (2025 layout) or SN1.. (2021 layout)",
            ", ".join(header[:8]),
        )
    ranks = sorted(sn_cols)
    if ranks != list(range(1, len(ranks) + 1)):
        raise InputError(path, 1, None, "neighbour rank columns are not numbered 1..n without gaps", f"found ranks {ranks}")
    band_cols: dict[int, int | None] = {}
    for k, i in sn_cols.items():
        wide = f"sn_{k}p" if "_" in cells[i] else f"sn{k}p"
        if wide in cells:
            band_cols[k] = cells.index(wide)
        elif i + 1 < len(cells) and cells[i + 1] in ("snp", f"sn_{k}p", f"sn{k}p"):
            band_cols[k] = i + 1
        else:
            band_cols[k] = None
    model = "2025" if cells[code_col] == "old_la_code" else "2021" if cells[code_col] == "la num" else None
    return {"code": code_col, "name": name_col, "sn": sn_cols, "band": band_cols, "model": model}


class _Resolver:
    """Code-or-name -> old 3-digit DfE code."""

    def __init__(self, path: Path, file_names: Mapping[str, str]):
        self.path = path
        self.by_name, self.current, self.names = _reference_names()
        self.known = set(self.names)
        self.file_names: dict[str, list[str]] = {}
        for code, name in file_names.items():
            self.file_names.setdefault(_normalise_name(name), []).append(code)

    def __call__(self, value: str, row: int, field: str) -> str:
        text = value.strip()
        m = _CODE_RE.fullmatch(text)
        if m:
            code = m.group(1)
            if code not in self.known:
                raise InputError(self.path, row, field, "not an old 3-digit DfE LA code in the package LA reference table", repr(text))
            return code
        if _SYNTHETIC_RE.fullmatch(text):
            return text
        if re.fullmatch(r"\d+", text):
            raise InputError(self.path, row, field, "LA codes have 3 digits", repr(text))
        key = _normalise_name(text)
        old = "pre lg" in text.lower()
        candidates = self.file_names.get(key) or self.by_name.get(key) or []
        if len(candidates) > 1:  # e.g. 'Dorset' is both 835 (to 2019) and 838 (from 2019)
            preferred = [c for c in candidates if (c not in self.current) == old]
            candidates = preferred if len(preferred) == 1 else candidates
        if len(candidates) != 1:
            rule = "LA name matches more than one LA code" if candidates else "neither an LA code nor a known LA name"
            raise InputError(self.path, row, field, rule, repr(text))
        return candidates[0]


def _band(value: str, path: Path, row: int, field: str):
    text = value.strip()
    if not text:
        return pd.NA
    key = re.sub(r"\s+", " ", text.lower())
    if key not in _BAND_LOOKUP:
        raise InputError(path, row, field, f"unknown closeness band; expected one of {list(BANDS)}", repr(value))
    return _BAND_LOOKUP[key]


def read_statistical_neighbours(path, model: str | None = None) -> pd.DataFrame:
    """Read a published statistical neighbour file (2025 wide or 2021 layout) into a long table.

    Parameters
    ----------
    path : path of the CSV file.
    model : label of the model (``"2025"``, ``"2021"``, ...). By default taken from the layout:
        ``old_la_code`` -> ``"2025"``, ``LA num`` -> ``"2021"``; other layouts need it.

    Returns
    -------
    DataFrame with :data:`NEIGHBOUR_COLUMNS`, one row per LA x neighbour rank, sorted by la_code and
    rank: ``model``, ``la_code`` (str), ``la_name`` (as in the file), ``neighbour_code`` (str),
    ``rank`` (int, 1 = closest), ``closeness`` (one of :data:`BANDS`, normalised for case and
    spaces; missing when the file gives no band), ``section`` (``"current"``, or ``"old"`` for the
    rows after the 2021 file's "Old SNs:" marker).

    Raises
    ------
    InputError
        For an unreadable layout or any row that breaks the rules listed in the module docstring.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, None, "statistical neighbour file not found")
    rows = _read_rows(path)
    if not rows:
        raise InputError(path, None, None, "file is empty")
    spec = _layout(rows[0], path)
    model = str(model) if model is not None else spec["model"]
    if model is None:
        raise InputError(path, 1, None, "cannot tell which neighbour model this layout is; pass model=")
    header = rows[0]

    def cell(row: list[str], i: int | None) -> str:
        return row[i].strip() if i is not None and i < len(row) else ""

    file_names = {}
    for row in rows[1:]:
        code = cell(row, spec["code"])
        if _CODE_RE.fullmatch(code) and spec["name"] is not None:
            file_names.setdefault(_CODE_RE.fullmatch(code).group(1), cell(row, spec["name"]))
    resolve = _Resolver(path, file_names)

    records: list[dict] = []
    seen: dict[str, int] = {}
    section = "current"
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        code_text = cell(row, spec["code"])
        if not code_text:
            text = " ".join(c.strip() for c in row if c.strip())
            if re.search(r"\bold\b", text, flags=re.IGNORECASE) and not any(cell(row, i) for i in spec["sn"].values()):
                section = "old"
                continue
            raise InputError(path, line, header[spec["code"]], "row has neighbours but no LA code", text[:60])
        code = resolve(code_text, line, header[spec["code"]].strip())
        if code in seen:
            raise InputError(path, line, header[spec["code"]].strip(), f"LA listed twice (first on line {seen[code]})", code)
        seen[code] = line
        name = cell(row, spec["name"])
        neighbours: list[str] = []
        for k in sorted(spec["sn"]):
            field = header[spec["sn"][k]].strip()
            value = cell(row, spec["sn"][k])
            if not value:
                raise InputError(path, line, field, f"neighbour {k} is missing", code)
            neighbour = resolve(value, line, field)
            if neighbour == code:
                raise InputError(path, line, field, "an LA cannot be its own statistical neighbour", neighbour)
            if neighbour in neighbours:
                raise InputError(path, line, field, "the same neighbour is listed twice for this LA", neighbour)
            neighbours.append(neighbour)
            band_col = spec["band"][k]
            band = _band(cell(row, band_col), path, line, header[band_col].strip()) if band_col is not None else pd.NA
            records.append(dict(model=model, la_code=code, la_name=name, neighbour_code=neighbour, rank=k,
                                closeness=band, section=section))
    if not records:
        raise InputError(path, None, None, "no LA rows found")
    table = pd.DataFrame(records, columns=NEIGHBOUR_COLUMNS)
    table["rank"] = table["rank"].astype(int)
    table["closeness"] = table["closeness"].astype(object)
    return table.sort_values(["la_code", "rank"], ignore_index=True)


# --------------------------------------------------------------------------------------- writing
def write_statistical_neighbours(table: pd.DataFrame, path, model: str | None = None) -> Path:
    """Write a long neighbour table in the published 2025 wide layout.

    Columns ``old_la_code, la_name, region_ind, region_name, SN_1, SN_1P, ..., SN_n, SN_nP`` (UTF-8
    with a byte-order mark, like the published file; bands written without the published trailing
    spaces). ``la_name`` comes from the table when it has the column, else from the package LA
    reference table; ``region_ind``/``region_name`` are the LA's ONS region and the 2025 file's
    numbering (blank for codes not in the reference table, e.g. synthetic ``X0001`` units).

    Parameters
    ----------
    table : long table as returned by :func:`read_statistical_neighbours` or
        :func:`synthetic_statistical_neighbours` (``la_code``, ``neighbour_code``, ``rank``,
        optional ``closeness``, ``la_name``, ``model``).
    path : output file.
    model : write only this model's rows (required when ``table`` holds several models).

    Returns
    -------
    Path of the written file. :func:`read_statistical_neighbours` reads it back to the same table.
    """
    missing = [c for c in ("la_code", "neighbour_code", "rank") if c not in table.columns]
    if missing:
        raise ValueError(f"neighbour table is missing column(s) {missing}")
    data = table.copy()
    if "model" in data.columns:
        models = sorted(data["model"].astype(str).unique())
        if model is not None:
            data = data[data["model"].astype(str).eq(str(model))]
            if data.empty:
                raise ValueError(f"no rows for model {model!r}; the table has models {models}")
        elif len(models) > 1:
            raise ValueError(f"the table holds several models {models}; pass model=")
    if "section" in data.columns:
        data = data[data["section"].fillna("current").eq("current")]
    data["la_code"] = data["la_code"].astype(str)
    data["neighbour_code"] = data["neighbour_code"].astype(str)
    data["rank"] = data["rank"].astype(int)
    if data.duplicated(["la_code", "rank"]).any():
        dup = data.loc[data.duplicated(["la_code", "rank"]), ["la_code", "rank"]].iloc[0].tolist()
        raise ValueError(f"more than one neighbour with the same rank for an LA: {dup}")
    n = int(data["rank"].max())
    la = local_authorities()
    ref_names = dict(zip(la["la_code"], la["la_name"]))
    regions = dict(zip(la["la_code"], la["ons_region_name"]))
    names = {}
    if "la_name" in data.columns:
        names = {c: v for c, v in zip(data["la_code"], data["la_name"]) if isinstance(v, str) and v}
    header = ["old_la_code", "la_name", "region_ind", "region_name"]
    for k in range(1, n + 1):
        header += [f"SN_{k}", f"SN_{k}P"]
    lines = []
    for code, rows in data.sort_values(["la_code", "rank"]).groupby("la_code", sort=True):
        ranks = rows.set_index("rank")
        if sorted(ranks.index) != list(range(1, n + 1)):
            raise ValueError(f"LA {code} does not have neighbours ranked 1..{n}: {sorted(ranks.index)}")
        region = regions.get(code, "")
        out = [code, names.get(code) or ref_names.get(code, f"Synthetic authority {code}"),
               str(_REGION_IND.get(region, "")), region]
        for k in range(1, n + 1):
            band = ranks.loc[k, "closeness"] if "closeness" in ranks.columns else None
            out += [ranks.loc[k, "neighbour_code"], "" if band is None or pd.isna(band) else str(band)]
        lines.append(out)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    path.write_text(buffer.getvalue(), encoding="utf-8-sig", newline="")
    return path


# ------------------------------------------------------------------------------------- synthetic
def _panel_features(panel: pd.DataFrame, outcomes: Sequence[str] | None, periods, current_only: bool) -> pd.DataFrame:
    data = panel.copy()
    data["la_code"] = data["la_code"].astype(str)
    data["period"] = pd.to_datetime(data["period"])
    if current_only:
        last = data["period"].max()
        current = set(data.loc[data["period"].eq(last), "la_code"])
    outcomes = sorted(data["outcome"].unique()) if outcomes is None else list(outcomes)
    unknown = sorted(set(outcomes) - set(data["outcome"].unique()))
    if unknown:
        raise ValueError(f"outcome(s) {unknown} are not in the panel")
    if periods is not None:
        data = data[data["period"].isin(pd.to_datetime(pd.Index(periods)))]
    data = data[data["outcome"].isin(outcomes)]
    levels = data.pivot_table(index="la_code", columns="outcome", values="value", aggfunc="mean")
    levels = levels.reindex(columns=outcomes)
    levels.columns = [f"{o}_level" for o in outcomes]
    pop = data[data["denominator"] > 0].drop_duplicates(["la_code", "period"])
    log_pop = np.log(pop.set_index("la_code")["denominator"]).groupby(level=0).mean().rename("log_child_population")
    features = levels.join(log_pop, how="outer")
    if current_only:
        features = features.reindex(sorted(current))  # current LAs without data in ``periods`` stay, as NaN
    return features


def synthetic_statistical_neighbours(
    panel_or_covariates: pd.DataFrame,
    *,
    outcomes: Sequence[str] | None = None,
    periods: Iterable | None = None,
    n_neighbours: int = 10,
    band_shares: Mapping[str, float] | None = None,
    model: str = "synthetic",
    current_only: bool = True,
) -> pd.DataFrame:
    r"""The ``n_neighbours`` nearest LAs of every LA, for synthetic runs.

    Features per LA: each outcome's mean level over ``periods`` (the pre-period; all periods by
    default) and the mean log child population (the panel's rate denominator) -- or, when a
    covariate table (``la_code`` plus numeric columns, no ``outcome``/``period``) is given, its
    numeric columns. Each feature is standardised across the LAs (mean 0, SD 1) and LAs are
    compared by Euclidean distance on the standardised features,

    .. math:: d_{ij} = \Big(\sum_f (z_{if} - z_{jf})^2\Big)^{1/2},

    the standardised Euclidean distance of the CIPFA nearest-neighbour model. This is a documented
    stand-in: the real CSSNBT variables and weights are not public. Ties are broken by
    ``neighbour_code``. Closeness bands cut the pooled distances of all selected pairs at the
    cumulative ``band_shares`` quantiles (default :data:`DEFAULT_BAND_SHARES`, the published 2025
    band mix), closest band first.

    Parameters
    ----------
    panel_or_covariates : tidy panel (``la_code, period, outcome, value, denominator``) or an LA
        covariate table.
    outcomes : outcomes to use (panel input); all by default.
    periods : period start dates to average over (panel input); all by default.
    n_neighbours : neighbours per LA (10 in the published tool).
    band_shares : band -> share of pairs, closest first; must sum to 1.
    model : value of the ``model`` column.
    current_only : panel input: keep only LAs with data in the panel's last period (abolished LAs
        such as Cumbria 909 are neither given neighbours nor used as one).

    Returns
    -------
    DataFrame with :data:`NEIGHBOUR_COLUMNS` plus ``distance``. LAs with a missing feature are left
    out with a warning.
    """
    data = panel_or_covariates
    if {"outcome", "period", "value"} <= set(data.columns):
        features = _panel_features(data, outcomes, periods, current_only)
    else:
        if "la_code" not in data.columns:
            raise ValueError("a covariate table needs an la_code column")
        features = data.set_index(data["la_code"].astype(str)).drop(columns="la_code").select_dtypes("number")
        if features.shape[1] == 0:
            raise ValueError("the covariate table has no numeric columns")
    features = features.sort_index()
    incomplete = features.index[features.isna().any(axis=1)]
    if len(incomplete):
        warnings.warn(f"{len(incomplete)} LA(s) left out of the synthetic neighbour model for missing features: "
                      f"{', '.join(incomplete)}", UserWarning, stacklevel=2)
        features = features.drop(index=incomplete)
    if len(features) <= n_neighbours:
        raise ValueError(f"need more than {n_neighbours} LAs with complete features, have {len(features)}")
    x = features.to_numpy(float)
    sd = x.std(axis=0, ddof=1)
    sd[sd == 0] = 1.0
    z = (x - x.mean(axis=0)) / sd
    d = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(axis=2))
    codes = features.index.to_numpy(str)
    code_order = np.arange(len(codes))  # features are sorted by la_code: position = tie-break order
    records = []
    for i, code in enumerate(codes):
        dist = np.round(d[i], 12)
        candidates = [j for j in np.lexsort((code_order, dist)) if j != i][:n_neighbours]
        for rank, j in enumerate(candidates, start=1):
            records.append(dict(model=model, la_code=code, neighbour_code=codes[j], rank=rank, distance=float(d[i, j])))
    table = pd.DataFrame(records)
    shares = dict(band_shares or DEFAULT_BAND_SHARES)
    for band in shares:
        band_rank(band)
    bands = sorted(shares, key=band_rank)
    total = sum(shares.values())
    if not np.isclose(total, 1.0):
        raise ValueError(f"band_shares must sum to 1, got {total}")
    cuts = np.quantile(table["distance"], np.cumsum([shares[b] for b in bands])[:-1])
    table["closeness"] = pd.Series([bands[i] for i in np.searchsorted(cuts, table["distance"].to_numpy(), side="left")],
                                   index=table.index, dtype=object)
    la = local_authorities()
    names = dict(zip(la["la_code"], la["la_name"]))
    table["la_name"] = table["la_code"].map(lambda c: names.get(c, f"Synthetic authority {c}"))
    table["section"] = "current"
    return table[NEIGHBOUR_COLUMNS + ["distance"]].sort_values(["la_code", "rank"], ignore_index=True)
