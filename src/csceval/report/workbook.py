"""Publication workbooks (XLSX), Markdown and LaTeX tables, all labelled and disclosure-checked.

The workbook follows the Analysis Function guidance on releasing statistics in spreadsheets: a
cover sheet (title, publication date, contact, contents with links), a notes sheet (symbols legend,
sources of every table, assumptions), and one sheet per table with the title in A1, units and
notes above the table, no merged cells, no blank rows inside the table, an Excel table object
(so screen readers know the header row), frozen header, number formats with the table's decimals
and symbols (``c``, ``x``, ``z``, ``u``, ``k``) kept as text.

Output is deterministic: the document properties take the caller's ``created`` time and the
archive entries a fixed timestamp, so the same input gives the same bytes.

Every table passes :func:`csceval.disclosure.check_publishable` before anything is written.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csceval.disclosure import SYMBOLS, DisclosureRules, _atomic_write, _round_half_up, check_publishable, decimals_for_column

__all__ = ["FIXED_CREATED", "TableMeta", "latex_escape", "to_latex", "to_markdown", "write_workbook"]

#: Document time used when the caller gives none (never "now": output must be reproducible).
FIXED_CREATED = dt.datetime(2000, 1, 1, 0, 0, 0)
#: Timestamp of every entry of the XLSX archive.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class TableMeta:
    """What a reader needs to know about a table.

    Attributes
    ----------
    title : str
        Table title (cell A1 of its sheet; the caption in Markdown / LaTeX).
    units : str
        Units of the figures ("rate per 10,000 children aged 0-17", "GBP, 2024-25 prices").
    footnotes : sequence of str
        Notes shown above the table (sheet) or below it (Markdown / LaTeX).
    source_inputs : sequence of str
        File names of the inputs the table was made from; named in its notes.
    decimals : mapping
        ``{column or fnmatch pattern: decimal places}`` for number formats.
    """

    title: str
    units: str = ""
    footnotes: Sequence[str] = ()
    source_inputs: Sequence[str] = ()
    decimals: Mapping[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------------------- helpers
def _is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return isinstance(value, float) and math.isnan(value)
    except TypeError:  # pragma: no cover
        return False


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and not _is_missing(value)


def _format_number(value, places: int | None) -> str:
    if places is None:
        if isinstance(value, (int, np.integer)) or float(value).is_integer():
            return f"{int(value):,}" if abs(float(value)) < 1e15 else f"{float(value):g}"
        return f"{float(value):.6g}"
    return f"{_round_half_up(float(value), places):,.{places}f}"


def _cell_text(value, places: int | None) -> str:
    if _is_missing(value):
        return ""
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    if _is_number(value):
        return _format_number(value, places)
    return str(value)


def _column_places(table: pd.DataFrame, meta: TableMeta) -> dict[str, int | None]:
    return {str(c): decimals_for_column(str(c), meta.decimals) for c in table.columns}


def _numeric_column(series: pd.Series) -> bool:
    values = [v for v in series.tolist() if not _is_missing(v)]
    numbers = [v for v in values if _is_number(v)]
    return bool(numbers) and all(_is_number(v) or (isinstance(v, str) and v.strip() in SYMBOLS) for v in values)


def _source_line(meta: TableMeta) -> str:
    return "Source: " + (", ".join(meta.source_inputs) if meta.source_inputs else "not stated")


# ------------------------------------------------------------------------------------- markdown
def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(table: pd.DataFrame, meta: TableMeta, *, rules: DisclosureRules | None = None, check: bool = True) -> str:
    """A GitHub-flavoured Markdown table with title, units, notes and sources.

    Numbers use the meta's decimals (half up, thousands separators); numeric columns are right
    aligned; symbols and text are shown as they are. The table is disclosure-checked first unless
    ``check=False`` (internal use only).
    """
    if check:
        check_publishable(table, meta.title, rules)
    places = _column_places(table, meta)
    header = [str(c) for c in table.columns]
    align = ["---:" if _numeric_column(table[c]) else ":---" for c in table.columns]
    lines = [f"**{_md_escape(meta.title)}**", ""]
    if meta.units:
        lines += [f"Units: {_md_escape(meta.units)}", ""]
    lines.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
    lines.append("| " + " | ".join(align) + " |")
    for row in table.itertuples(index=False, name=None):
        cells = [_md_escape(_cell_text(v, places[h])) for v, h in zip(row, header)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for i, note in enumerate(meta.footnotes, start=1):
        lines.append(f"Note {i}: {_md_escape(note)}  ")
    lines.append(_md_escape(_source_line(meta)))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- latex
_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters (one pass, so replacements are not re-escaped)."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in str(text))


def to_latex(table: pd.DataFrame, meta: TableMeta, *, rules: DisclosureRules | None = None, check: bool = True, label: str | None = None) -> str:
    """A booktabs ``table`` environment with caption (title), units, notes and sources.

    Needs ``\\usepackage{booktabs}`` in the document; nothing else. Text is escaped; numeric
    columns are right aligned (``r``), others left (``l``).
    """
    if check:
        check_publishable(table, meta.title, rules)
    places = _column_places(table, meta)
    header = [str(c) for c in table.columns]
    spec = "".join("r" if _numeric_column(table[c]) else "l" for c in table.columns)
    out = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{latex_escape(meta.title)}}}"]
    if label:
        out.append(rf"\label{{{label}}}")
    if meta.units:
        out.append(rf"{{\small Units: {latex_escape(meta.units)}}}\par\smallskip")
    out += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule"]
    for row in table.itertuples(index=False, name=None):
        out.append(" & ".join(latex_escape(_cell_text(v, places[h])) for v, h in zip(row, header)) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize"]
    for i, note in enumerate(meta.footnotes, start=1):
        out.append(rf"Note {i}: {latex_escape(note)}\\")
    out += [latex_escape(_source_line(meta)), r"\end{minipage}", r"\end{table}"]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------- workbook
def _check_sheet_name(name: str, taken: set[str]) -> str:
    if not name or len(name) > 31 or _SHEET_BAD.search(name) or name.startswith("'") or name.endswith("'"):
        raise ValueError(f"sheet name {name!r} is not valid in Excel (1-31 characters, none of []:*?/\\, no leading/trailing ')")
    if name.lower() in taken or name.lower() in {"cover", "notes"}:
        raise ValueError(f"sheet name {name!r} is used twice (Cover and Notes are reserved)")
    taken.add(name.lower())
    return name


def _display_name(sheet: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", sheet)
    if not re.match(r"[A-Za-z_]", base):
        base = "t_" + base
    name, k = base[:250], 2
    while name.lower() in taken or re.fullmatch(r"[A-Za-z]{1,3}\d+|[RrCc]", name):
        name = f"{base[:245]}_{k}"
        k += 1
    taken.add(name.lower())
    return name


def _number_format(places: int | None, integer_column: bool) -> str:
    if places is None:
        return "#,##0" if integer_column else "General"
    return "#,##0" if places == 0 else "#,##0." + "0" * places


def _width(texts: list[str]) -> float:
    return float(min(60, max(8, max((len(t) for t in texts), default=0) + 2)))


def _write_block(ws, start_row: int, header: Sequence[str], rows: list[list[Any]], styles) -> int:
    """Header + rows at ``start_row``; returns the last row written."""
    bold, header_fill, header_border, wrap = styles
    for j, h in enumerate(header, start=1):
        cell = ws.cell(row=start_row, column=j, value=str(h))
        cell.font, cell.fill, cell.border, cell.alignment = bold, header_fill, header_border, wrap
    for i, values in enumerate(rows, start=start_row + 1):
        for j, v in enumerate(values, start=1):
            ws.cell(row=i, column=j, value=v)
    return start_row + len(rows)


def _unique_headers(columns) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for c in columns:
        h = str(c)
        if h in seen:
            seen[h] += 1
            h = f"{h} ({seen[h]})"
        else:
            seen[h] = 1
        out.append(h)
    return out


def _excel_value(value):
    if _is_missing(value):
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _deterministic_zip(data: bytes) -> bytes:
    """Re-pack an XLSX archive with fixed entry timestamps and attributes (same order, same content)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            fixed.create_system = 0
            dst.writestr(fixed, src.read(info.filename))
    return buf.getvalue()


def write_workbook(
    tables: Mapping[str, tuple[pd.DataFrame, TableMeta]],
    path,
    *,
    cover: Mapping[str, Any],
    notes: Sequence[str | tuple[str, str]] = (),
    rules: DisclosureRules | None = None,
    created: dt.datetime | None = None,
) -> Path:
    """Write an accessible, deterministic publication workbook.

    Parameters
    ----------
    tables : dict
        ``{sheet name: (DataFrame, TableMeta)}`` in sheet order. Each table is disclosure-checked.
    path : path of the ``.xlsx`` to write (atomically).
    cover : dict
        ``title`` (required); ``publication_date`` (default a placeholder to fill in), ``contact``,
        ``summary``, ``creator``, ``created`` (datetime) and any other ``label: text`` items, shown
        in that order on the cover.
    notes : list
        Assumptions and caveats: strings, or ``(item, text)`` pairs.
    rules : DisclosureRules, optional
    created : datetime, optional
        Document created/modified time (default ``cover["created"]``, else :data:`FIXED_CREATED`);
        never the clock, so identical inputs give identical bytes.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.worksheet.hyperlink import Hyperlink
    from openpyxl.worksheet.table import Table, TableStyleInfo
    from openpyxl.writer.excel import ExcelWriter

    if "title" not in cover:
        raise ValueError("write_workbook: cover needs a 'title'")
    path = Path(path)
    for sheet, (frame, meta) in tables.items():
        check_publishable(frame, f"{path.name}[{sheet}]", rules)
    created = created or cover.get("created") or FIXED_CREATED
    if isinstance(created, str):
        created = dt.datetime.fromisoformat(created)
    if created.tzinfo is not None:
        created = created.astimezone(dt.timezone.utc).replace(tzinfo=None)

    bold = Font(bold=True)
    title_font = Font(bold=True, size=14)
    header_fill = PatternFill("solid", fgColor="D9E1F2")
    header_border = Border(bottom=Side(style="thin"))
    wrap = Alignment(wrap_text=True, vertical="top")
    styles = (bold, header_fill, header_border, wrap)
    sheet_names: set[str] = set()
    table_names: set[str] = set()
    for sheet in tables:
        _check_sheet_name(sheet, sheet_names)

    wb = Workbook()
    props = wb.properties
    props.title = str(cover["title"])
    props.creator = str(cover.get("creator", "csceval"))
    props.lastModifiedBy = props.creator
    props.created = created
    props.modified = created

    # -- cover
    ws = wb.active
    ws.title = "Cover"
    ws["A1"] = str(cover["title"])
    ws["A1"].font = title_font
    row = 2
    items = [("Publication date", cover.get("publication_date", "[publication date to be confirmed]"))]
    if cover.get("contact"):
        contact = cover["contact"]
        items.append(("Contact", "; ".join(f"{v}" for v in contact.values()) if isinstance(contact, Mapping) else str(contact)))
    if cover.get("summary"):
        items.append(("About these tables", str(cover["summary"])))
    skip = {"title", "publication_date", "contact", "summary", "creator", "created"}
    items += [(str(k), str(v)) for k, v in cover.items() if k not in skip]
    for label, text in items:
        ws.cell(row=row, column=1, value=label).font = bold
        ws.cell(row=row, column=2, value=str(text)).alignment = wrap
        row += 1
    row += 1
    ws.cell(row=row, column=1, value="Contents").font = Font(bold=True, size=12)
    row += 1
    contents = [("Notes", "Symbols, sources and assumptions")] + [(s, m.title) for s, (_, m) in tables.items()]
    first = row
    _write_block(ws, row, ["Sheet", "Title"], [[s, t] for s, t in contents], styles)
    for i, (sheet, _) in enumerate(contents, start=first + 1):
        link = ws.cell(row=i, column=1)
        link.hyperlink = Hyperlink(ref=link.coordinate, location=f"'{sheet}'!A1", display=sheet)
        link.style = "Hyperlink"
    ref = f"A{first}:B{first + len(contents)}"
    contents_table = Table(displayName=_display_name("contents", table_names), ref=ref)
    contents_table.tableStyleInfo = TableStyleInfo(name="TableStyleLight1", showRowStripes=False)
    ws.add_table(contents_table)
    ws.column_dimensions["A"].width = _width(["Publication date", "About these tables"] + [s for s, _ in contents])
    ws.column_dimensions["B"].width = 80

    # -- notes
    ws = wb.create_sheet("Notes")
    ws["A1"] = "Notes"
    ws["A1"].font = title_font
    ws["A2"] = "This worksheet contains one table: the symbols used, the inputs of each table and the assumptions."
    rows: list[list[Any]] = [["Symbol", s, meaning] for s, meaning in SYMBOLS.items()]
    for sheet, (_, meta) in tables.items():
        rows.append(["Source", sheet, f"{meta.title}. Inputs: {', '.join(meta.source_inputs) or 'not stated'}"])
    for k, note in enumerate(notes, start=1):
        item, text = (note if isinstance(note, tuple) else (f"Note {k}", note))
        rows.append(["Assumption or caveat", str(item), str(text)])
    last = _write_block(ws, 4, ["Section", "Item", "Text"], rows, styles)
    for r in range(5, last + 1):
        ws.cell(row=r, column=3).alignment = wrap
    notes_table = Table(displayName=_display_name("notes", table_names), ref=f"A4:C{last}")
    notes_table.tableStyleInfo = TableStyleInfo(name="TableStyleLight1", showRowStripes=False)
    ws.add_table(notes_table)
    ws.freeze_panes = "A5"
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 24
    ws.column_dimensions["C"].width = 100

    # -- one sheet per table
    for sheet, (frame, meta) in tables.items():
        ws = wb.create_sheet(sheet)
        ws["A1"] = meta.title
        ws["A1"].font = title_font
        lines = ["This worksheet contains one table."]
        if meta.units:
            lines.append(f"Units: {meta.units}")
        lines += [f"Note {i}: {n}" for i, n in enumerate(meta.footnotes, start=1)]
        lines.append(_source_line(meta) + ". Symbols are explained in the Notes sheet.")
        for k, text in enumerate(lines, start=2):
            ws.cell(row=k, column=1, value=text)
        header_row = 2 + len(lines)
        header = _unique_headers(frame.columns)
        places = _column_places(frame, meta)
        body = [[_excel_value(v) for v in r] for r in frame.itertuples(index=False, name=None)]
        last = _write_block(ws, header_row, header, body, styles)
        for j, col in enumerate(frame.columns, start=1):
            series = frame[col]
            integer_col = all(isinstance(v, (int, np.integer)) or (_is_number(v) and float(v).is_integer())
                              for v in series.tolist() if _is_number(v))
            fmt = _number_format(places[str(col)], integer_col)
            for i in range(header_row + 1, last + 1):
                cell = ws.cell(row=i, column=j)
                if isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
                    cell.number_format = fmt
                elif isinstance(cell.value, dt.datetime):
                    cell.number_format = "yyyy-mm-dd"
                elif isinstance(cell.value, str) and cell.value.strip() in SYMBOLS:
                    cell.alignment = Alignment(horizontal="right")
            texts = [header[j - 1]] + [_cell_text(v, places[str(col)]) for v in series.tolist()]
            ws.column_dimensions[ws.cell(row=header_row, column=j).column_letter].width = _width(texts)
        ws.column_dimensions["A"].width = max(ws.column_dimensions["A"].width or 0, 12)
        last_col = ws.cell(row=header_row, column=max(1, len(header))).column_letter
        if len(header):
            tab = Table(displayName=_display_name(sheet, table_names), ref=f"A{header_row}:{last_col}{max(last, header_row + 1)}")
            tab.tableStyleInfo = TableStyleInfo(name="TableStyleLight1", showRowStripes=False)
            ws.add_table(tab)
        ws.freeze_panes = f"A{header_row + 1}"

    buf = io.BytesIO()
    archive = zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    ExcelWriter(wb, archive).save()  # not openpyxl.save_workbook: that stamps `modified` with the clock
    data = _deterministic_zip(buf.getvalue())
    _atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return path
