"""Publication workbook, Markdown and LaTeX tables."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import openpyxl
import pandas as pd
import pytest

from csceval.disclosure import DisclosureError
from csceval.report.workbook import TableMeta, latex_escape, to_latex, to_markdown, write_workbook

CREATED = dt.datetime(2026, 3, 1, 9, 30)


def _tables():
    counts = pd.DataFrame({"la_name": ["Dorset", "Luton", "Total"], "children_count": [120, "c", 1230], "cla_rate_per_10k": [67.14, "c", 70.0]})
    meta = TableMeta(
        title="Children looked after on 31 March 2025",
        units="number of children; rate per 10,000 children aged 0-17",
        footnotes=["Totals rounded to the nearest 10."],
        source_inputs=["cla_number_and_rate_per_10k_children.csv"],
        decimals={"*_rate_per_10k": 1},
    )
    est = pd.DataFrame({"outcome": ["cla_rate_per_10k"], "estimate": [-3.21456], "n_treated": [3], "period": [pd.Timestamp("2024-04-01")]})
    est_meta = TableMeta(title="Estimates", units="per 10,000", source_inputs=["twfe.parquet"], decimals={"estimate": 2})
    return {"Table_1": (counts, meta), "Table_2": (est, est_meta)}


def _write(path):
    return write_workbook(_tables(), path, cover={"title": "FFfC evaluation tables", "contact": "csc.statistics@example.gov.uk"},
                          notes=["Unit costs are UNVERIFIED."], created=CREATED)


def test_workbook_layout(tmp_path):
    path = _write(tmp_path / "tables.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Cover", "Notes", "Table_1", "Table_2"], "cover, notes, then one sheet per table in order"
    cover = wb["Cover"]
    assert cover["A1"].value == "FFfC evaluation tables", "cover title in A1"
    links = {c.value: c.hyperlink.location for row in cover.iter_rows() for c in row if c.hyperlink is not None}
    assert links.get("Table_1") == "'Table_1'!A1" and links.get("Notes") == "'Notes'!A1", "contents must link to each sheet"
    assert any(c.value == "[publication date to be confirmed]" for row in cover.iter_rows() for c in row), "publication date placeholder"
    notes_text = " ".join(str(c.value) for row in wb["Notes"].iter_rows() for c in row if c.value)
    for symbol in ["c", "x", "z", "u", "k"]:
        assert any(r[0].value == "Symbol" and r[1].value == symbol for r in wb["Notes"].iter_rows()), f"legend must explain {symbol!r}"
    assert "cla_number_and_rate_per_10k_children.csv" in notes_text, "notes must name each table's inputs"
    assert "UNVERIFIED" in notes_text, "caller's assumptions must be on the notes sheet"
    ws = wb["Table_1"]
    assert ws["A1"].value == "Children looked after on 31 March 2025", "table title in A1"
    above = [ws.cell(row=r, column=1).value for r in range(2, 6)]
    assert any("Units:" in str(v) for v in above) and any("Note 1:" in str(v) for v in above), "units and notes above the table"
    assert any("Source: cla_number_and_rate_per_10k_children.csv" in str(v) for v in above), "source inputs above the table"
    assert len(ws.tables) == 1, "each table sheet carries an Excel table object"
    table = next(iter(ws.tables.values()))
    header_row = int(table.ref.split(":")[0][1:])
    assert [ws.cell(row=header_row, column=j).value for j in (1, 2, 3)] == ["la_name", "children_count", "cla_rate_per_10k"], "header"
    assert ws.freeze_panes == f"A{header_row + 1}", "panes frozen below the header"
    assert ws.cell(row=header_row + 2, column=2).value == "c", "symbols must stay text"
    rate = ws.cell(row=header_row + 1, column=3)
    assert rate.value == pytest.approx(67.14) and rate.number_format == "#,##0.0", "rates formatted with the table's decimals"
    assert ws.cell(row=header_row + 1, column=2).number_format == "#,##0", "counts as whole numbers"
    assert wb.properties.created == CREATED and wb.properties.modified == CREATED, "document times come from the caller"
    est = wb["Table_2"]
    t2 = next(iter(est.tables.values()))
    h2 = int(t2.ref.split(":")[0][1:])
    assert est.cell(row=h2 + 1, column=4).number_format == "yyyy-mm-dd", "dates shown as dates"


def test_workbook_is_byte_identical_when_written_twice(tmp_path):
    a = _write(tmp_path / "a.xlsx").read_bytes()
    b = _write(tmp_path / "b.xlsx").read_bytes()
    assert a == b, "same input must give identical bytes (fixed created/modified and zip timestamps)"
    names = zipfile.ZipFile(io.BytesIO(a)).namelist()
    assert "docProps/core.xml" in names and "xl/tables/table1.xml" in names, "a real XLSX with table parts"


def test_workbook_refuses_unsafe_tables_and_writes_nothing(tmp_path):
    bad = pd.DataFrame({"children_count": [3]})
    with pytest.raises(DisclosureError, match="children_count"):
        write_workbook({"T": (bad, TableMeta("t"))}, tmp_path / "x.xlsx", cover={"title": "t"})
    assert list(tmp_path.iterdir()) == [], "a refused workbook must leave no file"
    with pytest.raises(ValueError, match="not valid in Excel"):
        write_workbook({"a/b": (pd.DataFrame({"x": [1]}), TableMeta("t"))}, tmp_path / "x.xlsx", cover={"title": "t"})


def test_markdown_table():
    counts, meta = _tables()["Table_1"]
    md = to_markdown(counts, meta)
    lines = md.splitlines()
    assert lines[0] == "**Children looked after on 31 March 2025**", "title first"
    assert "| la_name | children_count | cla_rate_per_10k |" in lines, "header row"
    assert "| :--- | ---: | ---: |" in lines, "numeric columns right aligned (symbols do not make a column text)"
    assert "| Dorset | 120 | 67.1 |" in lines and "| Total | 1,230 | 70.0 |" in lines, "numbers with the table's decimals"
    assert "| Luton | c | c |" in lines, "symbols kept"
    assert "Note 1: Totals rounded to the nearest 10.  " in lines, "footnotes below"
    assert lines[-1] == "Source: cla_number_and_rate_per_10k_children.csv", "source inputs named"


def test_latex_table_escapes_and_uses_booktabs():
    table = pd.DataFrame({"name_of_la": ["A & B"], "share_%": [12.345]})
    meta = TableMeta("Costs in £ & 50% of #s", units="GBP_2024", footnotes=["x_y ~ z^2 {a} \\ b"], source_inputs=["s251_outturn.csv"], decimals={"share_%": 1})
    tex = to_latex(table, meta)
    assert r"\caption{Costs in £ \& 50\% of \#s}" in tex, "title escaped in the caption"
    assert r"name\_of\_la & share\_\% \\" in tex, "header escaped"
    assert r"A \& B & 12.3 \\" in tex, "cells escaped and numbers formatted"
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex, "booktabs rules"
    assert r"\begin{tabular}{lr}" in tex, "text left, numbers right"
    assert r"x\_y \textasciitilde{} z\textasciicircum{}2 \{a\} \textbackslash{} b" in tex, "footnote escaped"
    assert r"Source: s251\_outturn.csv" in tex and r"Units: GBP\_2024" in tex, "units and sources included"
    assert latex_escape("\\&") == r"\textbackslash{}\&", "escaping is one pass (no double escaping)"
