"""read_ssda903 on the shared sample returns (CSV folder and XML), the per-year schema, pseudonymisation.

The samples (data-to-insight/csc-validator-be-903 fake_data) are uniformly random fake data, so they break
rules: the tests check that what is quarantined is the expected *kind* of breach, that every record names
its rule and field, that every table reconciles, and that no raw identifier escapes.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from csceval.ingest import InputError, SSDA903Result, read_ssda903
from csceval.ingest.quarantine import RULES, pseudonymise
from csceval.ingest.ssda903 import YEARS, schema_for_year

REPO = Path(__file__).resolve().parents[1]
FORMATS = REPO.parent / "shared" / "data" / "formats"
FORMATS_REASON = "sample returns not present at ../shared/data/formats (they are never copied into the repo)"
SALT = "test-salt-903"
HEX16 = re.compile(r"[0-9a-f]{16}")

# Breaches the random samples are expected to produce when read as a 2017-18 return (the inferred year):
# codes introduced after 2018 (E45-E48 SGO codes and CUSTOD from 2019), sequence breaches of random
# dates, one DEC after 31 March 2018, MOTHER written as "1.0", OC3 ACCOM "01", REASON_PLACED_CEASED "XXX".
EXPECTED_KINDS = {
    ("episodes", "code_not_valid_for_year", "REC"),
    ("episodes", "code_not_valid_for_year", "REASON_PLACE_CHANGE"),
    ("episodes", "date_after_collection_year_end", "DEC"),
    ("episodes", "episodes_out_of_order", "DECOM"),
    ("episodes", "overlapping_episodes", "DECOM"),
    ("header", "code_not_valid_for_year", "MOTHER"),
    ("oc3", "code_not_valid_for_year", "ACCOM"),
    ("placed_for_adoption", "code_not_valid_for_year", "REASON_PLACED_CEASED"),
}


@pytest.fixture(scope="module")
def formats() -> Path:
    if not FORMATS.is_dir():
        pytest.skip(FORMATS_REASON)
    return FORMATS


@pytest.fixture(scope="module")
def csv_return(formats) -> SSDA903Result:
    return read_ssda903(formats / "ssda903", salt=SALT)


@pytest.fixture(scope="module")
def xml_return(formats) -> SSDA903Result:
    return read_ssda903(formats / "ssda903" / "fake_903.xml", salt=SALT)


def csv_raw_ids(folder: Path) -> set[str]:
    ids = set()
    for path in folder.glob("*.csv"):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                for name in ("CHILD", "UPN", "SW_ID"):
                    if row.get(name, "").strip():
                        ids.add(row[name].strip())
    return ids


def xml_raw_ids(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return {m.group(2) for m in re.finditer(r"<(CHILDID|UPN)>([^<]+)</\1>", text)}


def assert_no_raw_ids(result: SSDA903Result, raw_ids: set[str], label: str) -> None:
    for name, table in result.tables.items():
        assert table["child"].str.fullmatch(HEX16.pattern).all(), f"{label} {name}: child must hold 16-hex pseudonyms only"
        for column in ("child", "upn", "sw_id"):
            if column in table.columns:
                leaked = set(table[column]) & raw_ids
                assert not leaked, f"{label} {name}.{column}: raw identifiers returned: {sorted(leaked)[:5]}"
    q = result.quarantine
    leaked = (set(q["value"]) | set(q["child"])) & raw_ids
    assert not leaked, f"{label}: quarantine records show raw identifiers {sorted(leaked)[:5]}"
    for note in result.notes:
        assert not any(re.search(rf"\b{re.escape(i)}\b", note) for i in raw_ids), f"{label}: a note shows a raw identifier: {note}"


def assert_reconciles(result: SSDA903Result, label: str) -> None:
    rec = result.reconciliation
    assert (rec["rows_read"] == rec["rows_accepted"] + rec["rows_quarantined"]).all(), (
        f"{label}: rows read != accepted + quarantined on some table:\n{rec}"
    )
    for row in rec.itertuples():
        table = getattr(result, row.table)
        assert len(table) == row.rows_accepted, f"{label} {row.table}: frame has {len(table)} rows, reconciliation says {row.rows_accepted}"
        n_bad = result.quarantine.query("table == @row.table")[["file", "record"]].drop_duplicates().shape[0]
        assert n_bad == row.rows_quarantined, f"{label} {row.table}: {n_bad} distinct quarantined rows vs {row.rows_quarantined} reconciled"


# ----------------------------------------------------------------------------------------- samples


@pytest.mark.shared_data
def test_csv_folder_reads_every_table_of_the_year(csv_return, formats):
    r = csv_return
    expected = {"episodes", "header", "uasc", "missing", "reviews", "oc2", "oc3", "ad1", "placed_for_adoption", "previous_permanence"}
    assert set(r.tables) == expected, f"every CSV table of a 2018 return in the folder must be read, got {sorted(r.tables)}"
    assert r.sw_episodes is None, "SWEpisodes does not exist before 2024: sw_episodes.csv must not be read as a 2018 table"
    assert r.year == 2018 and "DECOM" in r.year_source, f"year must be inferred from the latest DECOM (31/03/2018 -> 2018): {r.year}, {r.year_source}"
    assert any("fake_903.xml" in n for n in r.notes), "files that are not CSV tables must be named in the notes"
    assert any("sw_episodes" in n and "2018" in n for n in r.notes), "a table skipped for its year must be named in the notes"
    rec = r.reconciliation.set_index("table")
    assert rec.loc["episodes", "rows_read"] == 5050 and rec.loc["header", "rows_read"] == 2675, (
        "every data row of episodes.csv (5050) and header.csv (2675) must be counted as read"
    )
    assert_reconciles(r, "CSV folder")


@pytest.mark.shared_data
def test_xml_sample_reads_every_module(xml_return):
    r = xml_return
    rec = r.reconciliation.set_index("table")["rows_read"].to_dict()
    assert rec == {
        "header": 253, "episodes": 459, "uasc": 12, "missing": 6, "reviews": 1206, "oc2": 253, "oc3": 6,
        "ad1": 3, "placed_for_adoption": 3, "previous_permanence": 253,
    }, f"XML modules must map to the CSV tables one record per element: {rec}"
    assert r.year == 2018, f"the XML sample's latest DECOM is 30/03/2018: collection year 2018, got {r.year}"
    assert_reconciles(r, "XML")
    assert r.uasc["DUC"].notna().all() and r.ad1["NB_ADOPTR"].notna().all(), "inline HEADER modules (UASC, AD1) must carry their values"


@pytest.mark.shared_data
@pytest.mark.parametrize("form", ["csv_return", "xml_return"])
def test_sample_quarantine_reasons_are_the_expected_kinds(form, request):
    r = request.getfixturevalue(form)
    q = r.quarantine
    assert len(q), f"{form}: random fake data must break some rules"
    assert q["rule"].isin(list(RULES)).all(), f"{form}: unknown rule names {set(q['rule']) - set(RULES)}"
    assert q["field"].ne("").all() and q["row"].ge(1).all(), f"{form}: every record must name its field and line"
    assert q["child"].str.fullmatch(HEX16.pattern).all(), f"{form}: every record must name the child by pseudonym"
    names = {"PL": "PLACE", "CHILDID": "CHILD"}
    kinds = {(t, rule, names.get(f, f)) for t, rule, f in q[["table", "rule", "field"]].itertuples(index=False)}
    assert kinds <= EXPECTED_KINDS, f"{form}: unexpected kinds of breach {sorted(kinds - EXPECTED_KINDS)}"
    values = q.groupby(["table", "field"])["value"].apply(set).to_dict()
    assert values[("episodes", "REC")] <= {"E45", "E46", "E47", "E48"}, "only the post-2018 SGO codes may fail REC in 2018"
    assert values[("episodes", "REASON_PLACE_CHANGE")] == {"CUSTOD"}, "only CUSTOD (from 2019) may fail REASON_PLACE_CHANGE in 2018"
    late = q.query("rule == 'date_after_collection_year_end'")["value"]
    assert pd.to_datetime(late, format="%d/%m/%Y").gt("2018-03-31").all(), "only dates after 31/03/2018 may be 'after the year end'"


@pytest.mark.shared_data
def test_sample_rule_counts_csv(csv_return, formats):
    episodes = pd.read_csv(formats / "ssda903" / "episodes.csv", dtype=str, keep_default_na=False)
    q = csv_return.quarantine
    n = q.groupby(["table", "rule", "field"]).size()
    assert n[("episodes", "code_not_valid_for_year", "REC")] == episodes["REC"].isin(["E45", "E46", "E47", "E48"]).sum(), (
        "every episode ending with an SGO code E45-E48 must be quarantined in a 2018 return, and no other REC"
    )
    assert n[("episodes", "code_not_valid_for_year", "REASON_PLACE_CHANGE")] == episodes["REASON_PLACE_CHANGE"].eq("CUSTOD").sum()
    dec = pd.to_datetime(episodes["DEC"], format="%d/%m/%Y", errors="coerce")
    assert n[("episodes", "date_after_collection_year_end", "DEC")] == dec.gt("2018-03-31").sum()


@pytest.mark.shared_data
@pytest.mark.parametrize("form", ["csv_return", "xml_return"])
def test_no_raw_identifier_leaves_the_reader(form, request, formats):
    r = request.getfixturevalue(form)
    raw_ids = csv_raw_ids(formats / "ssda903") if form == "csv_return" else xml_raw_ids(formats / "ssda903" / "fake_903.xml")
    assert len(raw_ids) > 500, "the test needs the sample's identifiers to look for"
    assert_no_raw_ids(r, raw_ids, form)
    expected = pseudonymise(sorted(raw_ids)[0], SALT)
    assert len(expected) == 16


# ------------------------------------------------------------------- the XML and CSV forms agree


def _csv_to_xml(folder: Path, out: Path) -> None:
    """Write the CSV sample's header + episodes as the XML return (independent of the reader).
    DECOM is written as YYYY-MM-DD (xs:date) on every other episode, dd/mm/YYYY elsewhere."""
    header = pd.read_csv(folder / "header.csv", dtype=str, keep_default_na=False)
    episodes = pd.read_csv(folder / "episodes.csv", dtype=str, keep_default_na=False)
    by_child = {c: g for c, g in episodes.groupby("CHILD", sort=False)}
    root = etree.Element("EXPSSDA903")
    for i, h in enumerate(header.itertuples(index=False)):
        child = etree.SubElement(root, "CHILD")
        head = etree.SubElement(child, "HEADER")
        for tag, value in (("CHILDID", h.CHILD), ("UPN", h.UPN), ("SEX", h.SEX), ("DOB", h.DOB), ("ETHNIC", h.ETHNIC), ("MOTHER", h.MOTHER), ("MC_DOB", h.MC_DOB)):
            etree.SubElement(head, tag).text = value
        for j, e in enumerate(by_child.get(h.CHILD, pd.DataFrame()).itertuples(index=False)):
            ep = etree.SubElement(child, "EPISODE")
            decom = e.DECOM if j % 2 else "-".join(reversed(e.DECOM.split("/")))
            for tag, value in (("DECOM", decom), ("RNE", e.RNE), ("LS", e.LS), ("CIN", e.CIN), ("PL", e.PLACE),
                               ("PL_POST", e.PL_POST), ("HOME_POST", e.HOME_POST), ("URN", e.URN),
                               ("PLACE_PROVIDER", e.PLACE_PROVIDER), ("DEC", e.DEC), ("REC", e.REC),
                               ("REASON_PLACE_CHANGE", e.REASON_PLACE_CHANGE)):
                etree.SubElement(ep, tag).text = value
    out.write_bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def _xml_to_csv(xml: Path, folder: Path) -> None:
    """Flatten the XML sample's HEADER and EPISODE records to header.csv / episodes.csv (independent of the reader)."""
    root = etree.parse(str(xml)).getroot()
    header_rows, episode_rows = [], []
    for child in root.findall("CHILD"):
        h = child.find("HEADER")
        cid = h.findtext("CHILDID")
        header_rows.append({f: (h.findtext(f if f != "CHILD" else "CHILDID") or "") for f in ("CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB")})
        for e in child.findall("EPISODE"):
            row = {"CHILD": cid}
            for f in ("DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC", "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"):
                row[f] = e.findtext("PL" if f == "PLACE" else f) or ""
            episode_rows.append(row)
    folder.mkdir()
    pd.DataFrame(header_rows).to_csv(folder / "header.csv", index=False)
    pd.DataFrame(episode_rows).to_csv(folder / "episodes.csv", index=False)


KEY = ["child", "DECOM", "DEC", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "REC", "REASON_PLACE_CHANGE", "URN"]


def _compare_forms(a: SSDA903Result, b: SSDA903Result, label: str) -> None:
    for table in ("episodes", "header"):
        ra = a.reconciliation.set_index("table").loc[table, ["rows_read", "rows_accepted", "rows_quarantined"]]
        rb = b.reconciliation.set_index("table").loc[table, ["rows_read", "rows_accepted", "rows_quarantined"]]
        assert ra.tolist() == rb.tolist(), f"{label}: {table} reconciles differently: {ra.tolist()} vs {rb.tolist()}"
    ea = a.episodes[KEY].sort_values(KEY).reset_index(drop=True)
    eb = b.episodes[KEY].sort_values(KEY).reset_index(drop=True)
    pd.testing.assert_frame_equal(ea, eb, check_dtype=False, obj=f"{label}: accepted episodes")
    ha = a.header[["child", "SEX", "DOB", "ETHNIC", "upn"]].sort_values("child").reset_index(drop=True)
    hb = b.header[["child", "SEX", "DOB", "ETHNIC", "upn"]].sort_values("child").reset_index(drop=True)
    pd.testing.assert_frame_equal(ha, hb, check_dtype=False, obj=f"{label}: accepted header rows")
    qa = a.quarantine.query("table in ['episodes', 'header']").groupby(["table", "rule"]).size()
    qb = b.quarantine.query("table in ['episodes', 'header']").groupby(["table", "rule"]).size()
    pd.testing.assert_series_equal(qa, qb, obj=f"{label}: quarantine counts by rule")


@pytest.mark.shared_data
def test_csv_sample_and_its_xml_form_give_the_same_accepted_episodes(formats, tmp_path):
    folder = formats / "ssda903"
    xml = tmp_path / "from_csv.xml"
    _csv_to_xml(folder, xml)
    tables = tmp_path / "csv"
    tables.mkdir()
    for name in ("episodes.csv", "header.csv"):
        (tables / name).write_bytes((folder / name).read_bytes())
    from_csv = read_ssda903(tables, salt=SALT)
    from_xml = read_ssda903(xml, salt=SALT)
    assert from_csv.year == from_xml.year == 2018, "both forms must infer the same collection year"
    assert len(from_csv.episodes) > 4000, "most sample episodes must be accepted"
    _compare_forms(from_csv, from_xml, "CSV sample vs its XML form")


@pytest.mark.shared_data
def test_xml_sample_and_its_csv_form_give_the_same_accepted_episodes(formats, tmp_path):
    xml = formats / "ssda903" / "fake_903.xml"
    _xml_to_csv(xml, tmp_path / "flat")
    from_xml = read_ssda903(xml, salt=SALT)
    from_csv = read_ssda903(tmp_path / "flat", salt=SALT)
    assert len(from_xml.episodes) == 418, f"418 of the XML sample's 459 episodes pass the 2018 rules, got {len(from_xml.episodes)}"
    _compare_forms(from_xml, from_csv, "XML sample vs its CSV form")


# --------------------------------------------------------------------------- code lists by year


@pytest.mark.shared_data
def test_the_same_sample_read_as_later_years_applies_that_years_codes(formats):
    folder = formats / "ssda903"
    episodes = pd.read_csv(folder / "episodes.csv", dtype=str, keep_default_na=False)
    r24 = read_ssda903(folder, year=2024, salt=SALT)
    assert r24.sw_episodes is not None, "from 2024 the sw_episodes table is part of the return and must be read"
    sw = r24.quarantine.query("table == 'sw_episodes'")
    assert sw[["rule", "field", "value"]].values.tolist() == [["code_not_valid_for_year", "SW_REASON", "SWLAZY"]], (
        f"the sample's SW_REASON SWLAZY is not a code: {sw.values.tolist()}"
    )
    assert r24.quarantine.query("field == 'REC' and rule == 'code_not_valid_for_year'").empty, "E45-E48 are valid in 2024"
    r25 = read_ssda903(folder, year=2025, salt=SALT)
    place = set(r25.quarantine.query("field == 'PLACE' and rule == 'code_not_valid_for_year'")["value"])
    assert place == {"H5", "P2"}, f"from 2025 only H5 and P2 leave the PLACE list: {place}"
    assert len(r25.header) == 0 and r25.quarantine.query("table == 'header' and field == 'SEX'").shape[0] == 2675, (
        "SEX 1/2 is not valid from 2025 (M/F/U): every header row of the sample must be quarantined"
    )
    r26 = read_ssda903(folder, year=2026, salt=SALT)
    bad = r26.quarantine.query("field == 'PLACE' and rule == 'code_not_valid_for_year'")
    assert set(bad["value"]) == {"H5", "P2", "Z1"}, f"in 2026 Z1 is split into Z11-Z14: {set(bad['value'])}"
    assert len(bad) == episodes["PLACE"].isin(["H5", "P2", "Z1"]).sum()


def test_schema_year_by_year_changes():
    assert list(YEARS) == list(range(2017, 2027)), "schemas must cover collection years 2017 to 2026"
    place = {y: schema_for_year(y)["episodes"].fields["PLACE"].codes for y in YEARS}
    assert "K3" not in place[2024] and "K3" in place[2025], "K3 (registered supported accommodation) starts in 2025"
    assert {"H5", "P2"} <= place[2024] and not {"H5", "P2"} & place[2025], "H5 and P2 end in 2024"
    assert "Z1" in place[2025] and "Z1" not in place[2026] and {"Z11", "Z12", "Z13", "Z14"} <= place[2026], "Z1 splits into Z11-Z14 in 2026"
    sex = {y: schema_for_year(y)["header"].fields["SEX"].codes for y in YEARS}
    assert sex[2024] == {"1", "2"} and sex[2025] == {"M", "F", "U"}, "SEX is 1/2 to 2024 and M/F/U from 2025"
    assert schema_for_year(2025)["uasc"].fields["SEX"].codes == {"M", "F", "U"}, "UASC SEX follows the same change"
    rec = {y: schema_for_year(y)["episodes"].fields["REC"].codes for y in YEARS}
    assert {"E43", "E44"} <= rec[2018] and not {"E45", "E46", "E47", "E48"} & rec[2018], "SGO codes are E43/E44 to 2018"
    assert {"E45", "E46", "E47", "E48"} <= rec[2019] and not {"E43", "E44"} & rec[2019], "E45-E48 replace E43/E44 from 2019"
    assert "CUSTOD" in schema_for_year(2019)["episodes"].fields["REASON_PLACE_CHANGE"].codes
    assert "CUSTOD" not in schema_for_year(2018)["episodes"].fields["REASON_PLACE_CHANGE"].codes
    assert "sw_episodes" not in schema_for_year(2023) and "sw_episodes" in schema_for_year(2024), "SWEpisodes from 2024"
    activ = {y: schema_for_year(y)["oc3"].fields["ACTIV"].codes for y in (2021, 2022)}
    assert "F3" in activ[2021] and "F3" not in activ[2022] and "F5" in activ[2022], "OC3 ACTIV codes change in 2022"
    assert schema_for_year(2024)["episodes"].fields["PLACE"].xml == "PL", "the XML element for PLACE is <PL>"
    with pytest.raises(KeyError):
        schema_for_year(2016)


# ---------------------------------------------------------------- rules and pseudonyms, small inputs

EP = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN\n"


def test_episode_inside_a_long_episode_overlaps_even_after_a_short_one(tmp_path):
    path = tmp_path / "episodes.csv"
    path.write_text(
        EP
        + "ZQ1,01/04/2023,S,C2,N1,U4,PR1,01/03/2024,E13,,,,\n"    # long episode
        + "ZQ1,01/05/2023,P,C2,N1,U5,PR1,01/06/2023,X1,,,,\n"     # inside it
        + "ZQ1,01/07/2023,P,C2,N1,U6,PR1,01/08/2023,X1,,,,\n"     # after the short one, still inside the long one
        + "ZQ2,01/05/2023,S,V2,N4,K2,PR4,01/06/2023,X1,,,,\n"
        + "ZQ2,01/06/2023,P,V2,N4,K2,PR4,,,,,,\n",                 # starts the day the previous ends: no overlap
        encoding="utf-8",
    )
    r = read_ssda903(path, year=2024, salt=SALT)
    q = r.quarantine
    assert q[["rule", "row"]].values.tolist() == [["overlapping_episodes", 3], ["overlapping_episodes", 4]], (
        f"both episodes inside the long one must be flagged, and a same-day change must not: {q.values.tolist()}"
    )
    assert len(r.episodes) == 3


def test_year_is_inferred_from_the_latest_decom(tmp_path):
    path = tmp_path / "episodes.csv"
    path.write_text(EP + "ZQ1,01/04/2022,S,C2,N1,U4,PR1,,,,,,\nZQ2,15/03/2023,S,C2,N1,U4,PR1,,,,,,\n", encoding="utf-8")
    assert read_ssda903(path, salt=SALT).year == 2023, "a DECOM in March 2023 belongs to collection year 2023 (2022-23)"
    path.write_text(EP + "ZQ1,01/04/2023,S,C2,N1,U4,PR1,,,,,,\n", encoding="utf-8")
    r = read_ssda903(path, salt=SALT)
    assert r.year == 2024 and "01/04/2023" in r.year_source, "a DECOM on 1 April 2023 belongs to collection year 2024"


def test_la_code_and_year_columns(tmp_path):
    path = tmp_path / "episodes.csv"
    path.write_text(EP + "ZQ1,01/05/2023,S,C2,N1,U4,PR1,,,,,,\n", encoding="utf-8")
    r = read_ssda903(path, year=2024, la_code="838", salt=SALT)
    row = r.episodes.iloc[0]
    assert (row.la_code, row.collection_year, row.source_row) == ("838", 2024, 2), "each row must say its LA, year and line"
    assert row.child == pseudonymise("ZQ1", SALT)


def test_upn_unknown_codes_are_kept_and_upns_pseudonymised(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text(
        "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB\nZQ1,1,03/04/2012,WBRI,A123456789012,,\nZQ2,2,03/04/2013,WBRI,UN4,,\n",
        encoding="utf-8",
    )
    h = read_ssda903(path, year=2024, salt=SALT).header
    assert h["upn"].tolist() == [pseudonymise("A123456789012", SALT), "UN4"], "UPNs are identifiers; UN1-UN10 are reasons, not identifiers"


def test_pseudonymise():
    a = pseudonymise("123456", "salt-a")
    assert re.fullmatch(r"[0-9a-f]{16}", a), "a pseudonym is 16 hex characters"
    assert a == pseudonymise(" 123456 ", "salt-a"), "surrounding spaces must not change the pseudonym"
    assert a != pseudonymise("123456", "salt-b"), "the salt must change the pseudonym"
    series = pseudonymise(pd.Series(["123456", "", "123456"]), "salt-a")
    assert series.tolist() == [a, "", a], "blank stays blank; equal ids give equal pseudonyms"
    with pytest.raises(ValueError):
        pseudonymise("123456", "")


def test_salt_is_required(tmp_path):
    path = tmp_path / "episodes.csv"
    path.write_text(EP + "ZQ1,01/05/2023,S,C2,N1,U4,PR1,,,,,,\n", encoding="utf-8")
    with pytest.raises(TypeError):
        read_ssda903(path, year=2024)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        read_ssda903(path, year=2024, salt="")


def test_two_files_for_one_table_is_an_error(tmp_path):
    for name in ("episodes.csv", "SSDA903_2024_episodes.csv"):
        (tmp_path / name).write_text(EP + "ZQ1,01/05/2023,S,C2,N1,U4,PR1,,,,,,\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_ssda903(tmp_path, year=2024, salt=SALT)
    assert err.value.rule == "two files hold the same table", str(err.value)
