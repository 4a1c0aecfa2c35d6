"""Tests of the LA reference tables in ``csceval.reference``.

Two groups:

* internal consistency of ``local_authorities.csv`` and ``boundary_changes.csv``
  and of the small API on top of them (always run);
* agreement with the real DfE/EES files in ``../shared/data/ees`` (marked
  ``shared_data``; skipped when those files are absent -- they are never copied
  into the repo).

DfE reporting year ``Y`` is the year ending 31 March ``Y``.
"""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

import csceval.reference as ref

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ees"
SHARED_REASON = "real DfE files not present at ../shared/data/ees (they are never copied into the repo)"

B1 = "b1_children_in_need_2013_to_2025.csv"
POP = "ons_mid-year_population_estimates_2012_to_2024.csv"
CLA = "cla_number_and_rate_per_10k_children.csv"

LA_COLUMNS = [
    "la_code",
    "la_name",
    "ons_code",
    "former_ons_code",
    "ons_code_changed",
    "region_code",
    "region_name",
    "ons_region_code",
    "ons_region_name",
    "la_type",
    "valid_from",
    "valid_to",
    "first_reporting_year",
    "last_reporting_year",
]
CHANGE_COLUMNS = [
    "change_id",
    "effective_date",
    "kind",
    "predecessors",
    "successors",
    "first_reporting_year_after",
    "note",
    "source",
]

# Number of LAs with children's services reporting in each DfE reporting year
# (public fact; also checked against the EES files below).
EXPECTED_COUNTS = {
    **{y: 152 for y in range(2013, 2020)},
    2020: 151,
    2021: 151,
    2022: 152,
    2023: 152,
    2024: 153,
    2025: 153,
}
FIRST_YEAR = 2013

ONS_REGIONS = {
    "E12000001": "North East",
    "E12000002": "North West",
    "E12000003": "Yorkshire and The Humber",
    "E12000004": "East Midlands",
    "E12000005": "West Midlands",
    "E12000006": "East of England",
    "E12000007": "London",
    "E12000008": "South East",
    "E12000009": "South West",
}
LONDON_SUBREGIONS = {"E13000001": "Inner London", "E13000002": "Outer London"}
GSS_PREFIX_TYPE = {"E09": "LB", "E08": "MD", "E06": "UA", "E10": "SC"}

# Isles of Scilly (420) is a children's services authority that reports every
# year (it is in b1 every year), but its children-looked-after counts are
# published as "z" (2022-2025, and two of three measures in 2021) in the CLA
# file.  It is the only reporting LA allowed a "z" there.  ("c", confidential
# suppression of a small number, may occur for any reporting LA.)
CLA_Z_REPORTING_LAS = {"420"}


def _raw(name: str) -> pd.DataFrame:
    with resources.files("csceval.reference").joinpath(name).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def _fmt(rows: list, n: int = 15) -> str:
    more = f"\n  ... and {len(rows) - n} more" if len(rows) > n else ""
    return "\n  " + "\n  ".join(map(str, rows[:n])) + more


# ---------------------------------------------------------------------------
# Internal consistency of local_authorities.csv
# ---------------------------------------------------------------------------


def test_la_csv_columns_and_row_count():
    """local_authorities.csv must have exactly the documented columns, in order, and
    158 LAs (152-153 current ones plus defunct 835, 836, 837, 928, 909); anything
    else means a column was renamed/reordered or an LA was dropped or duplicated."""
    raw = _raw("local_authorities.csv")
    assert list(raw.columns) == LA_COLUMNS, "local_authorities.csv columns are not the documented ones/order"
    assert len(raw) == 158, f"expected 158 LAs in local_authorities.csv, found {len(raw)}"


def test_la_codes_unique_and_three_digit():
    """Every la_code must be a unique 3-digit string; a duplicate would make lookups
    ambiguous and a non-3-digit code (e.g. a lost leading character or a float
    '838.0') would never match EES old_la_code."""
    raw = _raw("local_authorities.csv")
    bad = [c for c in raw["la_code"] if not re.fullmatch(r"\d{3}", c)]
    assert not bad, f"la_code values that are not 3-digit strings: {bad}"
    dup = sorted(raw.loc[raw["la_code"].duplicated(), "la_code"])
    assert not dup, f"duplicated la_code values: {dup}"
    names = raw.loc[raw["la_name"] == "", "la_code"].tolist()
    assert not names, f"LAs without a name: {names}"


def test_known_special_cases_present():
    """City of London (201), Isles of Scilly (420) and the defunct authorities must be
    in the table; without them old data cannot be mapped."""
    codes = set(ref.la_codes())
    missing = {"201", "420", "835", "836", "837", "909", "928"} - codes
    assert not missing, f"LA codes missing from the reference table: {sorted(missing)}"


def test_gss_codes_and_la_type():
    """ons_code must be an English upper-tier GSS code (E06/E08/E09/E10) and la_type
    must follow from its prefix; a mismatch means a wrong GSS code or type."""
    df = ref.local_authorities()
    bad = []
    for r in df.itertuples():
        if not re.fullmatch(r"E(06|08|09|10)\d{6}", r.ons_code):
            bad.append((r.la_code, r.ons_code, "bad ons_code"))
        elif GSS_PREFIX_TYPE[r.ons_code[:3]] != r.la_type:
            bad.append((r.la_code, r.ons_code, r.la_type, "la_type does not match GSS prefix"))
    assert not bad, "inconsistent GSS codes / la_type:" + _fmt(bad)
    dup = sorted(df.loc[df["ons_code"].duplicated(), "ons_code"])
    assert not dup, f"two LAs share an ons_code: {dup}"


def test_former_ons_codes():
    """former_ons_code and ons_code_changed must be set together, and exactly for
    Buckinghamshire 825 (2020-04-01), North Yorkshire 815 and Somerset 933
    (2023-04-01), all former county (E10) codes; otherwise ons_code() returns a
    wrong code for early years."""
    df = ref.local_authorities()
    has_former = df["former_ons_code"] != ""
    has_date = df["ons_code_changed"].notna()
    assert (has_former == has_date).all(), "former_ons_code and ons_code_changed are not set together"
    got = {
        r.la_code: (r.former_ons_code, r.ons_code, r.ons_code_changed.date().isoformat())
        for r in df[has_former].itertuples()
    }
    assert got == {
        "825": ("E10000002", "E06000060", "2020-04-01"),
        "815": ("E10000023", "E06000065", "2023-04-01"),
        "933": ("E10000027", "E06000066", "2023-04-01"),
    }, f"unexpected GSS code changes: {got}"


def test_regions():
    """region_* must be the EES LA-level region (London boroughs: E13000001 Inner /
    E13000002 Outer London, no other LA in E13) and ons_region_* one of the nine
    ONS regions, London for all boroughs and equal to region_* elsewhere."""
    df = ref.local_authorities()
    bad = []
    for r in df.itertuples():
        if r.ons_region_code not in ONS_REGIONS or ONS_REGIONS[r.ons_region_code] != r.ons_region_name:
            bad.append((r.la_code, r.ons_region_code, r.ons_region_name, "bad ONS region"))
        if r.region_code in LONDON_SUBREGIONS:
            ok = (
                LONDON_SUBREGIONS[r.region_code] == r.region_name
                and r.ons_region_code == "E12000007"
                and r.la_type == "LB"
            )
        else:
            ok = (r.region_code, r.region_name) == (r.ons_region_code, r.ons_region_name) and r.la_type != "LB"
        if not ok:
            bad.append((r.la_code, r.region_code, r.region_name, r.ons_region_code, r.la_type))
    assert not bad, "inconsistent regions:" + _fmt(bad)
    assert (df["la_type"] == "LB").sum() == 33, "expected 33 London authorities (32 boroughs + City of London)"


def test_validity_dates_match_reporting_years():
    """valid_from/valid_to must agree with the reporting years: an LA created on
    1 April Y first reports in Y+1; one abolished after 31 March Y last reports in
    Y; LAs older than 2013 have no valid_from and first report in 2013; current
    LAs have neither valid_to nor last_reporting_year."""
    df = ref.local_authorities()
    bad = []
    for r in df.itertuples():
        if pd.isna(r.valid_from):
            if r.first_reporting_year != FIRST_YEAR:
                bad.append((r.la_code, "no valid_from but first_reporting_year", r.first_reporting_year))
        elif (r.valid_from.month, r.valid_from.day) != (4, 1) or r.first_reporting_year != r.valid_from.year + 1:
            bad.append((r.la_code, "valid_from vs first_reporting_year", r.valid_from, r.first_reporting_year))
        if pd.isna(r.valid_to):
            if not pd.isna(r.last_reporting_year):
                bad.append((r.la_code, "no valid_to but last_reporting_year", r.last_reporting_year))
        elif (r.valid_to.month, r.valid_to.day) != (3, 31) or r.last_reporting_year != r.valid_to.year:
            bad.append((r.la_code, "valid_to vs last_reporting_year", r.valid_to, r.last_reporting_year))
    assert not bad, "validity dates inconsistent with reporting years:" + _fmt(bad)


@pytest.mark.parametrize("year,expected", sorted(EXPECTED_COUNTS.items()))
def test_count_of_reporting_las_per_year(year, expected):
    """The number of LAs reporting in each year is a public fact (152 in 2013-2019,
    151 in 2020-2021, 152 in 2022-2023, 153 from 2024); a different count means a
    wrong first/last_reporting_year."""
    codes = ref.la_codes(year)
    assert len(codes) == expected, f"{len(codes)} LAs report in {year} per the table, expected {expected}"
    assert codes == sorted(codes), "la_codes() must be sorted"
    assert len(ref.local_authorities(year)) == expected


def test_specific_reporting_spans():
    """Spot-check the reporting spans stated in the documentation: BCP 839 and new
    Dorset 838 from 2020, North/West Northamptonshire from 2022, Cumberland and
    Westmorland & Furness from 2024, old Dorset/Poole/Bournemouth last in 2019,
    Northamptonshire last in 2021, Cumbria last in 2023."""
    df = ref.local_authorities()
    got = {c: (int(df.at[c, "first_reporting_year"]), df.at[c, "last_reporting_year"]) for c in df.index}
    expected = {
        "838": (2020, pd.NA), "839": (2020, pd.NA), "940": (2022, pd.NA), "941": (2022, pd.NA),
        "942": (2024, pd.NA), "943": (2024, pd.NA), "835": (2013, 2019), "836": (2013, 2019),
        "837": (2013, 2019), "928": (2013, 2021), "909": (2013, 2023), "201": (2013, pd.NA),
        "420": (2013, pd.NA),
    }  # fmt: skip
    wrong = {
        c: (got[c], e)
        for c, e in expected.items()
        if got[c][0] != e[0] or (pd.isna(got[c][1]) != pd.isna(e[1])) or (not pd.isna(e[1]) and got[c][1] != e[1])
    }
    assert not wrong, f"reporting spans (got, expected) differ: {wrong}"


# ---------------------------------------------------------------------------
# Internal consistency of boundary_changes.csv
# ---------------------------------------------------------------------------


def test_boundary_changes_columns_and_kinds():
    """boundary_changes.csv must have the documented columns and kinds, unique ids,
    a source citation, and only LA codes that are in local_authorities.csv."""
    raw = _raw("boundary_changes.csv")
    assert list(raw.columns) == CHANGE_COLUMNS, "boundary_changes.csv columns are not the documented ones/order"
    ch = ref.boundary_changes()
    assert ch["change_id"].is_unique, "duplicate change_id"
    assert set(ch["kind"]) <= {"reorganisation", "split", "code_change"}, f"unknown kinds: {set(ch['kind'])}"
    assert (ch["source"].str.len() > 0).all(), "every change needs a source citation"
    codes = [c for t in list(ch["predecessors"]) + list(ch["successors"]) for c in t]
    assert all(isinstance(c, str) for c in codes), "predecessors/successors must be tuples of str"
    unknown = ref.unknown_la_codes(codes)
    assert not unknown, f"boundary changes mention LA codes not in the LA table: {unknown}"
    got = {(r.kind, r.predecessors, r.successors, r.effective_date.date().isoformat()) for r in ch.itertuples()}
    assert got == {
        ("reorganisation", ("835", "836", "837"), ("838", "839"), "2019-04-01"),
        ("code_change", ("825",), ("825",), "2020-04-01"),
        ("split", ("928",), ("940", "941"), "2021-04-01"),
        ("split", ("909",), ("942", "943"), "2023-04-01"),
        ("code_change", ("815",), ("815",), "2023-04-01"),
        ("code_change", ("933",), ("933",), "2023-04-01"),
    }, f"boundary changes differ from the known ones: {sorted(got)}"


def test_boundary_changes_match_la_reporting_years():
    """For each reorganisation/split the predecessors must last report in the year
    before first_reporting_year_after and the successors first report in that
    year (with valid_to/valid_from either side of effective_date). For each
    code_change the LA must keep reporting and switch GSS code on effective_date."""
    df = ref.local_authorities()
    bad = []
    for r in ref.boundary_changes().itertuples():
        y = r.first_reporting_year_after
        if y != r.effective_date.year + (1 if r.effective_date.month >= 4 else 0):
            bad.append((r.change_id, "first_reporting_year_after does not follow effective_date"))
        if r.kind == "code_change":
            if r.predecessors != r.successors or len(r.predecessors) != 1:
                bad.append((r.change_id, "code_change must keep the same single LA code"))
                continue
            (code,) = r.predecessors
            if df.at[code, "ons_code_changed"] != r.effective_date:
                bad.append((r.change_id, "ons_code_changed differs from effective_date"))
            if not (df.at[code, "first_reporting_year"] < y and pd.isna(df.at[code, "last_reporting_year"])):
                bad.append((r.change_id, "code_change LA must report both before and after"))
            if ref.ons_code(code, dt.date(y - 1, 3, 31)) != df.at[code, "former_ons_code"]:
                bad.append((r.change_id, f"ons_code for {y - 1} is not the former code"))
            if ref.ons_code(code, dt.date(y, 3, 31)) != df.at[code, "ons_code"]:
                bad.append((r.change_id, f"ons_code for {y} is not the new code"))
            continue
        if set(r.predecessors) & set(r.successors):
            bad.append((r.change_id, "an LA is both predecessor and successor"))
        for p in r.predecessors:
            if df.at[p, "last_reporting_year"] != y - 1:
                bad.append((r.change_id, p, "predecessor last_reporting_year", df.at[p, "last_reporting_year"]))
            if df.at[p, "valid_to"] != r.effective_date - pd.Timedelta(days=1):
                bad.append((r.change_id, p, "predecessor valid_to", df.at[p, "valid_to"]))
        for s in r.successors:
            if df.at[s, "first_reporting_year"] != y:
                bad.append((r.change_id, s, "successor first_reporting_year", df.at[s, "first_reporting_year"]))
            if df.at[s, "valid_from"] != r.effective_date:
                bad.append((r.change_id, s, "successor valid_from", df.at[s, "valid_from"]))
    assert not bad, "boundary changes inconsistent with local_authorities.csv:" + _fmt(bad)


def test_every_start_and_end_is_explained_by_a_boundary_change():
    """Every LA that starts after 2013 must be a successor, and every LA that stops
    reporting a predecessor, of some reorganisation/split; otherwise panel code
    cannot bridge the gap."""
    df = ref.local_authorities()
    ch = ref.boundary_changes()
    structural = ch[ch["kind"] != "code_change"]
    successors = {c for t in structural["successors"] for c in t}
    predecessors = {c for t in structural["predecessors"] for c in t}
    starts = set(df.index[df["first_reporting_year"] > FIRST_YEAR])
    ends = set(df.index[df["last_reporting_year"].notna()])
    assert starts == successors, f"new LAs {sorted(starts)} vs successors {sorted(successors)}"
    assert ends == predecessors, f"defunct LAs {sorted(ends)} vs predecessors {sorted(predecessors)}"


# ---------------------------------------------------------------------------
# API behaviour
# ---------------------------------------------------------------------------


def test_api_lookups():
    """la_name/ons_code/unknown_la_codes must return the documented values: a failure
    means the lookup or the date rule around ons_code_changed is broken."""
    assert ref.la_name("838") == "Dorset"
    assert ref.la_name("835") == "Dorset"
    assert ref.la_name("839") == "Bournemouth, Christchurch and Poole"
    assert ref.ons_code("815") == "E06000065"
    assert ref.ons_code("815", "2023-03-31") == "E10000023"
    assert ref.ons_code("815", dt.date(2023, 4, 1)) == "E06000065"
    assert ref.ons_code("825", pd.Timestamp("2020-03-31")) == "E10000002"
    assert ref.ons_code("825", "2020-04-01") == "E06000060"
    assert ref.ons_code("336", "2013-03-31") == "E08000031"
    assert ref.ons_code("928") == "E10000021", "a defunct LA keeps its last GSS code"
    assert ref.unknown_la_codes(["838", "999", "838", "12", 201]) == ["12", "999"]
    assert ref.unknown_la_codes(ref.la_codes()) == []


def test_unknown_code_raises_clear_keyerror():
    """An unknown code must raise KeyError naming the code, so config typos are
    reported rather than silently producing NaN."""
    with pytest.raises(KeyError, match="999"):
        ref.la_name("999")
    with pytest.raises(KeyError, match="unknown LA code"):
        ref.ons_code("12")


def test_returned_frames_are_copies():
    """Callers may modify returned frames; that must not corrupt the cached table."""
    df = ref.local_authorities()
    df.loc[:, "la_name"] = "x"
    ch = ref.boundary_changes()
    ch.loc[:, "kind"] = "x"
    assert ref.la_name("201") == "City of London"
    assert "x" not in set(ref.boundary_changes()["kind"])
    assert ref.local_authorities()["first_reporting_year"].dtype.kind == "i", "years must be ints"
    assert pd.api.types.is_datetime64_any_dtype(ref.local_authorities()["valid_from"]), "dates must be Timestamps"


# ---------------------------------------------------------------------------
# Against the real EES files
# ---------------------------------------------------------------------------


def _read_shared(name: str, **kwargs) -> pd.DataFrame:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{name} not present at ../shared/data/ees (never copied into the repo)")
    df = pd.read_csv(path, dtype=str, keep_default_na=False, **kwargs)
    return df[df["geographic_level"] == "Local authority"].copy()


def _mismatches(la_rows: pd.DataFrame, gss_date) -> list:
    """Compare (old_la_code, new_la_code, la_name, region_code, region_name) of each
    file row with our table; ``gss_date(period)`` gives the date at which the
    file's GSS code is expected to be valid (None: current code)."""
    table = ref.local_authorities()
    bad = []
    seen = set()
    for r in la_rows.itertuples():
        key = (r.time_period, r.old_la_code, r.new_la_code, r.la_name, r.region_code, r.region_name)
        if key in seen:
            continue
        seen.add(key)
        if r.old_la_code not in table.index:
            bad.append((key, "old_la_code not in our table"))
            continue
        t = table.loc[r.old_la_code]
        expected = (
            r.time_period,
            r.old_la_code,
            ref.ons_code(r.old_la_code, gss_date(r.time_period)),
            t["la_name"],
            t["region_code"],
            t["region_name"],
        )
        if key != expected:
            bad.append((key, "expected", expected))
    return bad


class TestAgainstSharedFiles:
    """Our table against the real EES files (never copied into the repo)."""

    pytestmark = [
        pytest.mark.shared_data,
        pytest.mark.skipif(not SHARED.is_dir(), reason=SHARED_REASON),
    ]

    def test_b1_rows_match_table(self):
        """Every LA row of b1 (CIN, reporting years 2013-2025) must carry our la_code,
        name and region, and the GSS code valid on 31 March of the reporting year
        (EES switches Buckinghamshire to E06000060 in 2021 and North Yorkshire /
        Somerset to E06000065/E06000066 in 2024)."""
        b1 = _read_shared(B1)
        bad = _mismatches(b1, lambda y: dt.date(int(y), 3, 31))
        assert not bad, f"{B1} rows differ from local_authorities.csv:" + _fmt(bad)

    def test_b1_la_sets_per_year(self):
        """The LAs with data in b1 each reporting year must be exactly la_codes(year),
        and their number the public count for that year."""
        b1 = _read_shared(B1)
        years = sorted(b1["time_period"].astype(int).unique())
        assert years == list(range(2013, 2026)), f"unexpected reporting years in {B1}: {years}"
        for y in years:
            in_file = set(b1.loc[b1["time_period"] == str(y), "old_la_code"])
            ours = set(ref.la_codes(y))
            assert in_file == ours, (
                f"{y}: in {B1} only {sorted(in_file - ours)}, in our table only {sorted(ours - in_file)}"
            )
            assert len(in_file) == EXPECTED_COUNTS[y], f"{y}: {len(in_file)} LAs in {B1}, expected {EXPECTED_COUNTS[y]}"

    def test_population_rows_match_table(self):
        """ONS mid-year estimates: time_period Y is the mid-Y (30 June Y) estimate on the
        geography in force then, i.e. that of reporting year Y+1 (the file has 151
        LAs for 2019 and switches North Yorkshire/Somerset codes in 2023 and
        Buckinghamshire in 2020). Every LA row must match our table on that basis."""
        pop = _read_shared(POP)
        bad = _mismatches(pop, lambda y: dt.date(int(y), 6, 30))
        assert not bad, f"{POP} rows differ from local_authorities.csv:" + _fmt(bad)

    def test_population_la_sets_per_year(self):
        """The LAs in the mid-year Y population estimates must be exactly
        la_codes(Y + 1) (the LAs existing on 30 June Y)."""
        pop = _read_shared(POP)
        years = sorted(pop["time_period"].astype(int).unique())
        assert years == list(range(2012, 2025)), f"unexpected years in {POP}: {years}"
        for y in years:
            in_file = set(pop.loc[pop["time_period"] == str(y), "old_la_code"])
            ours = set(ref.la_codes(y + 1))
            assert in_file == ours, (
                f"mid-{y}: in {POP} only {sorted(in_file - ours)}, "
                f"in la_codes({y + 1}) only {sorted(ours - in_file)}"
            )

    def test_cla_z_rows_are_exactly_non_reporting_las(self):
        """In the CLA file (155 LA rows per year, all on current GSS codes), an LA row
        has children_count 'z' exactly when our table says the LA does not report
        that year (Isles of Scilly 420, whose CLA counts are published as 'z', is
        the only reporting exception). Names and regions must match our table."""
        cla = _read_shared(CLA, encoding="utf-8-sig")
        assert "time_period" in cla.columns, "BOM not stripped: read with encoding='utf-8-sig'"
        bad = _mismatches(cla, lambda y: None)
        assert not bad, f"{CLA} rows differ from local_authorities.csv:" + _fmt(bad)
        numeric = cla["children_count"].str.fullmatch(r"\d+")
        odd = cla.loc[~numeric & ~cla["children_count"].isin(["z", "c"]), "children_count"].unique()
        assert len(odd) == 0, f"unexpected children_count markers: {list(odd)}"
        for y in sorted(cla["time_period"].unique()):
            rows = cla[cla["time_period"] == y]
            reporting = set(ref.la_codes(int(y)))
            in_file = set(rows["old_la_code"])
            not_reporting = in_file - reporting
            z_codes = set(rows.loc[rows["children_count"] == "z", "old_la_code"])
            assert z_codes - CLA_Z_REPORTING_LAS == not_reporting, (
                f"{y}: 'z' rows {sorted(z_codes)} but our table says {sorted(not_reporting)} do not report"
            )
            all_z_flags = rows.groupby("old_la_code")["children_count"].agg(lambda s: (s == "z").all())
            all_z = set(all_z_flags.index[all_z_flags])
            assert not_reporting <= all_z, f"{y}: non-reporting LAs {sorted(not_reporting - all_z)} have some data"
            z_reporting = z_codes & reporting
            assert z_reporting <= CLA_Z_REPORTING_LAS, (
                f"{y}: reporting LAs {sorted(z_reporting - CLA_Z_REPORTING_LAS)} have 'z' CLA counts"
            )
            assert reporting <= in_file, f"{y}: reporting LAs missing from {CLA}: {sorted(reporting - in_file)}"
