"""read_ees: symbols kept as status (never zero), BOM handled, clear errors naming file/row/field/rule."""

from __future__ import annotations

import numpy as np
import pytest

from csceval.ingest import InputError, read_ees

HEADER = "time_period,time_identifier,geographic_level,country_code,country_name,region_code,region_name,old_la_code,new_la_code,la_name,category,referral_count,rereferral_percent\n"


def write(tmp_path, text, name="c1.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_symbols_become_status_with_missing_value(tmp_path):
    path = write(
        tmp_path,
        HEADER
        + "2024,Reporting year,Local authority,E92000001,England,E12000001,North East,805,E06000001,Hartlepool,Referrals,c,x\n"
        + "2024,Reporting year,Local authority,E92000001,England,E12000001,North East,806,E06000002,Middlesbrough,Referrals,1520,21.5\n",
    )
    table = read_ees(path)
    cell = table[(table.la_code == "805") & (table.measure == "referral_count")].iloc[0]
    assert np.isnan(cell.value) and cell.status == "c", "a suppressed count must stay missing with status 'c', never 0"
    ok = table[(table.la_code == "806") & (table.measure == "rereferral_percent")].iloc[0]
    assert ok.value == 21.5 and ok.status == "", "a published number must be read as a float with empty status"
    assert table["category"].eq("Referrals").all(), "text columns are breakdowns kept unchanged"
    assert set(table.measure) == {"referral_count", "rereferral_percent"}


def test_bom_and_renamed_columns(tmp_path):
    text = (
        "time_period,time_identifier,geographic_level,country_code,country_name,region_code,region_name,old_la_code,la_name,new_la_code,population_count,number\n"
        "2023,Reporting year,Local authority,E92000001,England,E12000001,North East,805,Hartlepool,E06000001,Children looked after at 31 March each year,310\n"
    )
    table = read_ees(write(tmp_path, "\ufeff" + text, "cla.csv"))
    assert "population_type" in table.columns, "the 2024-release column population_count must map to population_type"
    assert table.measure.tolist() == ["children_count"], "the 2024-release column number must map to children_count"
    assert table.time_period.tolist() == ["2023"], "a BOM must not corrupt the first column name"


@pytest.mark.parametrize(
    "text, row, field, rule",
    [
        ("", None, None, "file is empty"),
        (HEADER, None, None, "file has a header but no rows"),
        (HEADER.replace("geographic_level,", ""), 1, "geographic_level", "required EES column is missing"),
        (
            HEADER + "2024,Reporting year,Local authority,E92000001,England,E12000001,North East,805,E06000001,Hartlepool,Referrals,1x2,20\n"
            + "".join(f"2024,Reporting year,Local authority,E92000001,England,E12000001,North East,8{i:02d},E0600000{i},LA,Referrals,{100 + i},20\n" for i in range(20)),
            2, "referral_count", "value is neither a number nor a DfE symbol",
        ),
        (HEADER + "2024,Reporting year,Local authority,E92000001,England\n2024,a,b,c,d,e,f,g,h,i,j,k,l,m,n,o\n", 3, None, "row has a different number of fields than the header"),
    ],
    ids=["empty", "header-only", "missing-column", "bad-number", "ragged-row"],
)
def test_bad_files_raise_input_error_naming_the_problem(tmp_path, text, row, field, rule):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        read_ees(path)
    err = caught.value
    assert (err.row, err.field, err.rule) == (row, field, rule), f"wrong diagnosis: {err}"
    assert str(path) in str(err) and rule in str(err), "the message must name the file and the rule"


def test_non_utf8_file_is_refused_with_its_line(tmp_path):
    path = write(tmp_path, HEADER + "2024,Reporting year,Local authority,E92000001,England,E12000001,North East,805,E06000001,Hartlepool,Referrals,10,2\n".replace("Hartlepool", "Hartlepool\u00e9"), encoding="cp1252")
    with pytest.raises(InputError, match="not UTF-8") as caught:
        read_ees(path)
    assert caught.value.row == 2, "the error must point at the line holding the bad byte"


@pytest.mark.shared_data
def test_reads_every_real_ees_file(shared_ees):
    """Every published file in ../shared/data/ees reads, and no symbol is turned into a number."""
    for path in sorted(shared_ees.glob("*.csv")):
        if path.name.startswith(("sn_model", "New_Statistical")):
            continue  # statistical-neighbour lookups are not EES data files
        table = read_ees(path)
        assert len(table), f"{path.name}: nothing read"
        assert table.loc[table.status.ne(""), "value"].isna().all(), f"{path.name}: a symbol was given a value"
        assert table.loc[table.status.eq(""), "value"].notna().mean() > 0.99, f"{path.name}: numbers lost"
