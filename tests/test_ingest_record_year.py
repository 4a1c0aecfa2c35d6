"""A collection year of many LAs' returns read at once (issue #3 performance) gives what reading each
return on its own gives.

``read_record_year`` validates each table of a batch of LAs as one frame (``read_ssda903_many``,
``read_cin_census_many``). These tests build small multi-LA folders by hand, with rule breaches in
several LAs, the same child identifier in two LAs, notes, XML returns mixed with CSV ones and bad files
deep in the sorted order, and compare the batched reads with the one-return-at-a-time readers, frame for
frame; the per-file rules (records, duplicates, episode sequences) are also checked against values worked
out by hand.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from csceval.ingest import InputError, read_cin_census, read_ssda903
from csceval.ingest import records as records_module
from csceval.ingest.cin_census import read_cin_census_many
from csceval.ingest.quarantine import pseudonymise
from csceval.ingest.records import EPISODE_KEEP, EVENT_KEEP, read_record_year
from csceval.ingest.ssda903 import read_ssda903_many

SALT = "test-salt-record-year"
CORPUS = Path(__file__).parent / "bad_inputs"
YEAR = 2024
LAS = ["336", "394", "821", "838", "846", "925"]   # sorted: the order read_record_year reads them in

EPISODES = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN"
HEADER = "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB"
CIN = ("child,la_code,event_type,date,cin_episode,referral_source,referral_nfa,primary_need,"
       "category_of_abuse,number_of_previous_cpp,reason_for_closure")


def episode(child: str, decom: str, dec: str = "", place: str = "U4") -> str:
    end = f"{dec},E11,CARPL" if dec else ",,"
    return f"{child},{decom},S,C2,N1,{place},PR1,{end},AB1 2CD,EF3 4GH,"


def header(child: str, sex: str = "1", upn: str = "A123456789012") -> str:
    return f"{child},{sex},01/01/2015,WBRI,{upn},,"


def cin_rows(child: str, la: str, referral: str = "2023-06-01", source: str = "1A") -> list[str]:
    return [f"{child},{la},referral,{referral},1,{source},false,N1,,,", f"{child},{la},assessment,2023-06-10,1,,,,,,"]


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


def build_year(root: Path) -> Path:
    """Six LAs; breaches in several; C1 in both 336 and 394; an XML return; notes; odd files."""
    cla, cin = root / "ssda903" / str(YEAR), root / "cin_census" / str(YEAR)
    # 336: clean; C1 has two consecutive episodes
    write(cla / "336" / "episodes.csv", [EPISODES, episode("C1", "01/05/2023", "01/06/2023"), episode("C1", "01/06/2023")])
    write(cla / "336" / "header.csv", [HEADER, header("C1")])
    # 394: the same identifier C1 again (a different child of another LA) with an episode that would overlap
    # 336's if the LAs were mixed up; line 3 starts before line 2 ends (overlap); line 4 has a bad date
    write(cla / "394" / "episodes.csv", [EPISODES, episode("C1", "15/05/2023", "01/09/2023"),
                                          episode("C1", "01/07/2023"), episode("C2", "31/02/2024")])
    write(cla / "394" / "header.csv", [HEADER, header("C1"), header("C2"), header("C2", sex="2")])
    # 821: a raw identifier written as PLACE (quarantined, its value must be pseudonymised); an extra
    # column (a note); a oc2 table with a negative SDQ score; a file that is not CSV (a note)
    write(cla / "821" / "episodes.csv", [EPISODES, episode("C7", "01/05/2023"), episode("C8", "01/05/2023", place="C7")])
    write(cla / "821" / "header.csv", [HEADER + ",FORENAME", header("C7") + ",Ann", header("C8") + ",Bo"])
    shutil.copy(CORPUS / "903_oc2_negative_sdq_score.csv", cla / "821" / "oc2.csv")
    (cla / "821" / "readme.txt").write_text("not a table")
    # 838: an XML return (read one at a time)
    shutil.copy(CORPUS / "903_xml_place_k3_in_2024.xml", cla / "838.xml")
    # 846: cp1252 text, CRLF line ends and a blank line; a sw_episodes table with a bad reason
    (cla / "846").mkdir(parents=True)
    (cla / "846" / "episodes.csv").write_bytes(
        "\r\n".join([EPISODES, episode("Zoé", "01/05/2023"), "", episode("C9", "01/04/2024")]).encode("cp1252") + b"\r\n")
    write(cla / "846" / "header.csv", [HEADER, header("Zoé"), header("C9", sex="M")], encoding="cp1252")
    shutil.copy(CORPUS / "903_sw_episodes_bad_reason.csv", cla / "846" / "sw_episodes.csv")
    # 925: only the episodes table, one with a missing child identifier
    write(cla / "925" / "episodes.csv", [EPISODES, episode("", "01/05/2023"), episode("C5", "01/05/2023")])
    (cla / ".DS_Store").write_text("hidden")

    write(cin / "336.csv", [CIN, *cin_rows("C1", "336"), *cin_rows("C2", "336")])
    write(cin / "394.csv", [CIN, *cin_rows("C1", "394"), *cin_rows("C1", "394", referral="2023-02-30")])
    write(cin / "821.csv", [CIN, *cin_rows("C7", "821", source="C8"), *cin_rows("C8", "999"), ",821,visit,2023-07-01,1,,,,,,"])
    shutil.copy(CORPUS / "cin_ok_assessment_s47_plan.xml", cin / "838.xml")
    write(cin / "846.csv", [CIN + ",note", *(r + ",x" for r in cin_rows("C9", "846"))])
    # 925: a referral after 31 March 2024; columns upn and sex that the other LAs' files lack
    write(cin / "925.csv", [CIN + ",upn,sex", *(r + ",U925,2" for r in cin_rows("C5", "925", referral="2024-04-01"))])
    (cin / "readme.txt").write_text("not a return")
    return root


def assert_same(one, many, names) -> None:
    assert len(one) == len(many), "one result per return"
    for a, b in zip(one, many):
        for name in names:
            x, y = getattr(a, name), getattr(b, name)
            if x is None:
                assert y is None, f"{a.la_code}: {name} present only in the batched read"
                continue
            pd.testing.assert_frame_equal(x, y, check_exact=True, obj=f"LA {a.la_code} {name}")
        assert (a.year, a.year_source, a.la_code, a.notes) == (b.year, b.year_source, b.la_code, b.notes)


def cla_returns(root: Path) -> list[tuple[Path, str]]:
    folder = root / "ssda903" / str(YEAR)
    return [(p, p.stem if p.is_file() else p.name) for p in sorted(folder.iterdir()) if not p.name.startswith(".")]


def cin_returns(root: Path) -> list[tuple[Path, str]]:
    folder = root / "cin_census" / str(YEAR)
    return [(p, p.stem) for p in sorted(folder.iterdir()) if p.suffix in (".csv", ".xml")]


def reference_year(root: Path):
    """read_record_year as a loop over the one-return readers (how it was written before batching)."""
    episodes, events, quarantines, recons = {}, {}, [], []
    for path, la in cla_returns(root):
        r = read_ssda903(path, YEAR, la, salt=SALT)
        episodes[la] = r.episodes[EPISODE_KEEP]
        quarantines.append(r.quarantine.assign(collection="SSDA903", la_code=la))
        recons.append(r.reconciliation.assign(collection="SSDA903", la_code=la))
    for path, la in cin_returns(root):
        r = read_cin_census(path, salt=SALT, year=YEAR, la_code=la)
        events[la] = r.events[EVENT_KEEP]
        quarantines.append(r.quarantine.assign(collection="CIN census", la_code=la))
        recons.append(r.reconciliation.assign(collection="CIN census", la_code=la))
    quarantine, recon = pd.concat(quarantines, ignore_index=True), pd.concat(recons, ignore_index=True)
    quarantine.insert(0, "collection_year", YEAR)
    recon.insert(0, "collection_year", YEAR)
    return episodes, events, quarantine, recon


@pytest.fixture(scope="module")
def year_dir(tmp_path_factory) -> Path:
    return build_year(tmp_path_factory.mktemp("records"))


def test_batched_ssda903_equals_one_return_at_a_time(year_dir):
    returns = cla_returns(year_dir)
    one = [read_ssda903(path, YEAR, la, salt=SALT) for path, la in returns]
    assert sum(len(r.quarantine) for r in one) >= 8 and sum(bool(r.notes) for r in one) >= 2, (
        "the fixture must quarantine rows in several LAs and carry notes, or the comparison proves little"
    )
    many = read_ssda903_many(returns, YEAR, salt=SALT)
    assert_same(one, many, ["episodes", "header", "oc2", "sw_episodes", "quarantine", "reconciliation"])


def test_batched_cin_census_equals_one_file_at_a_time(year_dir):
    returns = cin_returns(year_dir)
    one = [read_cin_census(path, salt=SALT, year=YEAR, la_code=la) for path, la in returns]
    assert sum(len(r.quarantine) for r in one) >= 5, "the fixture must quarantine rows in several LAs"
    many = read_cin_census_many(returns, salt=SALT, year=YEAR)
    assert_same(one, many, ["events", "children", "quarantine", "reconciliation"])


@pytest.mark.parametrize("batch_bytes", [1, 10**9], ids=["one_LA_per_batch", "one_batch"])
def test_record_year_equals_the_one_return_loop(year_dir, monkeypatch, batch_bytes):
    monkeypatch.setattr(records_module, "BATCH_BYTES", batch_bytes)
    got = read_record_year(year_dir, YEAR, salt=SALT)
    episodes, events, quarantine, recon = reference_year(year_dir)
    for name, want, have in (("episodes", episodes, got.episodes), ("events", events, got.events)):
        assert list(have) == list(want), f"{name}: LAs in sorted order"
        for la in want:
            pd.testing.assert_frame_equal(have[la], want[la], check_exact=True, obj=f"{name} of LA {la}")
    pd.testing.assert_frame_equal(got.quarantine, quarantine, check_exact=True, obj="quarantine")
    pd.testing.assert_frame_equal(got.reconciliation, recon, check_exact=True, obj="reconciliation")


def test_rules_stay_within_each_return(year_dir):
    """Worked out by hand: which breaches each LA's files hold when the LAs are validated together."""
    got = read_record_year(year_dir, YEAR, salt=SALT)
    q = got.quarantine
    cla = q[q["collection"] == "SSDA903"]
    by_la = {la: set(zip(g["table"], g["record"], g["row"], g["field"], g["rule"])) for la, g in cla.groupby("la_code")}
    assert "336" not in by_la, "336's C1 is not 394's C1: nothing overlaps or repeats across LAs"
    assert by_la["394"] == {
        ("episodes", 2, 3, "DECOM", "overlapping_episodes"),     # 01/07/2023 is inside 15/05-01/09/2023
        ("episodes", 3, 4, "DECOM", "invalid_date"),             # 31/02/2024
        ("header", 3, 4, "CHILD", "duplicate_child"),            # C2's second header row (record 3 of 394's file)
    }, "records are numbered within 394's own files, not after 336's rows"
    assert by_la["925"] == {("episodes", 1, 2, "CHILD", "missing_required_value")}
    assert ("episodes", 2, 3, "PLACE", "code_not_valid_for_year") in by_la["821"]
    place = cla[(cla["la_code"] == "821") & (cla["field"] == "PLACE")]["value"].tolist()
    assert place == [pseudonymise("C7", SALT)], "a raw identifier shown as a bad value is pseudonymised"
    assert ("header", 2, 3, "SEX", "code_not_valid_for_year") in by_la["846"], "SEX M is not a 2024 code"
    assert got.episodes["336"]["DECOM"].tolist() == [pd.Timestamp("2023-05-01"), pd.Timestamp("2023-06-01")]
    cin = q[q["collection"] == "CIN census"]
    assert set(cin.loc[cin["la_code"] == "394", "rule"]) == {"invalid_date"}, "394's C1 is one child of 394 only"
    value = cin[(cin["la_code"] == "821") & (cin["field"] == "referral_source")]["value"].tolist()
    assert value == [pseudonymise("C8", SALT)], "a raw identifier given as a referral source is pseudonymised"
    assert not (got.events["821"]["la_code"] != "821").any(), "la_code comes from the file name"


def copy_with_bad_file(year_dir: Path, tmp_path: Path, collection: str, bad: dict[str, str]) -> Path:
    root = tmp_path / "year"
    shutil.copytree(year_dir, root)
    for la, corpus_file in bad.items():
        if collection == "ssda903":
            shutil.copy(CORPUS / corpus_file, root / "ssda903" / str(YEAR) / la / "episodes.csv")
        else:
            shutil.copy(CORPUS / corpus_file, root / "cin_census" / str(YEAR) / f"{la}.csv")
    return root


def error_of(call) -> tuple:
    with pytest.raises(InputError) as caught:
        call()
    e = caught.value
    return e.file, e.row, e.field, e.rule, e.detail


@pytest.mark.parametrize("batch_bytes", [1, 10**9], ids=["one_LA_per_batch", "one_batch"])
def test_first_bad_ssda903_file_in_sorted_order_is_reported(year_dir, tmp_path, monkeypatch, batch_bytes):
    monkeypatch.setattr(records_module, "BATCH_BYTES", batch_bytes)
    root = copy_with_bad_file(year_dir, tmp_path, "ssda903",
                              {"846": "903_truncated_last_row.csv", "925": "903_extra_field_in_row.csv"})
    got = error_of(lambda: read_record_year(root, YEAR, salt=SALT))
    alone = error_of(lambda: read_ssda903(root / "ssda903" / str(YEAR) / "846", YEAR, "846", salt=SALT))
    assert got == alone, "the error must be the one the first bad LA (846, 5th of 6) gives on its own"
    assert got[1:4] == (4, "CIN", "row has fewer fields than the header (truncated row?)")


@pytest.mark.parametrize("batch_bytes", [1, 10**9], ids=["one_LA_per_batch", "one_batch"])
def test_first_bad_cin_file_in_sorted_order_is_reported(year_dir, tmp_path, monkeypatch, batch_bytes):
    monkeypatch.setattr(records_module, "BATCH_BYTES", batch_bytes)
    root = copy_with_bad_file(year_dir, tmp_path, "cin_census",
                              {"846": "cin_csv_missing_date_column.csv", "925": "cin_csv_header_only.csv"})
    got = error_of(lambda: read_record_year(root, YEAR, salt=SALT))
    alone = error_of(lambda: read_cin_census(root / "cin_census" / str(YEAR) / "846.csv", salt=SALT, year=YEAR, la_code="846"))
    assert got == alone, "the error must be the one the first bad LA (846) gives on its own"
    assert got[1:4] == (1, "date", "required column is missing")


def test_a_return_given_twice_is_read_twice(year_dir):
    """Records are told apart by file in a batch; a return listed twice must still give two full results."""
    la_dir = year_dir / "ssda903" / str(YEAR) / "394"
    one = read_ssda903(la_dir, YEAR, "394", salt=SALT)
    many = read_ssda903_many([(la_dir, "394"), (la_dir, "394")], YEAR, salt=SALT)
    assert_same([one, one], many, ["episodes", "header", "quarantine", "reconciliation"])
    cin_file = year_dir / "cin_census" / str(YEAR) / "394.csv"
    one = read_cin_census(cin_file, salt=SALT, year=YEAR, la_code="394")
    many = read_cin_census_many([(cin_file, "394"), (cin_file, "394")], salt=SALT, year=YEAR)
    assert_same([one, one], many, ["events", "children", "quarantine", "reconciliation"])
