"""Errors raised for input that cannot be read or trusted."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """An unrecoverable problem in an input file.

    Parameters
    ----------
    file : path of the offending file.
    row : 1-based line number in the file (the header is line 1), or None for whole-file problems.
    field : column or XML element concerned, or None.
    rule : the rule that was broken, in words.
    detail : optional extra explanation (e.g. the offending value).
    """

    def __init__(self, file, row: int | None, field: str | None, rule: str, detail: str = ""):
        self.file = str(Path(file))
        self.row = row
        self.field = field
        self.rule = rule
        self.detail = detail
        super().__init__(str(self))

    def __str__(self) -> str:
        row = "-" if self.row is None else str(self.row)
        field = "-" if self.field is None else self.field
        text = f"{self.file}: row {row}, field {field}: {self.rule}"
        return f"{text} ({self.detail})" if self.detail else text

    def __reduce__(self):
        return (type(self), (self.file, self.row, self.field, self.rule, self.detail))
