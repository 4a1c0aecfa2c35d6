"""The fast paths of the record-level readers (issue #3 / #8) keep every rule.

The readers parse each distinct value once, count CSV separators at C speed and hand clean files to
pyarrow's CSV reader. These tests feed them small hand-made returns full of tricky values (bad dates,
blank and padded identifiers, duplicates, unknown codes, blank lines, quoted fields) and compare what
they quarantine with what the rules say, worked out by hand; the shared helpers are checked against
plain one-value-at-a-time implementations written here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from csceval.ingest import InputError, read_cin_census, read_ssda903
from csceval.ingest.quarantine import pseudonymise
from csceval.ingest.ssda903 import parse_dates, read_csv_rows

SALT = "test-salt-speed"

CIN_COLUMNS = ("child,la_code,event_type,date,cin_episode,referral_source,referral_nfa,primary_need,"
               "category_of_abuse,number_of_previous_cpp,reason_for_closure")
CIN_ROWS = [                                                  # line: what the rules say
    "C1,838,referral,2024-05-01,1,1A,false,N1,,,",            # 2: valid
    "C1,838,closure,2024-06-01,1,,,,,,RC1",                   # 3: valid
    ",838,referral,2024-05-02,1,1A,false,N1,,,",              # 4: no child identifier
    "C2,838,referral,2024-02-30,1,1A,false,N1,,,",            # 5: 30 February
    "C2,838,assessment,31/02/2024,1,,,,,,",                   # 6: 31 February, day-first
    "C2,838,assessment,15/06/2024,1,,,,,,",                   # 7: valid (dd/mm/YYYY is allowed in the CSV)
    "C3,838,referral,2025-04-01,1,1A,false,N1,,,",            # 8: after 31 March 2025
    "C3,838,referral,2024-07-01,2,5Z,maybe,N12,,,",           # 9: three unknown codes
    "C3,838,referral,2024-07-02,3,,TRUE,N1,,,",               # 10: no referral source (TRUE is a yes/no)
    "C4,838,cpp_start,2024-08-01,1,,,,XXX,-1,",               # 11: unknown category, negative count
    "C4,838,cpp_end,2024-09-01,1,,,,PHY,,",                   # 12: no count of previous plans
    "C4,838,visit,2024-09-01,1,,,,,,",                        # 13: not a CIN event type
    "C5,999,referral,2024-05-01,1,6,0,N2,,,",                 # 14: 999 is not an LA code
    "C5,838,closure,2024-06-01,1,,,,,,RC9",                   # 15: valid (RC9 exists from 2023)
    "C5,838,closure,2024-06-02,1,,,,,,",                      # 16: closure without a reason
    "",                                                       # 17: blank line, not a row
    "C6,838,referral,,1,1A,1,N1,,,",                          # 18: no date
]
CIN_EXPECTED = {  # (record, line, field, rule)
    (3, 4, "child", "missing_required_value"),
    (4, 5, "date", "invalid_date"),
    (5, 6, "date", "invalid_date"),
    (7, 8, "date", "date_after_collection_year_end"),
    (8, 9, "referral_source", "code_not_valid_for_year"),
    (8, 9, "referral_nfa", "code_not_valid_for_year"),
    (8, 9, "primary_need", "code_not_valid_for_year"),
    (9, 10, "referral_source", "missing_required_value"),
    (10, 11, "category_of_abuse", "code_not_valid_for_year"),
    (10, 11, "number_of_previous_cpp", "invalid_number"),
    (11, 12, "number_of_previous_cpp", "missing_required_value"),
    (12, 13, "event_type", "unknown_event_type"),
    (13, 14, "la_code", "unknown_la_code"),
    (15, 16, "reason_for_closure", "missing_required_value"),
    (16, 18, "date", "missing_required_value"),
}

EPISODE_COLUMNS = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN"
EPISODE_ROWS = [
    "A1,01/05/2024,S,V2,N1,P1,PR0,01/06/2024,X1,CARPL,,,",    # 2: valid
    "A1,01/06/2024,S,V2,N1,P1,PR0,,,,,,",                     # 3: valid, follows on
    ",01/05/2024,S,V2,N1,P1,PR0,,,,,,",                       # 4: no child identifier
    "A2,31/02/2024,S,V2,N1,P1,PR0,,,,,,",                     # 5: 31 February
    "A3,2024-05-01,S,V2,N1,P1,PR0,,,,,,",                     # 6: ISO date in a dd/mm/YYYY table
    "A4,01/05/2024,Q,V2,N1,Z9,PR0,,,,,,",                     # 7: unknown RNE and placement
    "A5,01/06/2024,S,V2,N1,P1,PR0,01/05/2024,X1,CARPL,,,",    # 8: ends before it starts
    "A6,01/05/2024,S,V2,N1,P1,PR0,01/05/2025,X1,CARPL,,,",    # 9: ends after 31 March 2025
    "A7,01/07/2024,S,V2,N1,P1,PR0,01/09/2024,X1,CARPL,,,",    # 10: valid
    "A7,01/08/2024,S,V2,N1,P1,PR0,,,,,,",                     # 11: starts inside line 10's episode
    "A8,01/09/2024,S,V2,N1,P1,PR0,,,,,,",                     # 12: valid
    "A8,01/08/2024,S,V2,N1,P1,PR0,01/09/2024,X1,CARPL,,,",    # 13: starts before line 12 (ends as it starts)
    "A9,1/5/2024,S,V2,N1,P1,PR0,,,,,,",                       # 14: valid (day and month may be one digit)
]
EPISODE_EXPECTED = {
    (3, 4, "CHILD", "missing_required_value"),
    (4, 5, "DECOM", "invalid_date"),
    (5, 6, "DECOM", "invalid_date"),
    (6, 7, "RNE", "code_not_valid_for_year"),
    (6, 7, "PLACE", "code_not_valid_for_year"),
    (7, 8, "DEC", "end_before_start"),
    (8, 9, "DEC", "date_after_collection_year_end"),
    (10, 11, "DECOM", "overlapping_episodes"),
    (12, 13, "DECOM", "episodes_out_of_order"),
}
HEADER_ROWS = [
    "A1,M,01/01/2015,WBRI,A123456789012,,",     # 2: valid
    "A1,F,01/01/2015,WBRI,A123456789012,,",     # 3: second row of the same child
    "A2,1,01/01/2015,WBRI,UN3,,",               # 4: SEX 1 is the pre-2025 coding
    "A3,F,30/02/2015,ZZZZ,,,",                  # 5: bad birth date, unknown ethnicity, no UPN
    " A4 ,U,01/01/2016,WBRI,UN10,,",            # 6: valid; padded identifier
]
HEADER_EXPECTED = {
    (2, 3, "CHILD", "duplicate_child"),
    (3, 4, "SEX", "code_not_valid_for_year"),
    (4, 5, "DOB", "invalid_date"),
    (4, 5, "ETHNIC", "code_not_valid_for_year"),
    (4, 5, "UPN", "missing_required_value"),
}


def breaches(quarantine: pd.DataFrame, table: str) -> set[tuple]:
    q = quarantine[quarantine["table"] == table]
    return set(zip(q["record"], q["row"], q["field"], q["rule"]))


def sha_pseudonym(raw: str) -> str:
    return hashlib.sha256((SALT + raw).encode("utf-8")).hexdigest()[:16]


def test_cin_csv_rules_hold_on_tricky_rows(tmp_path):
    path = tmp_path / "838.csv"
    path.write_text("\n".join([CIN_COLUMNS, *CIN_ROWS]) + "\n", encoding="utf-8")
    r = read_cin_census(path, salt=SALT, year=2025)
    got = breaches(r.quarantine, "events")
    assert got == CIN_EXPECTED, f"missing breaches {sorted(CIN_EXPECTED - got)}; unexpected {sorted(got - CIN_EXPECTED)}"
    assert r.events["date"].tolist() == [pd.Timestamp(d) for d in ("2024-05-01", "2024-06-01", "2024-06-15", "2024-06-01")], (
        "exactly lines 2, 3, 7 and 15 are valid events, read in file order with 15/06/2024 read day-first"
    )
    assert r.events["child"].tolist() == [sha_pseudonym(c) for c in ("C1", "C1", "C2", "C5")], "children are salted SHA-256 pseudonyms"
    assert breaches(r.quarantine, "children") == {(2, 4, "child", "missing_required_value")}, (
        "the blank identifier is the second distinct child (line 4) and the only bad child row"
    )
    rec = r.reconciliation.set_index("table")
    assert (rec.loc["events", "rows_read"], rec.loc["events", "rows_accepted"]) == (16, 4), "16 rows (the blank line is not one), 4 valid"
    assert r.quarantine.loc[r.quarantine["rule"].eq("invalid_date"), "value"].tolist() == ["2024-02-30", "31/02/2024"]


def test_ssda903_csv_rules_hold_on_tricky_rows(tmp_path):
    folder = tmp_path / "838"
    folder.mkdir()
    (folder / "episodes.csv").write_text("\n".join([EPISODE_COLUMNS, *EPISODE_ROWS]) + "\n", encoding="utf-8")
    (folder / "header.csv").write_text("\n".join(["CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB", *HEADER_ROWS]) + "\n", encoding="utf-8")
    r = read_ssda903(folder, 2025, "838", salt=SALT)
    got = breaches(r.quarantine, "episodes")
    assert got == EPISODE_EXPECTED, f"missing breaches {sorted(EPISODE_EXPECTED - got)}; unexpected {sorted(got - EPISODE_EXPECTED)}"
    assert r.episodes["source_row"].tolist() == [2, 3, 10, 12, 14], "the valid episodes are lines 2, 3, 10, 12 and 14"
    assert r.episodes["DECOM"].iloc[-1] == pd.Timestamp("2024-05-01"), "1/5/2024 is 1 May 2024"
    got = breaches(r.quarantine, "header")
    assert got == HEADER_EXPECTED, f"missing breaches {sorted(HEADER_EXPECTED - got)}; unexpected {sorted(got - HEADER_EXPECTED)}"
    assert r.header["child"].tolist() == [sha_pseudonym("A1"), sha_pseudonym("A4")], "a padded identifier gets the unpadded pseudonym"
    assert r.header["upn"].tolist() == [sha_pseudonym("A123456789012"), "UN10"], "UPNs are pseudonymised; UN10 is a reason code, kept"


DATE_TEXTS = [
    "2024-02-29", "2023-02-29", "2024-13-01", "2024-00-10", "2024-01-00", "2024-1-01", "2024-01-01x", "2024/01/01",
    "31/02/2024", "1/5/2024", "01/05/2024", "31/12/9999", "0001-01-01", "5/13/2024", "001/01/2024", "24-02-2024",
    "", " ", "2024-02-29",
]


def reference_date(text, formats) -> pd.Timestamp:
    """One value at a time: the first format whose shape the text has and that gives a real date."""
    shapes = {"%Y-%m-%d": r"\d{4}-\d{2}-\d{2}", "%d/%m/%Y": r"\d{1,2}/\d{1,2}/\d{4}"}
    for fmt in formats:
        if isinstance(text, str) and re.fullmatch(shapes[fmt], text):
            try:
                return pd.Timestamp(dt.datetime.strptime(text, fmt))
            except ValueError:
                continue
    return pd.NaT


@pytest.mark.parametrize("formats", [["%Y-%m-%d"], ["%d/%m/%Y"], ["%Y-%m-%d", "%d/%m/%Y"], ["%d/%m/%Y", "%Y-%m-%d"]])
def test_parse_dates_matches_one_value_at_a_time(formats):
    values = pd.Series([*DATE_TEXTS, None], index=np.arange(len(DATE_TEXTS) + 1) * 3, dtype="str")
    got = parse_dates(values, formats)
    expected = pd.Series([reference_date(v, formats) for v in values], index=values.index, dtype="datetime64[us]")
    pd.testing.assert_series_equal(got, expected, obj=f"parse_dates with {formats} (distinct values parsed once)")


def test_pseudonymise_series_matches_each_value():
    ids = pd.Series(["123", " 123", "", None, "ABC", "123 ", "ABC"], index=[5, 4, 3, 2, 1, 0, 9], name="CHILD")
    got = pseudonymise(ids, SALT)
    expected = [sha_pseudonym("123"), sha_pseudonym("123"), "", "", sha_pseudonym("ABC"), sha_pseudonym("123"), sha_pseudonym("ABC")]
    assert got.tolist() == expected and got.index.equals(ids.index) and got.name == "CHILD", (
        "each identifier (stripped) hashes to sha256(salt + id)[:16], blanks stay blank, index and name are kept"
    )


def test_csv_row_scan_numbers_lines_and_reports_the_first_bad_row(tmp_path):
    path = tmp_path / "t.csv"
    names, frame = read_csv_rows(path, "A,B,C\n1,2,3\n\n   \n4,5,6\r\n7,8,9")
    assert frame["source_row"].tolist() == [2, 5, 6] and frame["A"].tolist() == ["1", "4", "7"], (
        "blank and whitespace-only lines are not rows, and rows keep their line numbers"
    )
    with pytest.raises(InputError) as err:
        read_csv_rows(path, "A,B,C\n1,2,3\n\n4,5\n6,7,8,9\n")
    assert (err.value.row, err.value.field, err.value.rule) == (4, "C", "row has fewer fields than the header (truncated row?)")
    with pytest.raises(InputError) as err:
        read_csv_rows(path, "A,B,C\n1,2,3\n6,7,8,9\n4,5\n")
    assert (err.value.row, err.value.rule) == (3, "row has more fields than the header"), "the first bad line is reported"


def test_quoted_and_unquoted_csv_read_the_same(tmp_path):
    path = tmp_path / "t.csv"
    _, plain = read_csv_rows(path, "A,B,C\n1,x y,3\n4, z ,6\n")
    _, quoted = read_csv_rows(path, 'A,B,C\n1,"x y",3\n4, z ,6\n')
    pd.testing.assert_frame_equal(plain, quoted, obj="the same rows with and without quotes")
    assert plain["B"].tolist() == ["x y", " z "], "values are read as written (stripping is the readers' job)"
    _, comma = read_csv_rows(path, 'A,B,C\n1,"x,y",3\n')
    assert comma["B"].tolist() == ["x,y"], "a comma inside quotes does not separate fields"


@pytest.mark.parametrize("brk", ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"],
                         ids=lambda b: f"U+{ord(b):04X}")
@pytest.mark.parametrize("value", ["x", "é"], ids=["ascii", "non_ascii"])
def test_every_line_break_of_splitlines_numbers_rows_alike(tmp_path, brk, value):
    """The one-pass reader is used only when lines end in \\n (or \\r\\n); a file holding any other break
    that str.splitlines splits at (searched for byte by byte, ASCII files only for the one-byte ones) must
    take the line-by-line path, whose rows and line numbers follow str.splitlines."""
    text = f"A,B\n1,{value}{brk}{brk}\n5,6\n"   # as one line, "1,x<break><break>" would be a row of the right length
    names, frame = read_csv_rows(tmp_path / "t.csv", text)
    lines = text.splitlines()
    expected = [(number, line.split(",")) for number, line in enumerate(lines[1:], start=2) if line.strip()]
    got = list(zip(frame["source_row"].tolist(), ([a, b] for a, b in zip(frame["A"], frame["B"]))))
    assert got == expected, f"rows and line numbers must be those of str.splitlines: {got} != {expected}"


def test_non_ascii_file_without_odd_breaks_reads_in_one_pass(tmp_path):
    _, frame = read_csv_rows(tmp_path / "t.csv", "A,B\n1,Zoé\n2,Ünal\r\n3,x\n")
    assert frame["B"].tolist() == ["Zoé", "Ünal", "x"] and frame["source_row"].tolist() == [2, 3, 4], (
        "accented text with \\n and \\r\\n line ends is read as written, one row per line"
    )
