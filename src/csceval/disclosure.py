"""Disclosure control for everything written to ``results/report/``.

Two halves that deliberately share nothing but constants and the declaration of a table's shape:

* **Control** (:func:`suppress_counts`, :func:`round_totals`, :func:`format_rates`) turns an
  unrounded table of counts into a publishable one, following the DfE conventions for children's
  social care statistics.
* **The door guard** (:func:`check_publishable`, used by :func:`write_publishable_csv`) inspects a
  finished table and refuses it. It is an *independent* check: it re-derives from the published
  cells alone which cells are hidden and whether any confidential cell can be worked out again, with
  its own code (a rank test), so a bug in the control half cannot silently pass its own output.

Rules (DfE conventions; see ``/work/shared/reference/domain-facts.md`` section 2)
--------------------------------------------------------------------------------
* **Primary suppression.** Any count of children from 1 to 5 inclusive is replaced by ``c``
  (confidential). Zero is published. Sources: *Children in need* (EES, 2020 and 2021 releases,
  methodology / explore pages: "any number between 1 and 5 inclusive has been suppressed and
  replaced by 'c'. Secondary suppression has been applied"); *Children looked after in England*
  data guidance (``c`` where the numerator or denominator is small).
* **Secondary suppression.** A suppressed cell must not be recoverable by subtraction from a total
  that is published (a row total, a column total or a group total such as a regional or England
  figure). For every additive group with exactly one hidden confidential cell, the next-smallest
  published cell of that group is suppressed as well (positive cells before zeros, component cells
  before totals, then by position: deterministic). This is iterated over both dimensions of a
  two-way table until nothing changes. Because "at least two hidden cells in every group" is not
  sufficient in a two-way table (a cell that bridges two suppressed blocks can still be solved for
  by adding and subtracting several totals), a final linear-algebra audit looks for any hidden
  confidential cell that the published totals still determine and suppresses further cells until
  none is. (The DfE methodology pages state *that* secondary suppression is applied, not the
  algorithm. The next-smallest-cell rule is this project's choice; whether DfE's own production
  code uses the same rule is UNVERIFIED, so suppression patterns may differ from published files
  while giving the same protection against exact recovery.)
* **Rates and percentages** computed from a suppressed count (numerator or denominator) are
  suppressed too: otherwise the count is recoverable as rate x population / 10,000. CIN release:
  a percentage is ``c`` when its numerator is suppressed.
* **Rounding.** National and regional totals are rounded to the nearest 10; local authority
  figures are unrounded (CIN methodology; CLA data guidance: "National and regional figures have
  been rounded to the nearest 10. Local authority figures are unrounded"). Round half up.
* **Decimals by publication.** CIN: percentages and rates per 10,000 to 1 decimal place. CLA:
  rates per 10,000 and percentages as whole numbers, with ``k`` for a percentage below 0.5 that is
  not zero. Configured per column (``fnmatch`` patterns allowed), see :func:`format_rates`.
* **Symbols** (EES / analysts' guide): ``c`` confidential, ``x`` unavailable, ``z`` not applicable,
  ``u`` low reliability, ``k`` rounds to 0 but is not 0 (``low`` in older workforce files).
* **Identifiers.** No column named like a child-level identifier (SSDA903 ``CHILD``, CIN
  ``LAchildID``, UPN, ULN, NHS number, person id) and no value shaped like a UPN or a valid NHS
  number may be published.

Known limits (documented, not hidden)
-------------------------------------
* Recovery is checked for *exact* recovery from the declared additive structure. Interval
  disclosure (e.g. a hidden pair whose sum is small) is limited by preferring positive cells for
  secondary suppression, not eliminated.
* One level of row grouping per table (e.g. LAs within regions with a regional total row). A
  national row over regional rows is declared in a separate call / table.
* Rounded totals are treated as if exact when auditing (the conservative choice).
"""

from __future__ import annotations

import fnmatch
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "COUNT_COLUMN",
    "DisclosureError",
    "DisclosureRules",
    "IDENTIFIER_COLUMN",
    "SUPPRESSED",
    "SYMBOLS",
    "TableStructure",
    "UPN_VALUE",
    "check_publishable",
    "decimals_for_column",
    "format_rates",
    "round_totals",
    "suppress_counts",
    "write_publishable_csv",
]


class DisclosureError(ValueError):
    """A table that must not be published; the message names the table, column and row."""


# ----------------------------------------------------------------------------------- constants
#: Column names that hold child-level identifiers in DfE returns (SSDA903 CHILD, CIN LAchildID, UPN...).
IDENTIFIER_COLUMN = re.compile(r"(^|_)(child(_?id)?|la_?child_?id|upn|former_?upn|person_?id|uln|nhs_?number)($|_)", re.I)
#: A unique pupil number: a check letter followed by 12 digits (or 11 and a letter for temporary UPNs).
UPN_VALUE = re.compile(r"^[A-HJ-NP-RT-Z]\d{11}[0-9A-HJ-NP-RT-Z]$")
#: An NHS number as text: 10 digits, optionally grouped 3-3-4 (validated with its modulus-11 check digit).
NHS_NUMBER_VALUE = re.compile(r"^\d{3}[ -]?\d{3}[ -]?\d{4}$")
#: Column names that hold counts of children.
COUNT_COLUMN = re.compile(r"(^n_|_count$|^count$|^numerator$|^number$|_children$|^children_)", re.I)

#: The symbol that replaces a suppressed (confidential) cell.
SUPPRESSED = "c"
#: EES symbols and their meanings (analysts' guide; the legend of every workbook).
SYMBOLS: dict[str, str] = {
    "c": "confidential: suppressed to protect children's confidentiality (counts of 1 to 5, and cells that would reveal them)",
    "x": "not available",
    "z": "not applicable",
    "u": "low reliability",
    "k": "rounds to 0 but is not 0",
}
#: Geographic levels whose counts are rounded to the nearest 10 (CIN and CLA releases).
ROUNDED_LEVELS: tuple[str, ...] = ("National", "Regional")
#: Numerical tolerance of the recovery audits (entries of integer 0/+-1 systems).
_TOL = 1e-9


@dataclass(frozen=True)
class DisclosureRules:
    """The configured disclosure conventions (``report.disclosure`` in the run config).

    Attributes
    ----------
    min_count, max_suppressed_count : int
        Counts in ``[min_count, max_suppressed_count]`` are suppressed (DfE: 1 to 5).
    exempt_columns : tuple of str
        Count columns that are not counts of children (numbers of LAs, LA-periods) and so are
        published as they are.
    symbol : str
        Replacement of a suppressed cell (``c``).
    rounding_base : int
        National and regional totals are rounded to a multiple of this (10).
    rounded_levels : tuple of str
        Values of ``level_column`` whose rows are rounded.
    level_column : str
        Column holding the geographic level (EES ``geographic_level``).
    decimals : tuple of (pattern, int)
        Decimal places of rate / percentage columns; patterns are column names or ``fnmatch``
        patterns (``"*_rate_per_10k"``). Use :attr:`decimals_map` for a dict.
    low_symbol : str or None
        Symbol for a non-zero value that rounds to zero (``k`` in CLA percentages), or ``None``.
    """

    min_count: int = 1
    max_suppressed_count: int = 5
    exempt_columns: tuple[str, ...] = ("n_treated", "n_control")
    symbol: str = SUPPRESSED
    rounding_base: int = 10
    rounded_levels: tuple[str, ...] = ROUNDED_LEVELS
    level_column: str = "geographic_level"
    decimals: tuple[tuple[str, int], ...] = ()
    low_symbol: str | None = None

    def __post_init__(self) -> None:
        if self.min_count < 1 or self.max_suppressed_count < self.min_count:
            raise ValueError(
                f"disclosure rules: need 1 <= min_count <= max_suppressed_count, got {self.min_count}, {self.max_suppressed_count}"
            )
        if self.rounding_base < 1:
            raise ValueError(f"disclosure rules: rounding_base must be a positive integer, got {self.rounding_base}")

    @property
    def decimals_map(self) -> dict[str, int]:
        """``decimals`` as a dict (pattern -> decimal places)."""
        return dict(self.decimals)

    @classmethod
    def from_config(cls, cfg: dict | None) -> "DisclosureRules":
        """Rules from the ``report.disclosure`` block of the config (every key optional)."""
        cfg = cfg or {}
        rounding = cfg.get("rounding") or {}
        return cls(
            min_count=int(cfg.get("min_count", 1)),
            max_suppressed_count=int(cfg.get("max_suppressed_count", 5)),
            exempt_columns=tuple(cfg.get("exempt_columns", ("n_treated", "n_control"))),
            symbol=str(cfg.get("symbol", SUPPRESSED)),
            rounding_base=int(rounding.get("base", 10)),
            rounded_levels=tuple(rounding.get("levels", ROUNDED_LEVELS)),
            level_column=str(rounding.get("level_column", "geographic_level")),
            decimals=tuple((str(k), int(v)) for k, v in (cfg.get("decimals") or {}).items()),
            low_symbol=cfg.get("low_symbol"),
        )


@dataclass(frozen=True)
class TableStructure:
    """How the cells of a table add up: the declaration both halves read (no logic here).

    Attributes
    ----------
    count_columns : tuple of str
        Columns of counts of children (the cells subject to suppression).
    groups : tuple of str or None
        Row dimension. ``None``: rows are not additive (unless ``total_rows`` marks a total row,
        then the whole table is one group). A tuple of column names: rows with equal values in
        these columns form a group whose per-column sum is published, either as the group's total
        row (``total_rows``) or elsewhere (e.g. the England figure); ``()`` makes the whole table
        one group.
    totals : dict
        Column dimension: ``{total_column: (component columns...)}``; within every row the
        components add up to the total column.
    total_rows : dict or tuple of bool or None
        Which rows are the totals of their group: a selector ``{column: value or [values]}`` (rows
        matching every item), or one boolean per row (positional).
    derived : dict
        ``{rate_column: (count columns it is computed from...)}``: a rate or percentage is
        suppressed wherever one of its counts is.
    """

    count_columns: tuple[str, ...]
    groups: tuple[str, ...] | None = None
    totals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    total_rows: Mapping[str, Any] | tuple[bool, ...] | None = None
    derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def declare(cls, count_columns, *, groups=None, totals=None, total_rows=None, derived=None) -> "TableStructure":
        """Normalise user input (lists, single strings, boolean Series) into a declaration."""
        if isinstance(count_columns, str):
            count_columns = [count_columns]
        if groups is not None:
            groups = (groups,) if isinstance(groups, str) else tuple(groups)
        totals = {str(k): tuple(v) for k, v in (totals or {}).items()}
        derived = {str(k): ((v,) if isinstance(v, str) else tuple(v)) for k, v in (derived or {}).items()}
        if total_rows is not None and not isinstance(total_rows, Mapping):
            total_rows = tuple(bool(v) for v in np.asarray(total_rows, dtype=bool))
        elif total_rows is not None:
            total_rows = dict(total_rows)
        return cls(tuple(count_columns), groups, totals, total_rows, derived)

    @property
    def cell_columns(self) -> tuple[str, ...]:
        """Every column whose cells take part in the additive structure (counts and totals)."""
        cols = list(self.count_columns)
        for total, parts in self.totals.items():
            for c in (*parts, total):
                if c not in cols:
                    cols.append(c)
        return tuple(cols)


def decimals_for_column(column: str, decimals: Mapping[str, int]) -> int | None:
    """Decimal places for ``column``: an exact key wins, else the first matching ``fnmatch`` pattern."""
    if column in decimals:
        return int(decimals[column])
    for pattern, places in decimals.items():
        if fnmatch.fnmatchcase(column, pattern):
            return int(places)
    return None


def _round_half_up(value: float, places: int) -> Decimal:
    """``value`` rounded half up (away from zero) at ``places`` decimals, via its shortest repr."""
    quantum = Decimal(1).scaleb(-places)
    return Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP)


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ============================================================================ control (suppression)
def _number(value) -> float | None:
    """A published number, or ``None`` for a symbol, blank or missing cell."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            value = float(text)
        except ValueError:
            return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def _total_row_mask(table: pd.DataFrame, total_rows) -> np.ndarray:
    n = len(table)
    if total_rows is None:
        return np.zeros(n, dtype=bool)
    if isinstance(total_rows, Mapping):
        mask = np.ones(n, dtype=bool)
        for column, wanted in total_rows.items():
            if column not in table.columns:
                raise KeyError(f"total_rows selects on column {column!r}, which the table does not have")
            wanted = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
            mask &= table[column].isin(wanted).to_numpy(dtype=bool)
        return mask
    mask = np.asarray(total_rows, dtype=bool)
    if mask.shape != (n,):
        raise ValueError(f"total_rows has {mask.size} flags for a table of {n} rows")
    return mask


@dataclass(frozen=True)
class _Equation:
    cells: tuple[tuple[int, str], ...]  # every cell of the additive group (components and total)
    total: tuple[int, str] | None  # the total cell if it is in the table, else None (published elsewhere)
    label: str


def _control_equations(table: pd.DataFrame, structure: TableStructure) -> list[_Equation]:
    """The additive groups of the table, as cell lists (control half)."""
    eqs: list[_Equation] = []
    n = len(table)
    for total_col, parts in structure.totals.items():
        for i in range(n):
            eqs.append(_Equation(tuple((i, c) for c in (*parts, total_col)), (i, total_col), f"row {i}: {' + '.join(parts)} = {total_col}"))
    mask = _total_row_mask(table, structure.total_rows)
    groups = structure.groups
    if groups is None and not mask.any():
        return eqs
    if groups is None or len(groups) == 0:
        members_by_group = [np.arange(n)]
    else:
        positions = table.reset_index(drop=True).groupby(list(groups), sort=False, dropna=False).indices
        members_by_group = sorted((np.asarray(v) for v in positions.values()), key=lambda a: int(a.min()))
    for rows in members_by_group:
        totals_here = [int(i) for i in rows if mask[i]]
        members = [int(i) for i in rows if not mask[i]]
        if len(totals_here) > 1:
            raise ValueError(f"rows {totals_here} are all marked as the total of one group; declare `groups` so each group has one total row")
        if not members:
            continue
        for col in structure.cell_columns:
            cells = [(i, col) for i in members]
            total = None
            if totals_here:
                total = (totals_here[0], col)
                cells.append(total)
            eqs.append(_Equation(tuple(cells), total, f"column {col!r}, rows {members[0]}..{members[-1]}"))
    return eqs


def _nullspace_determined(eqs: list[_Equation], hidden: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Hidden cells whose value the published totals pin down (zero in every null-space vector)."""
    index = {cell: k for k, cell in enumerate(hidden)}
    rows = []
    for eq in eqs:
        row = np.zeros(len(hidden))
        touched = False
        for cell in eq.cells:
            if cell in index:
                row[index[cell]] = -1.0 if cell == eq.total else 1.0
                touched = True
        if touched:
            rows.append(row)
    if not rows:
        return []
    a = np.vstack(rows)
    _, s, vt = np.linalg.svd(a)
    rank = int((s > _TOL * max(1.0, s.max(initial=0.0))).sum())
    null = vt[rank:].T  # columns span the null space
    if null.shape[1] == 0:
        return list(hidden)
    return [cell for cell, k in index.items() if np.abs(null[k]).max() < 1e-8]


def suppress_counts(
    table: pd.DataFrame,
    count_columns: Sequence[str] | str,
    *,
    rules: DisclosureRules | None = None,
    groups: Sequence[str] | str | None = None,
    totals: Mapping[str, Sequence[str]] | None = None,
    total_rows: Mapping[str, Any] | Sequence[bool] | pd.Series | None = None,
    derived: Mapping[str, Sequence[str] | str] | None = None,
) -> pd.DataFrame:
    """Primary and secondary suppression of counts of children (DfE convention).

    Parameters
    ----------
    table : DataFrame
        Unrounded counts (symbols such as ``x``/``z`` already in the table are kept and count as
        hidden cells).
    count_columns : list of str
        Columns of counts of children.
    rules : DisclosureRules, optional
        Suppression range and symbol (default 1-5 -> ``c``).
    groups : list of str, optional
        Row dimension, see :class:`TableStructure`: rows with equal values in these columns add up
        to a published total (their total row, or a figure published elsewhere); ``[]`` = the whole
        table.
    totals : dict, optional
        Column dimension: ``{total_column: [component columns]}`` within each row.
    total_rows : dict or boolean mask, optional
        Which rows are group totals (e.g. ``{"la_name": "Total"}``).
    derived : dict, optional
        ``{rate_column: count column(s)}``: rates suppressed wherever one of their counts is.

    Returns
    -------
    DataFrame
        A copy; suppressed cells hold ``rules.symbol`` (count columns become object dtype). The
        declaration is kept in ``attrs["disclosure_structure"]`` so :func:`check_publishable`
        audits recovery of the result without being told again.

    Raises
    ------
    DisclosureError
        If a confidential cell cannot be protected (e.g. a group of one row whose total is
        published elsewhere).

    Notes
    -----
    Algorithm (deterministic): (1) primary: every count in ``[min_count, max_suppressed_count]``
    becomes ``c``; (2) secondary, to a fixed point: every additive group (a row with its total
    column, a group of rows with its total) that has exactly one hidden cell which is confidential
    gets its smallest published cell suppressed too (positive before zero, components before
    totals, then row and column order); (3) audit: if the totals still determine a hidden
    confidential cell (possible in two-way tables), suppress the smallest published cell of a
    group containing it and return to (2). (4) Rates in ``derived`` follow their counts.
    """
    rules = rules or DisclosureRules()
    structure = TableStructure.declare(count_columns, groups=groups, totals=totals, total_rows=total_rows, derived=derived)
    columns = structure.cell_columns
    missing = [c for c in (*columns, *structure.derived, *(c for v in structure.derived.values() for c in v), *(structure.groups or ())) if c not in table.columns]
    if missing:
        raise KeyError(f"suppress_counts: the table has no column(s) {sorted(set(missing))}")
    out = table.copy()
    n = len(out)
    raw = {col: out[col].tolist() for col in columns}
    value = {(i, col): _number(raw[col][i]) for col in columns for i in range(n)}
    confidential: set[tuple[int, str]] = set()
    for cell, v in value.items():
        text = raw[cell[1]][cell[0]]
        if (v is not None and rules.min_count <= v <= rules.max_suppressed_count) or (isinstance(text, str) and text.strip() == rules.symbol):
            confidential.add(cell)
    col_order = {c: k for k, c in enumerate(columns)}

    def hidden(cell) -> bool:
        return cell in confidential or value[cell] is None

    def best(candidates, totals_cells) -> tuple[int, str] | None:
        pool = [c for c in candidates if not hidden(c) and c not in unhideable]
        if not pool:
            return None
        return min(pool, key=lambda c: (c in totals_cells, value[c] == 0, value[c], c[0], col_order[c[1]]))

    eqs = _control_equations(out, structure)
    total_cells = {eq.total for eq in eqs if eq.total is not None}
    # a cell alone in a group whose total is published elsewhere can never be hidden: never pick it
    unhideable = {eq.cells[0] for eq in eqs if eq.total is None and len(eq.cells) == 1}
    while True:
        changed = True
        while changed:  # (2) next-smallest cell of every group with one hidden, confidential cell
            changed = False
            for eq in eqs:
                hid = [c for c in eq.cells if hidden(c)]
                if len(hid) == 1 and hid[0] in confidential:
                    pick = best(eq.cells, total_cells)
                    if pick is None:
                        raise DisclosureError(
                            f"suppress_counts: row {hid[0][0]} column {hid[0][1]!r} cannot be protected: no other cell of its "
                            f"group ({eq.label}) can be suppressed (e.g. a group of one row whose total is published elsewhere)"
                        )
                    confidential.add(pick)
                    changed = True
        hidden_cells = sorted((c for c in value if hidden(c)), key=lambda c: (c[0], col_order[c[1]]))
        exposed = [c for c in _nullspace_determined(eqs, hidden_cells) if c in confidential]
        if not exposed:
            break
        cell = exposed[0]  # (3) protect the first exposed cell, then redo (2)
        pool = [c for eq in eqs if cell in eq.cells for c in eq.cells]
        pick = best(pool, total_cells)
        if pick is None:
            raise DisclosureError(f"suppress_counts: row {cell[0]} column {cell[1]!r} is determined by the published totals and no cell is left to suppress")
        confidential.add(pick)

    for col in columns:
        cells = [rules.symbol if (i, col) in confidential else raw[col][i] for i in range(n)]
        out[col] = pd.Series(cells, index=out.index, dtype=object)
    for rate_col, sources in structure.derived.items():
        cells = out[rate_col].tolist()
        for i in range(n):
            if any(str(out[s].iloc[i]).strip() == rules.symbol for s in sources):
                cells[i] = rules.symbol
        out[rate_col] = pd.Series(cells, index=out.index, dtype=object)
    out.attrs["disclosure_structure"] = structure
    return out


def round_totals(
    table: pd.DataFrame,
    columns: Sequence[str] | str,
    base: int = 10,
    levels: Sequence[str] = ROUNDED_LEVELS,
    *,
    level_column: str = "geographic_level",
    rows: Sequence[bool] | pd.Series | None = None,
) -> pd.DataFrame:
    """Round the counts of National / Regional rows to the nearest ``base`` (half up).

    Rows are chosen by ``table[level_column]`` in ``levels`` (EES ``geographic_level``), or by an
    explicit boolean ``rows`` mask. Symbols and missing cells are left as they are; LA rows are not
    touched (LA figures are published unrounded). Apply after :func:`suppress_counts` and compute
    rates from the *unrounded* counts (as the DfE files do).
    """
    if isinstance(columns, str):
        columns = [columns]
    if rows is None:
        if level_column not in table.columns:
            raise KeyError(f"round_totals: no column {level_column!r} to find the {list(levels)} rows; pass `rows`")
        mask = table[level_column].isin(list(levels)).to_numpy(dtype=bool)
    else:
        mask = np.asarray(rows, dtype=bool)
    out = table.copy()
    for col in columns:
        if col not in out.columns:
            raise KeyError(f"round_totals: the table has no column {col!r}")
        cells = out[col].tolist()
        changed = False
        for i in np.flatnonzero(mask):
            v = _number(cells[i])
            if v is None:
                continue
            q = Decimal(repr(v)) / base
            cells[i] = int(q.quantize(Decimal(1), rounding=ROUND_HALF_UP)) * base
            changed = True
        if changed:
            if pd.api.types.is_integer_dtype(out[col].dtype):
                out[col] = pd.Series(cells, index=out.index, dtype=out[col].dtype)
            elif pd.api.types.is_float_dtype(out[col].dtype):
                out[col] = pd.Series(cells, index=out.index, dtype="float64")
            else:
                out[col] = pd.Series(cells, index=out.index, dtype=object)
    return out


def format_rates(
    table: pd.DataFrame,
    decimals: Mapping[str, int],
    *,
    low_symbol: str | None = None,
    as_text: bool = True,
) -> pd.DataFrame:
    """Round rate and percentage columns to the publication's decimal places (half up).

    Parameters
    ----------
    decimals : dict
        ``{column or fnmatch pattern: decimal places}``, e.g. CIN ``{"*_rate_per_10k": 1,
        "*_percent": 1}``, CLA ``{"*_rate_per_10k": 0, "*_percent": 0}``.
    low_symbol : str, optional
        Shown for a non-zero value that rounds to zero (``"k"`` for CLA percentages below 0.5).
    as_text : bool
        ``True`` (default): cells become text with exactly that many decimals (``"12.0"``), as a
        CSV shows them. ``False``: rounded floats (for a workbook, which formats them itself).

    Symbols (``c``, ``x``, ``z``...) are kept; missing cells stay missing.
    """
    out = table.copy()
    for col in out.columns:
        places = decimals_for_column(str(col), decimals)
        if places is None:
            continue
        cells = out[col].tolist()
        for i, cell in enumerate(cells):
            v = _number(cell)
            if v is None:
                if isinstance(cell, float) and math.isnan(cell):
                    cells[i] = None
                continue
            r = _round_half_up(v, places)
            if low_symbol is not None and v != 0 and r == 0:
                cells[i] = low_symbol
            elif as_text:
                cells[i] = f"{r:.{places}f}"
            else:
                cells[i] = float(r)
        out[col] = pd.Series(cells, index=out.index, dtype=object)
    return out


# =============================================================================== the door guard
def _nhs_number_valid(text: str) -> bool:
    digits = [int(d) for d in re.sub(r"[ -]", "", text)]
    total = sum(d * w for d, w in zip(digits[:9], range(10, 1, -1)))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == digits[9]


def _guard_hidden(series: pd.Series) -> np.ndarray:
    """Cells that show no number (symbol, blank or missing) - the guard's own reading."""
    as_text = series.astype(object).where(series.notna(), None)
    numbers = pd.to_numeric(as_text.map(lambda v: v.replace(",", "") if isinstance(v, str) else v), errors="coerce")
    return numbers.isna().to_numpy()


def _guard_confidential(series: pd.Series, symbol: str) -> np.ndarray:
    return series.map(lambda v: isinstance(v, str) and v.strip() == symbol).to_numpy(dtype=bool)


def _guard_equations(table: pd.DataFrame, structure: TableStructure) -> list[tuple[str, list[tuple[int, str, int]]]]:
    """Additive relations of the declared structure as (label, [(row, column, coefficient)])."""
    relations: list[tuple[str, list[tuple[int, str, int]]]] = []
    n = len(table)
    for total_col, parts in structure.totals.items():
        for i in range(n):
            relations.append((f"the row total {total_col!r} of row {i}", [(i, p, 1) for p in parts] + [(i, total_col, -1)]))
    # rows marked as totals
    if structure.total_rows is None:
        is_total = np.zeros(n, dtype=bool)
    elif isinstance(structure.total_rows, Mapping):
        is_total = np.ones(n, dtype=bool)
        for column, wanted in structure.total_rows.items():
            wanted = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
            is_total &= np.array([v in wanted for v in table[column].tolist()], dtype=bool)
    else:
        is_total = np.array(structure.total_rows, dtype=bool)
        if len(is_total) != n:
            raise DisclosureError(f"the declared total rows ({len(is_total)} flags) do not match the table's {n} rows")
    if structure.groups is None and not is_total.any():
        return relations
    if not structure.groups:
        labels = [()] * n
    else:
        labels = [tuple("<NA>" if pd.isna(v) else v for v in row) for row in table[list(structure.groups)].itertuples(index=False, name=None)]
    by_group: dict[tuple, list[int]] = {}
    for i, lab in enumerate(labels):
        by_group.setdefault(lab, []).append(i)
    columns = list(structure.count_columns) + [c for t, p in structure.totals.items() for c in (*p, t) if c not in structure.count_columns]
    for lab, rows in by_group.items():
        tot = [i for i in rows if is_total[i]]
        comp = [i for i in rows if not is_total[i]]
        if len(tot) > 1:
            raise DisclosureError(f"the declared total rows {tot} all total one group; declare `groups` so each group has one total row")
        if not comp:
            continue
        where = f"group {lab}" if lab else "the table"
        for col in dict.fromkeys(columns):
            terms = [(i, col, 1) for i in comp] + [(i, col, -1) for i in tot[:1]]
            source = f"the total row {tot[0]} of {where}" if tot else f"the published total of {where}"
            relations.append((f"{source} in column {col!r}", terms))
    return relations


def _check_recovery(table: pd.DataFrame, name: str, structure: TableStructure, rules: DisclosureRules) -> None:
    columns = [c for c in structure.cell_columns]
    missing = [c for c in (*columns, *(structure.groups or ()), *structure.derived) if c not in table.columns]
    if missing:
        raise DisclosureError(f"{name}: the table declares totals over column(s) {missing} that it does not have; re-declare its structure")
    hidden = {c: _guard_hidden(table[c]) for c in columns}
    conf = {c: _guard_confidential(table[c], rules.symbol) for c in columns}
    relations = _guard_equations(table, structure)
    unknowns: dict[tuple[int, str], int] = {}
    for c in columns:
        for i in np.flatnonzero(hidden[c]):
            unknowns[(int(i), c)] = len(unknowns)
    # 1. recovery by a single subtraction: a relation with exactly one hidden cell, which is confidential
    for label, terms in relations:
        hid = [(i, c) for i, c, _ in terms if hidden[c][i]]
        if len(hid) == 1 and conf[hid[0][1]][hid[0][0]]:
            i, c = hid[0]
            raise DisclosureError(
                f"{name}: suppressed cell row {i} column {c!r} can be recovered by subtraction from {label}; apply secondary suppression"
            )
    # 2. recovery by combining several totals: e_j in the row space of the relations over hidden cells
    rows = []
    for _, terms in relations:
        row = np.zeros(len(unknowns))
        for i, c, coef in terms:
            if (i, c) in unknowns:
                row[unknowns[(i, c)]] = coef
        if row.any():
            rows.append(row)
    if rows:
        a = np.vstack(rows)
        base_rank = np.linalg.matrix_rank(a)
        for (i, c), k in unknowns.items():
            if not conf[c][i]:
                continue
            unit = np.zeros(len(unknowns))
            unit[k] = 1.0
            if np.linalg.matrix_rank(np.vstack([a, unit])) == base_rank:
                raise DisclosureError(
                    f"{name}: suppressed cell row {i} column {c!r} can be recovered by combining the published row and column "
                    f"totals; apply more secondary suppression"
                )
    # 3. rates computed from a suppressed count
    for rate_col, sources in structure.derived.items():
        published = ~_guard_hidden(table[rate_col])
        for s in sources:
            bad = np.flatnonzero(published & _guard_confidential(table[s], rules.symbol))
            if len(bad):
                raise DisclosureError(f"{name}: column {rate_col!r} row {bad[0]} publishes a rate computed from the suppressed count in {s!r}")


def check_publishable(
    table: pd.DataFrame,
    name: str,
    rules: DisclosureRules | None = None,
    *,
    structure: TableStructure | None = None,
) -> None:
    """Raise :class:`DisclosureError` if ``table`` reveals a small count or a child identifier.

    Checks, independent of :func:`suppress_counts` (it shares only constants and the declaration):

    1. no column named like a child-level identifier, no value shaped like a UPN or a valid NHS
       number;
    2. no published count in ``[min_count, max_suppressed_count]`` in a count column (named like a
       count, or declared in ``structure``), exempt columns apart;
    3. for a table that declares its totals (``structure``, or ``attrs["disclosure_structure"]`` as
       left by :func:`suppress_counts`): no suppressed cell can be recovered by subtraction from a
       published total of its group, nor by combining several row and column totals (rank test),
       and no rate is published where its count is suppressed.
    """
    rules = rules or DisclosureRules()
    for column in table.columns:
        if IDENTIFIER_COLUMN.search(str(column)):
            raise DisclosureError(f"{name}: column {column!r} looks like a child-level identifier")
        values = table[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            text = values.dropna().astype(str).str.strip()
            hits = text[text.str.fullmatch(UPN_VALUE.pattern)]
            if len(hits):
                raise DisclosureError(f"{name}: column {column!r} row {hits.index[0]} holds a value shaped like a unique pupil number")
            nhs = text[text.str.fullmatch(NHS_NUMBER_VALUE.pattern)]
            nhs = nhs[nhs.map(_nhs_number_valid)]
            if len(nhs):
                raise DisclosureError(f"{name}: column {column!r} row {nhs.index[0]} holds a value shaped like an NHS number")
    if structure is None:
        declared = table.attrs.get("disclosure_structure")
        structure = declared if isinstance(declared, TableStructure) else None
    declared_counts = set(structure.cell_columns) if structure is not None else set()
    for column in table.columns:
        if column in rules.exempt_columns and column not in declared_counts:
            continue
        if column not in declared_counts and not COUNT_COLUMN.search(str(column)):
            continue
        numbers = pd.to_numeric(table[column].astype(object), errors="coerce")
        small = numbers[(numbers >= rules.min_count) & (numbers <= rules.max_suppressed_count)]
        if len(small):
            raise DisclosureError(
                f"{name}: column {column!r} row {small.index[0]} holds the count {small.iloc[0]:g}, "
                f"which must be suppressed ({rules.min_count}-{rules.max_suppressed_count})"
            )
    if structure is not None:
        _check_recovery(table.reset_index(drop=True), name, structure, rules)


def write_publishable_csv(
    table: pd.DataFrame,
    path,
    rules: DisclosureRules | None = None,
    float_format: str = "%.6g",
    *,
    structure: TableStructure | None = None,
) -> Path:
    """Check ``table`` with :func:`check_publishable`, then write it as CSV (atomically)."""
    path = Path(path)
    check_publishable(table, path.name, rules, structure=structure)
    _atomic_write(path, lambda tmp: table.to_csv(tmp, index=False, float_format=float_format, lineterminator="\n"))
    return path

