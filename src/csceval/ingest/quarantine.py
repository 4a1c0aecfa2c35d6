"""Quarantine and reconciliation of record-level returns, and pseudonymisation of child identifiers.

A reader of a record-level return (SSDA903, CIN census) never silently drops a row. Each row it reads
ends up either *accepted* (returned to the caller) or *quarantined* (held back, with the rule it broke).
:class:`Quarantine` collects both sides:

* ``records`` -- one row per rule breach: ``file, table, row, record, child, field, rule, value``. ``row`` is
  the 1-based line in the file (the CSV header is line 1; for XML the line of the record's element, which
  is not unique when a file puts many records on one line), ``record`` the 1-based position of the row
  among the rows of its table read from the file (unique in every format), ``child``
  the pseudonym of the child concerned (``""`` when the identifier itself is missing), ``field`` the
  column or XML element, ``rule`` one of :data:`RULES`, ``value`` the offending value as text
  (pseudonymised when the field is an identifier). A row that breaks several rules has several records
  and is quarantined once.
* ``reconciliation`` -- one row per file and table: ``rows_read, rows_accepted, rows_quarantined``,
  checked to satisfy ``rows_read == rows_accepted + rows_quarantined``.

Child identifiers (CHILD, LAchildID, UPN) are pseudonymised as soon as they are read by
:func:`pseudonymise`: the first 16 hex characters of SHA-256 over ``salt + identifier`` (UTF-8). The salt
is passed in by the caller (from the run's configuration) and never stored in outputs; without the salt a
pseudonym cannot be reversed by trying the (small) space of possible identifiers. The same salt gives the
same pseudonym in every return, so children can be linked across years and between the SSDA903 and the
CIN census. No raw identifier is ever written to a returned frame, a quarantine record or an error message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "FileRows",
    "QUARANTINE_COLUMNS",
    "RECONCILIATION_COLUMNS",
    "RULES",
    "Pseudonymiser",
    "Quarantine",
    "TableCheck",
    "mask_identifiers",
    "pseudonymise",
]

#: Row-level rules: a row breaking one is quarantined (never dropped silently).
RULES: dict[str, str] = {
    "missing_required_value": "a required value is blank",
    "invalid_date": "the value is not a valid date in the file's date format (e.g. 31/02/2024)",
    "code_not_valid_for_year": "the code is not in the field's code list for the collection year",
    "invalid_number": "the value is not a whole number in the field's allowed range (negative or non-numeric)",
    "end_before_start": "an end date is before the matching start date (e.g. DEC before DECOM)",
    "date_after_collection_year_end": "the date is after 31 March of the collection year",
    "overlapping_episodes": "the episode starts before an earlier episode of the same child has ended",
    "episodes_out_of_order": "the episode starts before the previous row of the same child in the file",
    "duplicate_child": "the child already has a row in a table that holds one row per child",
    "unknown_la_code": "the LA code is not an old 3-digit DfE LA code",
    "unknown_event_type": "the event type is not one of the CIN event types",
}

QUARANTINE_COLUMNS = ["file", "table", "row", "record", "child", "field", "rule", "value"]
RECONCILIATION_COLUMNS = ["file", "table", "rows_read", "rows_accepted", "rows_quarantined"]

_PSEUDONYM_LENGTH = 16
_NO_RECORDS = pd.DataFrame({c: pd.Series(dtype="int64" if c in ("row", "record") else "str") for c in QUARANTINE_COLUMNS})


def _check_salt(salt) -> str:
    if not isinstance(salt, str) or not salt:
        raise ValueError(
            "salt must be a non-empty string (from the run's configuration); without it pseudonyms of "
            "short child identifiers could be reversed by trying every possible identifier"
        )
    return salt


def _hash(value: str, salt: str) -> str:
    return hashlib.sha256((salt + value).encode("utf-8")).hexdigest()[:_PSEUDONYM_LENGTH]


def pseudonymise(ids, salt: str):
    """Replace child identifiers by salted SHA-256 pseudonyms.

    Parameters
    ----------
    ids : str, pandas Series or iterable of str
        Raw identifiers (CHILD, LAchildID, UPN). Surrounding whitespace is ignored, so ``" 123"`` and
        ``"123"`` get the same pseudonym. Blank or missing values stay ``""`` (no identifier).
    salt : str
        Non-empty secret from the run's configuration.

    Returns
    -------
    str, Series or list
        Same shape as ``ids``: ``sha256(salt + id).hexdigest()[:16]`` for each identifier. A Series
        has each distinct identifier hashed once (see :class:`Pseudonymiser`).
    """
    salt = _check_salt(salt)
    if isinstance(ids, str):
        key = ids.strip()
        return _hash(key, salt) if key else ""
    if isinstance(ids, pd.Series):
        return Pseudonymiser(salt)(ids)
    return [pseudonymise(str(i) if i is not None else "", salt) for i in ids]


class Pseudonymiser:
    """:func:`pseudonymise` for Series, remembering every pseudonym it made: a reader that meets the same
    identifiers in several tables (children and their events, header and episodes) hashes each once."""

    def __init__(self, salt: str):
        self._prefix = _check_salt(salt).encode("utf-8")
        self._known: dict[str, str] = {"": ""}

    def __call__(self, ids: pd.Series) -> pd.Series:
        """The pseudonyms of ``ids`` (stripped; blank or missing -> ``""``), on the same index and name."""
        text = ids.astype("str").fillna("").str.strip() if len(ids) else ids.astype(str)
        codes, uniques = pd.factorize(text)
        uniques, known = uniques.tolist(), self._known
        new = [u for u in uniques if u not in known]
        sha256, prefix = hashlib.sha256, self._prefix  # _hash, inlined: once per distinct identifier of a return
        known.update(zip(new, [sha256(prefix + u.encode("utf-8")).hexdigest()[:_PSEUDONYM_LENGTH] for u in new]))
        hashed = pd.Series([known[u] for u in uniques], dtype="str")
        return pd.Series(hashed.array.take(codes), index=ids.index, name=ids.name)


class FileRows:
    """Which file each row of a table came from, when one frame holds the rows of several files.

    The record-level ingest of a collection year validates the same table of every LA's return in one
    frame (the fixed cost of each vectorised rule is then paid once per table, not once per file); the
    files' rows lie one after another, in file order. ``record`` numbers, reconciliation counts,
    one-row-per-child and per-child sequence rules must still be per file: this class maps positions to
    files and keys to (file, key) groups. A single file is the case ``FileRows([path], [n])``.
    """

    def __init__(self, files, lengths):
        self.files = [str(f) for f in files]
        self.lengths = np.asarray(lengths, dtype="int64")
        self.bounds = np.concatenate([[0], np.cumsum(self.lengths)]).astype("int64")
        self.code = np.repeat(np.arange(len(self.files), dtype="int64"), self.lengths)

    @property
    def single(self) -> bool:
        return len(self.files) == 1

    def file_at(self, at: np.ndarray):
        """The file of the rows at positions ``at`` (a scalar when all rows come from one file)."""
        return self.files[0] if self.single else np.asarray(self.files, dtype=object)[self.code[at]]

    def record_at(self, at: np.ndarray) -> np.ndarray:
        """The 1-based position of the rows at positions ``at`` among the rows of their own file."""
        return (at - self.bounds[self.code[at]] + 1).astype("int64")

    def per_row(self, values: list[str]):
        """One text per file spread over the rows (a scalar for one file), as a ``str`` array."""
        return values[0] if self.single else pd.array(values, dtype="str").take(self.code)

    def count(self, mask: np.ndarray) -> np.ndarray:
        """How many rows of each file ``mask`` selects."""
        return np.bincount(self.code[np.asarray(mask, dtype=bool)], minlength=len(self.files)).astype("int64")

    def groups(self, codes: np.ndarray, at: np.ndarray | None = None) -> np.ndarray:
        """Group codes (e.g. factorised child pseudonyms of the rows at ``at``) made distinct per file:
        the same child in two LAs' returns is two groups."""
        codes = np.asarray(codes, dtype="int64")
        if self.single or not len(codes):
            return codes
        file_code = self.code if at is None else self.code[at]
        return pd.factorize(file_code * (int(codes.max()) + 1) + codes)[0]

    def duplicated(self, keys: pd.Series) -> np.ndarray:
        """Whether each row's key was seen on an earlier row of the same file (``Series.duplicated``)."""
        if self.single:
            return keys.duplicated(keep="first").to_numpy(dtype=bool)
        return pd.Series(self.groups(pd.factorize(keys)[0])).duplicated(keep="first").to_numpy(dtype=bool)


class TableCheck:
    """Rule checks on one table read from one file (or from several files, see :class:`FileRows`).

    Build it on the raw frame (one row per record, with ``source_row``), call :meth:`flag` for each rule
    with a boolean mask of the offending rows, then :meth:`accepted` to get the rows that broke no rule;
    the quarantine and reconciliation records go into the parent :class:`Quarantine`.
    """

    def __init__(self, quarantine: "Quarantine", frame: pd.DataFrame, *, file, table: str, child: pd.Series | None = None):
        self._quarantine = quarantine
        self.frame = frame
        self.rows = file if isinstance(file, FileRows) else FileRows([file], [len(frame)])
        self.file = self.rows.files[0] if self.rows.files else ""
        self.table = table
        self.child = child if child is not None else pd.Series("", index=frame.index, dtype="str")
        self.bad = np.zeros(len(frame), dtype=bool)
        self.accepted_per_file: np.ndarray | None = None
        self._parts: list[pd.DataFrame] = []
        self._done = False

    def flag(self, mask, field: str, rule: str, values=None) -> int:
        """Quarantine the rows where ``mask`` is true for breaking ``rule`` on ``field``.

        ``values`` (a Series aligned with the frame, or a scalar) is the offending value shown in the
        record; by default the frame's own ``field`` column. Returns the number of rows flagged.
        """
        if rule not in RULES:
            raise ValueError(f"unknown quarantine rule {rule!r}; known rules: {sorted(RULES)}")
        mask = np.asarray(mask, dtype=bool)
        n = int(mask.sum())
        if not n:
            return 0
        at = np.flatnonzero(mask)
        index = self.frame.index[mask]
        if values is None:
            values = self.frame[field] if field in self.frame.columns else ""
        if isinstance(values, pd.Series):
            shown = values.loc[index].astype("str").fillna("").to_numpy()
        else:
            shown = np.full(n, "" if values is None else str(values), dtype=object)
        self._parts.append(
            pd.DataFrame(
                {
                    "file": self.rows.file_at(at),
                    "table": self.table,
                    "row": self.frame.loc[index, "source_row"].to_numpy(dtype="int64"),
                    "record": self.rows.record_at(at),
                    "child": self.child.loc[index].astype("str").to_numpy(),
                    "field": field,
                    "rule": rule,
                    "value": shown,
                }
            )
        )
        self.bad |= mask
        return n

    def accepted(self) -> pd.DataFrame:
        """Rows that broke no rule; records the breaches and the reconciliation of this table (one
        reconciliation row per file; ``accepted_per_file`` then says how many rows of each file are kept,
        the accepted rows staying in file order)."""
        if self._done:
            raise RuntimeError(f"table {self.table} of {self.file} was already reconciled")
        self._done = True
        accepted = self.frame.loc[~self.bad] if self.bad.any() else self.frame
        n_bad = self.rows.count(self.bad)
        self.accepted_per_file = self.rows.lengths - n_bad
        if int(self.accepted_per_file.sum()) != len(accepted):  # pragma: no cover - guards a regression
            raise AssertionError(f"table {self.table}: {len(accepted)} rows accepted, files say {self.accepted_per_file.sum()}")
        counts = zip(self.rows.files, self.rows.lengths.tolist(), self.accepted_per_file.tolist(), n_bad.tolist())
        self._quarantine._add(self._parts, [(file, self.table, *n) for file, *n in counts])
        return accepted


class Quarantine:
    """Breaches and row counts of every table read from a return."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []
        self._reconciliation: list[dict] = []

    def table(self, frame: pd.DataFrame, *, file, table: str, child: pd.Series | None = None) -> TableCheck:
        """Start the checks of one table read from one file (see :class:`TableCheck`)."""
        return TableCheck(self, frame, file=file, table=table, child=child)

    def _add(self, parts, counts) -> None:
        """Breaches of one table, and its ``(file, table, n_read, n_accepted, n_quarantined)`` per file."""
        for file, table, n_read, n_accepted, n_quarantined in counts:
            if n_read != n_accepted + n_quarantined:
                raise AssertionError(
                    f"{file}, table {table}: {n_read} rows read but {n_accepted} accepted + {n_quarantined} quarantined"
                )
            self._reconciliation.append(
                {"file": str(file), "table": table, "rows_read": n_read, "rows_accepted": n_accepted,
                 "rows_quarantined": n_quarantined}
            )
        self._parts.extend(parts)

    def accepted_counts(self, n_files: int) -> np.ndarray:
        """Rows accepted of each of the last ``n_files`` files reconciled (a table of several files)."""
        return np.array([r["rows_accepted"] for r in self._reconciliation[len(self._reconciliation) - n_files:]],
                        dtype="int64")

    @property
    def records(self) -> pd.DataFrame:
        """One row per rule breach, sorted by file, table and row (columns :data:`QUARANTINE_COLUMNS`)."""
        if not self._parts:
            return _NO_RECORDS.copy()
        frame = pd.concat(self._parts, ignore_index=True)
        frame = frame.astype({c: "str" for c in QUARANTINE_COLUMNS if c not in ("row", "record")})
        return frame.sort_values(["file", "table", "record", "field", "rule"], kind="stable").reset_index(drop=True)

    @property
    def reconciliation(self) -> pd.DataFrame:
        """One row per file and table: rows read, accepted and quarantined (read = accepted + quarantined)."""
        frame = pd.DataFrame(self._reconciliation, columns=RECONCILIATION_COLUMNS)
        for column in ("rows_read", "rows_accepted", "rows_quarantined"):
            frame[column] = frame[column].astype("int64")
        check = frame["rows_read"].eq(frame["rows_accepted"] + frame["rows_quarantined"])
        if not check.all():
            raise AssertionError(f"reconciliation does not add up:\n{frame[~check]}")
        return frame.reset_index(drop=True)


def mask_identifiers(values: Iterable[str], raw_ids: set[str], salt: str) -> list[str]:
    """Replace any value that equals a raw identifier of the file by its pseudonym (defence in depth
    for quarantine values of shifted or mislabelled columns)."""
    return [pseudonymise(v, salt) if v.strip() in raw_ids else v for v in values]
