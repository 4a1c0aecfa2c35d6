"""Write simulated LA counts in the Explore Education Statistics (EES) open-data layouts.

Layouts copy the real DfE files (column names and order, row order, ``time_identifier``, blank cells
for columns that do not apply at a level, quoting, symbols, the CLA file's UTF-8 BOM); the values
are the simulator's.  Rules applied (DfE disclosure control for children's social care):

* LA counts are unrounded; an LA count of 1 to 5 is suppressed as ``c``.  Secondary suppression:
  where exactly one cell of an additive group is suppressed (b1: At31 + Ended = Anypoint; d5: the
  five durations, which add up to CPP_At31), the smallest other positive cell is suppressed too.
* A percentage is ``z`` when its denominator is 0, ``c`` when its numerator is suppressed (or its
  denominator is suppressed and the numerator is not 0), else 100 x num / den to 1 decimal place
  written without a trailing ``.0`` (``21``, ``18.7``), as the published files do.
* National and Regional rows: sums of the (unrounded) LA counts, rounded to the nearest 10;
  their percentages and rates are computed from the unrounded sums.  Regional rows are the nine
  ONS regions plus Inner London (E13000001) and Outer London (E13000002).
* CLA rates per 10,000 are whole numbers.  In the CLA file every authority of the file's universe
  (every LA reporting in at least one simulated year: 155 for spans from 2020 on that reach 2024,
  like the real 2021-2025 release; 158 when the span reaches back before 2020 and so includes the
  old Dorset, Poole and Bournemouth) has a row every year; in years it does not exist its counts
  and rates are ``z`` and its population ``x``.  The CLA file uses each LA's current GSS code in
  every year (as published); the CIN and ONS files use the code valid on 31 March of the
  reporting year and carry only the authorities of that year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._dgp import PER_10K, REGION_CODES, Units, round_half_up

QUOTED_EMPTY = object()  # a cell written as "" (the d3/d5 files quote some empty cells)
BOM = "\ufeff"

GEO_COLUMNS = ["time_period", "time_identifier", "geographic_level", "country_code", "country_name",
               "region_code", "region_name"]
CIN_GEO = GEO_COLUMNS + ["old_la_code", "new_la_code", "la_name"]
CLA_GEO = GEO_COLUMNS + ["old_la_code", "la_name", "new_la_code"]

B1_HEADER = CIN_GEO + ["category", "Anypoint_episodes", "Anypoint_child", "Started_episodes", "Started_child",
                       "Ended_episodes", "Ended_child", "At31_episodes", "awaiting_assessment"]
C1_HEADER = CIN_GEO + ["category", "referral_count", "rereferral_count", "rereferral_percent",
                       "no_further_action_count", "no_further_action_percent", "not_in_need_count",
                       "not_in_need_percent", "referral_child_count", "rereferral_child_count",
                       "rereferral_child_percent"]
D3_HEADER = CIN_GEO + ["category", "CPP_start", "CPP_subsequent", "CPP_subsequent_percent"]
D5_DURATIONS = ["3_months_or_less", "more_than_3_months_6_months", "more_than_6_months_less_than_1_year",
                "1_year_less_than_2_years", "2_years_or_more"]
D5_HEADER = CIN_GEO + ["category", "CPP_At31"] + [c for d in D5_DURATIONS for c in (d, f"{d}_percent")]
ONS_HEADER = CIN_GEO + ["age_group", "population_estimate"]
CLA_HEADER = CLA_GEO + ["population_type", "population_estimate", "children_count", "rate_per_10000"]

CLA_TYPES = [  # alphabetical, as in the published file
    ("Children ceasing to be looked after each year", "cla_ceasing"),
    ("Children looked after on 31 March each year", "cla_on_31_march"),
    ("Children starting to be looked after each year", "cla_starting"),
]


@dataclass
class CinFile:
    header: list[str]
    category: str
    percents: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (numerator, denominator)
    quoted_empty: bool = False
    groups: list[list[str]] = field(default_factory=list)  # secondary-suppression groups

    @property
    def values(self) -> list[str]:
        return self.header[len(CIN_GEO) + 1:]

    @property
    def counts(self) -> list[str]:
        return [c for c in self.values if c not in self.percents]


CIN_FILES = {
    "b1": CinFile(B1_HEADER, "Children in Need",
                  groups=[["At31_episodes", "Ended_episodes", "Anypoint_episodes"]]),
    "c1": CinFile(C1_HEADER, "Referrals and Re-referrals", percents={
        "rereferral_percent": ("rereferral_count", "referral_count"),
        "no_further_action_percent": ("no_further_action_count", "referral_count"),
        "not_in_need_percent": ("not_in_need_count", "referral_count"),
        "rereferral_child_percent": ("rereferral_child_count", "referral_child_count"),
    }),
    "d3": CinFile(D3_HEADER, "Child Protection Plans which are a second or subsequent plan",
                  percents={"CPP_subsequent_percent": ("CPP_subsequent", "CPP_start")}, quoted_empty=True),
    "d5": CinFile(D5_HEADER, "Child Protection Plans by length of time",
                  percents={f"{d}_percent": (d, "CPP_At31") for d in D5_DURATIONS}, quoted_empty=True,
                  groups=[D5_DURATIONS]),
}


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------
def _cell(f) -> str:
    """One CSV cell, quoted only when it must be (csv.QUOTE_MINIMAL), or ``""`` for QUOTED_EMPTY."""
    if f is QUOTED_EMPTY:
        return '""'
    s = f if type(f) is str else str(f)
    if "," in s or '"' in s or "\n" in s or "\r" in s:
        s = '"' + s.replace('"', '""') + '"'
    return s


def _csv_line(fields) -> str:
    return ",".join([_cell(f) for f in fields])


def _quoted(values) -> np.ndarray:
    return np.array([_cell(v) for v in values], dtype=object)


class _Prefixes:
    """The geography cells of each unit's LA row, joined and quoted (object arrays, one per year)."""

    def __init__(self, units: Units):
        self.units = units
        self.region = _quoted(units.region_code) + "," + _quoted(units.region_name) + "," + _quoted(units.code)
        self.name = _quoted(units.name)

    def cin(self, year: int, ons: np.ndarray) -> np.ndarray:
        head = f"{year},Reporting year,Local authority,E92000001,England,"
        return head + self.region + "," + _quoted(ons) + "," + self.name

    def cla(self, year: int) -> np.ndarray:
        head = f"{year},Reporting year,Local authority,E92000001,England,"
        return head + self.region + "," + self.name + "," + _quoted(self.units.ons_code)


def _int_str(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.int64).astype(str).astype(object)


def round10(a) -> np.ndarray:
    return (np.floor(np.asarray(a, dtype=float) / 10.0 + 0.5) * 10).astype(np.int64)


def percent_str(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """100 num / den to 1 dp, half up, without a trailing '.0'; 'z' where den == 0."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.floor(np.where(den > 0, 1000.0 * num / den, 0.0) + 0.5) / 10.0
    s = np.char.rstrip(np.char.rstrip(np.char.mod("%.1f", v), "0"), ".").astype(object)
    return np.where(den > 0, s, "z").astype(object)


def primary_suppression(a: np.ndarray) -> np.ndarray:
    return (a >= 1) & (a <= 5)


def secondary_suppression(cols: dict[str, np.ndarray], supp: dict[str, np.ndarray], group: list[str]) -> None:
    """Where exactly one cell of ``group`` is suppressed, also suppress the smallest other positive cell."""
    vals = np.stack([cols[c] for c in group], axis=-1)
    s = np.stack([supp[c] for c in group], axis=-1)
    need = s.sum(axis=-1) == 1
    if not need.any():
        return
    cand = np.where(~s & (vals > 0), vals, np.iinfo(np.int64).max)
    pick = np.argmin(cand, axis=-1)
    ok = need & (np.take_along_axis(cand, pick[..., None], axis=-1)[..., 0] < np.iinfo(np.int64).max)
    for j, c in enumerate(group):
        supp[c] = supp[c] | (ok & (pick == j))


# --------------------------------------------------------------------------------------------
# the panel handed to the writers
# --------------------------------------------------------------------------------------------
@dataclass
class Panel:
    units: Units
    years: np.ndarray          # reporting years
    mid_years: np.ndarray      # years - 1 (ONS mid-years)
    pop_mid: np.ndarray        # [unit, mid_year] int
    columns: dict[str, np.ndarray]  # [unit, year] int counts
    region_names: dict[str, str]

    @property
    def pop_den(self) -> np.ndarray:
        """Denominator of reporting year t: mid-year t - 1."""
        return self.pop_mid

    @property
    def reports(self) -> np.ndarray:
        return self.units.reports(self.years)


def _region_members(units: Units, code: str) -> np.ndarray:
    return (units.ons_region_code == code) if code.startswith("E12") else (units.region_code == code)


def _geo_national(year, quoted: bool, cla: bool = False) -> list:
    e = QUOTED_EMPTY if quoted else ""
    if cla:
        return [year, "Reporting year", "National", "E92000001", "England", "", "", "", "", ""]
    return [year, "Reporting year", "National", "E92000001", "England", e, e, "", e, e]


def _geo_region(year, code, name, quoted: bool, cla: bool = False) -> list:
    e = QUOTED_EMPTY if quoted else ""
    if cla:
        return [year, "Reporting year", "Regional", "E92000001", "England", code, name, "", "", ""]
    return [year, "Reporting year", "Regional", "E92000001", "England", code, name, "", e, e]


def _la_order_cin(units: Units) -> np.ndarray:
    """Row order of LA rows in the CIN and ONS files: by region, then LA name."""
    keys = sorted(range(len(units)), key=lambda i: (units.region_code[i], units.name[i], units.code[i]))
    return np.array(keys, dtype=int)


# --------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------
def _write(path: Path, lines: list[str], bom: bool = False) -> Path:
    text = (BOM if bom else "") + "\n".join(lines) + "\n"
    path.write_bytes(text.encode("utf-8"))
    return path


def write_cin_file(path: Path, kind: str, panel: Panel) -> Path:
    spec = CIN_FILES[kind]
    units, years, rep = panel.units, panel.years, panel.reports
    cols = {c: np.where(rep, panel.columns[c], 0) for c in spec.counts}
    supp = {c: primary_suppression(cols[c]) for c in spec.counts}
    for group in spec.groups:
        secondary_suppression(cols, supp, group)

    # LA cells as strings [unit, year]
    la_str: dict[str, np.ndarray] = {}
    for c in spec.counts:
        la_str[c] = np.where(supp[c], "c", _int_str(cols[c]))
    for c, (num, den) in spec.percents.items():
        s = percent_str(cols[num], cols[den])
        hide = supp[num] | (supp[den] & (cols[num] > 0))
        la_str[c] = np.where(hide & (cols[den] > 0), "c", s)

    lines = [_csv_line(spec.header)]
    q = spec.quoted_empty
    prefixes, order = _Prefixes(units), _la_order_cin(units)
    for t in range(len(years) - 1, -1, -1):
        y = int(years[t])
        present = rep[:, t]

        def aggregate(mask):
            sums = {c: int(cols[c][mask, t].sum()) for c in spec.counts}
            vals = []
            for c in spec.values:
                if c in spec.percents:
                    num, den = spec.percents[c]
                    vals.append(percent_str(np.array(sums[num]), np.array(sums[den])).item())
                else:
                    vals.append(str(round10(sums[c]).item()))
            return vals

        lines.append(_csv_line(_geo_national(y, q) + [spec.category] + aggregate(present)))
        for code in REGION_CODES:
            mask = present & _region_members(units, code)
            if mask.any():
                lines.append(_csv_line(_geo_region(y, code, panel.region_names[code], q) + [spec.category] + aggregate(mask)))
        rows = prefixes.cin(y, units.ons_code_in(y)) + ("," + spec.category)
        for c in spec.values:
            rows = rows + "," + la_str[c][:, t]
        lines.extend(rows[order[present[order]]].tolist())
    return _write(path, lines)


def write_population_file(path: Path, panel: Panel) -> Path:
    """ONS 0-17 mid-year estimates; ``time_period`` is the mid-year, LAs those reporting the next year."""
    units, rep = panel.units, panel.reports
    lines = [_csv_line(ONS_HEADER)]
    prefixes, order = _Prefixes(units), _la_order_cin(units)
    for t in range(len(panel.mid_years) - 1, -1, -1):
        m = int(panel.mid_years[t])
        present = rep[:, t]  # reporting year m + 1
        pop = panel.pop_mid[:, t]
        lines.append(_csv_line(_geo_national(m, False) + ["Children aged 0 to 17 years", int(pop[present].sum())]))
        for code in REGION_CODES:
            mask = present & _region_members(units, code)
            if mask.any():
                lines.append(_csv_line(_geo_region(m, code, panel.region_names[code], False)
                                       + ["Children aged 0 to 17 years", int(pop[mask].sum())]))
        rows = prefixes.cin(m, units.ons_code_in(m + 1)) + ",Children aged 0 to 17 years," + _int_str(pop)
        lines.extend(rows[order[present[order]]].tolist())
    return _write(path, lines)


def write_cla_file(path: Path, panel: Panel) -> Path:
    """CLA numbers and rates per 10,000 (2025-release layout, UTF-8 BOM)."""
    units, years, rep = panel.units, panel.years, panel.reports
    universe = np.flatnonzero(rep.any(axis=1))
    order = np.array(sorted(universe, key=lambda i: (units.region_code[i], units.ons_code[i], units.code[i])), dtype=int)
    prefixes = _Prefixes(units)
    pop = panel.pop_den
    lines = [_csv_line(CLA_HEADER)]
    for t in range(len(years) - 1, -1, -1):
        y = int(years[t])
        present = rep[:, t]

        def aggregate(geo, mask):
            p = int(pop[mask, t].sum())
            for label, col in CLA_TYPES:
                n = int(panel.columns[col][mask, t].sum())
                rate = round_half_up(n / p * PER_10K).item() if p > 0 else "z"
                lines.append(_csv_line(geo + [label, p, round10(n).item(), rate]))

        aggregate(_geo_national(y, False, cla=True), present)
        for code in REGION_CODES:
            mask = present & _region_members(units, code)
            if mask.any():
                aggregate(_geo_region(y, code, panel.region_names[code], False, cla=True), mask)
        prefix = prefixes.cla(y)  # the CLA file carries the current GSS code in every year
        pop_s = _int_str(pop[:, t])
        per_type = []
        for label, col in CLA_TYPES:
            n = panel.columns[col][:, t]
            vals = np.where(primary_suppression(n), "c,c",
                            _int_str(n) + "," + _int_str(round_half_up(n / pop[:, t] * PER_10K)))
            vals = np.where(present, pop_s + "," + vals, "x,z,z")
            per_type.append(prefix + ("," + label + ",") + vals)
        block = np.stack(per_type, axis=1)[order]  # [unit, population_type]
        lines.extend(block.ravel().tolist())
    return _write(path, lines, bom=True)
