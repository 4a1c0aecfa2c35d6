"""The hand-written bad-input corpus (tests/bad_inputs): each file gives exactly the outcome in expected.yaml.

Every case also checks that rows read = accepted + quarantined on every table, and that no raw child
identifier of the file (CHILD / CHILDID / LAchildID / UPN / SW_ID / child / upn) appears in any returned
frame, quarantine record, note or error message.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from csceval.ingest import InputError, read_cin_census, read_ssda903
from csceval.ingest.quarantine import RULES

CORPUS = Path(__file__).parent / "bad_inputs"
MANIFEST = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
SALT = "corpus-test-salt"
READERS = {"ssda903": read_ssda903, "cin_census": read_cin_census}
ID_COLUMNS = {"CHILD", "CHILDID", "LACHILDID", "UPN", "SW_ID"}
ID_ELEMENTS = re.compile(r"<(CHILDID|LAchildID|UPN|FormerUPN|SW_ID)>([^<]+)</\1>")
UPN_UNKNOWN = re.compile(r"UN\d+")


def raw_identifiers(path: Path) -> set[str]:
    """The child (and social worker) identifiers written in a corpus file, found independently of the readers."""
    data = path.read_bytes()
    text = None
    for encoding in ("utf-8-sig", "utf-16", "cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    ids = {m.group(2).strip() for m in ID_ELEMENTS.finditer(text)}
    if path.suffix == ".csv" and text.strip():
        rows = list(csv.reader(io.StringIO(text)))
        header = [h.strip().upper() for h in rows[0]]
        for row in rows[1:]:
            for name, value in zip(header, row):
                if name in ID_COLUMNS and value.strip():
                    ids.add(value.strip())
        # files with the wrong delimiter: take ZQ... tokens directly
        ids |= set(re.findall(r"ZQ\d{4}", text))
    return {i for i in ids if not UPN_UNKNOWN.fullmatch(i)}


def all_output_text(result) -> str:
    """Every string a caller can see: all frames (cells and column names), notes."""
    frames = []
    for name in ("episodes", "header", "uasc", "missing", "reviews", "oc2", "oc3", "ad1",
                 "placed_for_adoption", "previous_permanence", "sw_episodes", "events", "children",
                 "quarantine", "reconciliation"):
        frame = getattr(result, name, None)
        if isinstance(frame, pd.DataFrame):
            frames.append(" ".join(map(str, frame.columns)))
            frames.append(frame.astype(str).to_csv(index=False))
    return "\n".join([*frames, *result.notes])


def check_reconciliation(result, name):
    rec = result.reconciliation
    assert len(rec), f"{name}: no reconciliation record: rows read would be unaccounted for"
    ok = rec["rows_read"] == rec["rows_accepted"] + rec["rows_quarantined"]
    assert ok.all(), f"{name}: rows read != accepted + quarantined:\n{rec[~ok]}"
    q = result.quarantine
    for table, group in q.groupby("table"):
        quarantined = int(rec.loc[rec["table"] == table, "rows_quarantined"].sum())
        assert group[["file", "record"]].drop_duplicates().shape[0] == quarantined, (
            f"{name}: table {table} reconciles {quarantined} quarantined rows but the records name "
            f"{group[['file', 'record']].drop_duplicates().shape[0]} distinct rows"
        )


@pytest.mark.parametrize("name", sorted(MANIFEST), ids=sorted(MANIFEST))
def test_corpus_file(name):
    case = MANIFEST[name]
    path = CORPUS / name
    assert path.exists(), f"manifest names {name} but the corpus has no such file"
    reader = READERS[case["reader"]]
    kwargs = dict(case.get("kwargs") or {})
    raw_ids = raw_identifiers(path)
    outcomes = [k for k in ("error", "quarantine", "ok") if k in case]
    assert len(outcomes) == 1, f"{name}: the manifest must give exactly one of error / quarantine / ok"

    if "error" in case:
        expected = case["error"]
        with pytest.raises(InputError) as caught:
            reader(path, salt=SALT, **kwargs)
        err = caught.value
        got = {"rule": err.rule, "field": err.field, "row": err.row}
        assert got == expected, f"{name}: wrong unrecoverable-input error: got {got}, expected {expected} ({err})"
        message = str(err)
        assert name in message and err.rule in message, f"{name}: the message must name the file and the rule: {message}"
        leaked = [i for i in raw_ids if i in message]
        assert not leaked, f"{name}: the error message shows raw child identifiers {leaked}: {message}"
        return

    result = reader(path, salt=SALT, **kwargs)
    check_reconciliation(result, name)
    text = all_output_text(result)
    leaked = [i for i in raw_ids if i in text]
    assert not leaked, f"{name}: raw child identifiers {leaked} appear in the returned frames, quarantine or notes"
    q = result.quarantine
    assert q["rule"].isin(list(RULES)).all(), f"{name}: quarantine uses rules outside the catalogue: {set(q['rule'])}"
    assert q["field"].ne("").all(), f"{name}: a quarantine record does not name its field"

    if "quarantine" in case:
        got = sorted(q[["table", "rule", "field", "row"]].astype({"row": int}).itertuples(index=False, name=None))
        expected = sorted((e["table"], e["rule"], e["field"], int(e["row"])) for e in case["quarantine"])
        assert got == expected, f"{name}: quarantine breaches differ: got {got}, expected {expected}"
        return

    expected = case["ok"]
    assert q.empty, f"{name}: expected no rule breaches, got:\n{q}"
    table = getattr(result, expected["table"])
    assert table is not None, f"{name}: the {expected['table']} table was not returned"
    assert len(table) == expected["rows_accepted"], (
        f"{name}: {len(table)} {expected['table']} rows accepted, expected {expected['rows_accepted']}"
    )
    if "note" in expected:
        assert any(expected["note"] in n for n in result.notes), f"{name}: no note says {expected['note']!r}: {result.notes}"
    if "source_rows" in expected:
        assert table["source_row"].tolist() == expected["source_rows"], (
            f"{name}: rows must keep the line numbers of the file (blank lines counted): {table['source_row'].tolist()}"
        )
    for absent in expected.get("absent", []):
        assert absent not in text, f"{name}: {absent!r} (from an ignored column) leaked into the output"


def test_corpus_size_and_manifest_cover_each_other():
    files = {p.name for p in CORPUS.iterdir() if p.name != "expected.yaml"}
    assert len(files) >= 40, f"the corpus should hold at least 40 hand-written files, it has {len(files)}"
    assert files == set(MANIFEST), (
        f"every corpus file needs an expected outcome and vice versa; "
        f"no outcome: {sorted(files - set(MANIFEST))}, no file: {sorted(set(MANIFEST) - files)}"
    )
