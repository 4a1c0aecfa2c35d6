"""read_cin_census on every shared CIN census sample (2021, 2024, 2026 schemas and the 332-child fake),
the flattened CSV form, code lists by year and pseudonymisation."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from csceval.ingest import CINCensusResult, InputError, read_cin_census
from csceval.ingest.cin_census import CIN_EVENT_TYPES, cin_code_lists
from csceval.ingest.quarantine import RULES, pseudonymise

REPO = Path(__file__).resolve().parents[1]
FORMATS = REPO.parent / "shared" / "data" / "formats"
FORMATS_REASON = "sample returns not present at ../shared/data/formats (they are never copied into the repo)"
SALT = "test-salt-cin"
HEX16 = r"[0-9a-f]{16}"
# fake_CIN_data.xml says LEA 975, which is not an English LA code; the test says which LA it stands for.
FAKE_LA = "201"


@pytest.fixture(scope="module")
def cin_dir() -> Path:
    folder = FORMATS / "cin_census"
    if not folder.is_dir():
        pytest.skip(FORMATS_REASON)
    return folder


def raw_ids(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return {m.group(2).strip() for m in re.finditer(r"<(LAchildID|UPN|FormerUPN)>([^<]+)</\1>", text)}


def check_result(r: CINCensusResult, path: Path, label: str) -> None:
    rec = r.reconciliation
    assert set(rec["table"]) == {"events", "children"}, f"{label}: both tables must be reconciled"
    assert (rec["rows_read"] == rec["rows_accepted"] + rec["rows_quarantined"]).all(), f"{label}: read != accepted + quarantined\n{rec}"
    counts = rec.set_index("table")
    assert len(r.events) == counts.loc["events", "rows_accepted"] and len(r.children) == counts.loc["children", "rows_accepted"]
    for table in ("events", "children"):
        n = r.quarantine.query("table == @table")[["file", "record"]].drop_duplicates().shape[0]
        assert n == counts.loc[table, "rows_quarantined"], f"{label}: {n} distinct quarantined {table} records vs {counts.loc[table, 'rows_quarantined']} reconciled"
    q = r.quarantine
    assert q["rule"].isin(list(RULES)).all() and q["field"].ne("").all(), f"{label}: every record names a known rule and its field"
    assert set(r.events["event_type"]) <= set(CIN_EVENT_TYPES), f"{label}: unknown event types {set(r.events['event_type'])}"
    assert r.events["child"].str.fullmatch(HEX16).all() and r.children["child"].str.fullmatch(HEX16).all(), (
        f"{label}: children must be named by 16-hex pseudonyms"
    )
    assert r.children["child"].is_unique, f"{label}: one row per child"
    assert set(r.children["sex"].dropna()) <= {"M", "F", "U"}, f"{label}: sex is normalised to M/F/U"
    ids = raw_ids(path)
    shown = " ".join(
        [r.events.astype(str).to_csv(), r.children.astype(str).to_csv(), r.quarantine.astype(str).to_csv(), *r.notes]
    )
    leaked = [i for i in ids if i in shown]
    assert not leaked, f"{label}: raw child identifiers in the output: {leaked[:5]}"


@pytest.mark.shared_data
def test_2021_schema_sample(cin_dir):
    path = cin_dir / "CIN_Census_2021.xml"
    r = read_cin_census(path, salt=SALT)
    check_result(r, path, "2021 sample")
    assert (r.year, r.la_code) == (2023, "201"), "header Year 2023, LEA 201 (City of London)"
    assert r.quarantine.empty, f"the 2021 sample breaks no rule in 2023: {r.quarantine.values.tolist()}"
    types = r.events["event_type"].value_counts().to_dict()
    assert types == {"referral": 1, "assessment": 1, "s47": 1, "icpc": 2, "cin_plan_start": 1, "cin_plan_end": 1,
                     "cpp_start": 1, "cpp_end": 1, "closure": 1}, f"one event per dated element (two different ICPC dates): {types}"
    ref = r.events.set_index("event_type")
    assert ref.loc["referral", "referral_source"] == "1A" and ref.loc["referral", "primary_need"] == "N4"
    assert bool(ref.loc["referral", "referral_nfa"]) is False
    assert ref.loc["cpp_start", "category_of_abuse"] == "PHY" and ref.loc["cpp_start", "number_of_previous_cpp"] == 10
    assert ref.loc["closure", "reason_for_closure"] == "RC1" and ref.loc["closure", "date"] == pd.Timestamp("1971-02-27")
    assert pd.isna(ref.loc["assessment", "referral_source"]), "attributes sit only on the event they describe"
    kid = r.children.iloc[0]
    assert (kid.sex, kid.sex_code, kid.birth_date) == ("M", "1", pd.Timestamp("1965-03-27"))
    assert kid.upn == pseudonymise("A123456789123", SALT), "UPNs are pseudonymised with the same salt (linkable to the 903)"


@pytest.mark.shared_data
def test_2024_schema_sample(cin_dir):
    path = cin_dir / "CIN_Census_2024.xml"
    r = read_cin_census(path, salt=SALT)
    check_result(r, path, "2024 sample")
    assert r.year == 2024 and "ReferenceDate" in r.year_source and any("disagrees" in n for n in r.notes), (
        "Year 2023 with ReferenceDate 2024-03-31: the census year is the ReferenceDate's, and the disagreement is noted"
    )
    got = sorted(r.quarantine[["table", "rule", "field", "value"]].itertuples(index=False, name=None))
    assert got == [
        ("children", "code_not_valid_for_year", "Sex", "M"),
        ("events", "date_after_collection_year_end", "AssessmentActualStartDate", "2028-04-28"),
        ("events", "date_after_collection_year_end", "CINclosureDate", "2024-10-29"),
        ("events", "date_after_collection_year_end", "CINreferralDate", "2024-10-24"),
    ], f"2024: M is not a GenderCurrent code before 2026; 2028 and 2024-10 dates are after 31 March 2024: {got}"


@pytest.mark.shared_data
def test_2026_schema_sample(cin_dir):
    path = cin_dir / "CIN_Census_2026.xml"
    r = read_cin_census(path, salt=SALT, year=2026)
    check_result(r, path, "2026 sample")
    got = sorted(r.quarantine[["table", "rule", "field", "value"]].itertuples(index=False, name=None))
    assert got == [
        ("children", "code_not_valid_for_year", "Sex", "1"),
        ("events", "date_after_collection_year_end", "AssessmentActualStartDate", "2028-04-28"),
    ], f"2026: Sex is M/F/U (1 is the old GenderCurrent code): {got}"
    assert r.children["sex"].tolist() == ["M"], "the child recorded as Sex M is kept, normalised to M"
    assert len(r.events) == 12 and r.events["child"].nunique() == 2, "9 events of child 1 (its 2028 assessment is quarantined) and 3 of child 2 are kept"


@pytest.mark.shared_data
def test_fake_cin_data(cin_dir):
    path = cin_dir / "fake_CIN_data.xml"
    with pytest.raises(InputError) as err:
        read_cin_census(path, salt=SALT)
    assert (err.value.rule, err.value.field) == ("unknown LA code", "LEA"), "LEA 975 is not an English LA: refuse unless told"
    r = read_cin_census(path, salt=SALT, la_code=FAKE_LA)
    check_result(r, path, "fake CIN data")
    assert r.year == 2022 and r.la_code == FAKE_LA and any("975" in n for n in r.notes), "the replaced LEA is noted"
    rec = r.reconciliation.set_index("table")
    assert rec.loc["children", "rows_read"] == 332 and rec.loc["children", "rows_quarantined"] == 0, "332 children, all valid"
    types = r.events["event_type"].value_counts()
    assert set(types.index) == {"referral", "icpc", "closure"}, "the fake data holds referrals, ICPC dates and closures only"
    q = r.quarantine
    assert set(q["rule"]) == {"date_after_collection_year_end"}, f"random dates run to 2031; codes are all valid: {set(q['rule'])}"
    assert pd.to_datetime(q["value"]).gt("2022-03-31").all() and r.events["date"].le("2022-03-31").all(), (
        "exactly the events after 31 March 2022 are quarantined"
    )
    assert rec.loc["events", "rows_read"] == 402 + 350 + 252, "one event per referral (402), ICPC date (350) and closure (252)"
    sexes = r.children.groupby("sex_code")["sex"].first().to_dict()
    assert sexes == {"0": "U", "1": "M", "2": "F", "9": "U"}, f"GenderCurrent 1/2/0/9 normalise to M/F/U/U: {sexes}"


# ------------------------------------------------------------------------------- flattened CSV


CSV_OF_2021_SAMPLE = """child,la_code,event_type,date,cin_episode,referral_source,referral_nfa,primary_need,category_of_abuse,number_of_previous_cpp,reason_for_closure,upn,sex,birth_date
DfEX0000001,201,referral,1970-10-06,1,1A,0,N4,,,,A123456789123,1,1965-03-27
DfEX0000001,201,assessment,1970-06-03,1,,,,,,,A123456789123,1,1965-03-27
DfEX0000001,201,cin_plan_start,1971-01-24,1,,,,,,,A123456789123,1,1965-03-27
DfEX0000001,201,cin_plan_end,1971-01-26,1,,,,,,,A123456789123,1,1965-03-27
DfEX0000001,201,s47,1970-06-02,1,,,,,,,A123456789123,1,1965-03-27
DfEX0000001,201,icpc,17/06/1970,1,,,,,,,A123456789123,1,1965-03-27
DfEX0000001,201,icpc,1970-12-06,1,,,,,,,A123456789123,1,1965-03-27
DfEX0000001,201,cpp_start,1970-02-17,1,,,,PHY,10,,A123456789123,1,1965-03-27
DfEX0000001,201,cpp_end,1971-03-14,1,,,,PHY,10,,A123456789123,1,1965-03-27
DfEX0000001,201,closure,1971-02-27,1,,,,,,RC1,A123456789123,1,1965-03-27
"""


@pytest.mark.shared_data
def test_flattened_csv_gives_the_same_events_as_the_xml(cin_dir, tmp_path):
    path = tmp_path / "cin_events.csv"
    path.write_text(CSV_OF_2021_SAMPLE, encoding="utf-8")
    from_csv = read_cin_census(path, salt=SALT, year=2023)
    from_xml = read_cin_census(cin_dir / "CIN_Census_2021.xml", salt=SALT)
    check_result(from_csv, path, "flattened CSV")
    columns = ["child", "la_code", "event_type", "date", "cin_episode", "referral_source", "referral_nfa", "primary_need",
               "category_of_abuse", "number_of_previous_cpp", "reason_for_closure"]
    a = from_csv.events[columns].sort_values(["event_type", "date"]).reset_index(drop=True)
    b = from_xml.events[columns].sort_values(["event_type", "date"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, obj="events from the CSV vs the XML form")
    assert from_csv.children[["child", "upn", "sex", "birth_date"]].equals(from_xml.children[["child", "upn", "sex", "birth_date"]])


def test_csv_year_is_inferred_and_la_code_can_be_given(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("child,event_type,date,referral_source,referral_nfa\nZQ9,referral,2024-04-02,6,1\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_cin_census(path, salt=SALT)
    assert (err.value.rule, err.value.field) == ("required column is missing", "la_code"), "la_code is needed from the file or caller"
    r = read_cin_census(path, salt=SALT, la_code="838")
    assert r.year == 2025 and r.events["la_code"].tolist() == ["838"], "an April 2024 referral is in collection year 2025"


def test_cin_code_lists_by_year():
    assert "5D" not in cin_code_lists(2022)["ReferralSource"] and "5D" in cin_code_lists(2023)["ReferralSource"]
    assert "RC9" not in cin_code_lists(2022)["ReasonForClosure"] and "RC9" in cin_code_lists(2023)["ReasonForClosure"]
    assert cin_code_lists(2025)["Sex"] == {"0", "1", "2", "9"} and cin_code_lists(2026)["Sex"] == {"M", "F", "U"}, (
        "GenderCurrent 1/2/0/9 is replaced by Sex M/F/U in 2026"
    )
    assert cin_code_lists(2017)["PrimaryNeedCode"] == {f"N{i}" for i in range(10)}, "PrimaryNeedCode N0-N9"
    assert cin_code_lists(2024)["CategoryOfAbuse"] == {"NEG", "PHY", "SAB", "EMO", "MUL"}


def test_csv_bad_episode_numbers_and_overlong_counts_are_quarantined(tmp_path):
    """A cin_episode that is not a whole number, and a number_of_previous_cpp too long for the Int64 column, must be
    quarantined under invalid_number with their field (not silently blanked, not a crash); the rest is kept."""
    rows = CSV_OF_2021_SAMPLE.splitlines()
    rows[1] = rows[1].replace(",1,1A,", ",x1,1A,")                       # referral: episode "x1"
    rows[8] = rows[8].replace(",PHY,10,", ",PHY,99999999999999999999,")  # cpp_start: 20 digits
    path = tmp_path / "events.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    r = read_cin_census(path, salt=SALT, year=2023)
    q = r.quarantine.set_index("row")
    assert set(q.index) == {2, 9}, f"exactly the two broken rows must be quarantined, got rows {sorted(q.index)}"
    assert (q.loc[2, "field"], q.loc[2, "rule"]) == ("cin_episode", "invalid_number")
    assert (q.loc[9, "field"], q.loc[9, "rule"]) == ("number_of_previous_cpp", "invalid_number")
    recon = r.reconciliation.set_index("table").loc["events"]
    assert recon["rows_read"] == recon["rows_accepted"] + recon["rows_quarantined"] == 10
