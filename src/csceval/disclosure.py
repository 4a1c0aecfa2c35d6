"""Disclosure control for everything written to ``results/report/``.

DfE convention for children's social care statistics: counts of children from 1 to 5 inclusive are
suppressed (shown as ``c``). :func:`check_publishable` is the door guard: it inspects a finished table
and refuses it if any count column holds a value in the suppression range, or if anything looks like
a child-level identifier. It changes nothing; suppression itself happens before (issue: disclosure
control with secondary suppression and rounding). :func:`write_publishable_csv` checks, then writes
atomically so a refused table leaves no file behind.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


class DisclosureError(ValueError):
    """A table that must not be published; the message names the table, column and row."""


#: Column names that hold child-level identifiers in DfE returns (SSDA903 CHILD, CIN LAchildID, UPN...).
IDENTIFIER_COLUMN = re.compile(r"(^|_)(child(_?id)?|la_?child_?id|upn|former_?upn|person_?id|uln|nhs_?number)($|_)", re.I)
#: A unique pupil number: a check letter followed by 12 digits (or 11 and a letter for temporary UPNs).
UPN_VALUE = re.compile(r"^[A-HJ-NP-RT-Z]\d{11}[0-9A-HJ-NP-RT-Z]$")
#: Column names that hold counts of children.
COUNT_COLUMN = re.compile(r"(^n_|_count$|^count$|^numerator$|^number$|_children$|^children_)", re.I)


@dataclass(frozen=True)
class DisclosureRules:
    min_count: int = 1
    max_suppressed_count: int = 5
    exempt_columns: tuple[str, ...] = ("n_treated", "n_control")

    @classmethod
    def from_config(cls, cfg: dict | None) -> "DisclosureRules":
        cfg = cfg or {}
        return cls(
            min_count=int(cfg.get("min_count", 1)),
            max_suppressed_count=int(cfg.get("max_suppressed_count", 5)),
            exempt_columns=tuple(cfg.get("exempt_columns", ("n_treated", "n_control"))),
        )


def check_publishable(table: pd.DataFrame, name: str, rules: DisclosureRules | None = None) -> None:
    """Raise :class:`DisclosureError` if ``table`` reveals a small count or a child identifier."""
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
        if column in rules.exempt_columns or not COUNT_COLUMN.search(str(column)):
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        small = numbers[(numbers >= rules.min_count) & (numbers <= rules.max_suppressed_count)]
        if len(small):
            raise DisclosureError(
                f"{name}: column {column!r} row {small.index[0]} holds the count {small.iloc[0]:g}, "
                f"which must be suppressed ({rules.min_count}-{rules.max_suppressed_count})"
            )


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


def write_publishable_csv(table: pd.DataFrame, path, rules: DisclosureRules | None = None, float_format: str = "%.6g") -> Path:
    """Check ``table`` with :func:`check_publishable`, then write it as CSV (atomically)."""
    path = Path(path)
    check_publishable(table, path.name, rules)
    _atomic_write(path, lambda tmp: table.to_csv(tmp, index=False, float_format=float_format, lineterminator="\n"))
    return path
