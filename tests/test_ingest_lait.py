"""read_lait: LAIT long parquet -> the tidy long form of read_ees, with every rule and error checked on tiny files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csceval.ingest import InputError, read_ees, read_lait

DICTIONARY = (
    'Measure_code,Measure_short,Measure,y_axis_name,Year_Type,dps\n'
    '1,LAC,"Children looked after rate per 10,000","Rate per 10,000",Annual,0\n'
    '2,CLA_fin,Spend on children looked after,Spend,Financial Year,NA\n'
    '3,KS2,KS2 expected level,% achieving expected level,Academic Year,NA\n'
    '4,RTA,Children killed or seriously injured in RTAs,"Rate per 100,000",Calendar Year,2\n'
    '5,SW,Social worker turnover,% turnover,Annual (end of Sept),1\n'
    '6,FSM,Free school meals,% pupils,Annual - January,1\n'
    '7,Alc,Hospital admissions for alcohol,"Rate per 100,000",Financial Year,1\n'
    '7,Alc,Hospital admissions for alcohol (reworded),"Rate per 100,000",Financial Year,1\n'
)


def row(measure="LAC", years="2023", value="70", number=301.0, name="Barking and Dagenham", region="Outer London", item=None):
    return {"Short Desc": measure, "Data item": item, "Years": years, "LA and Regions": name, "Values": value,
            "LA Number": number, "Region": region}


def write(tmp_path, rows, dictionary=DICTIONARY, name="bds_long_0.parquet"):
    path = tmp_path / name
    pd.DataFrame(rows, columns=list(row())).astype({"LA Number": "float64"}).to_parquet(path, index=False)
    if dictionary is not None:
        (tmp_path / "lait_data_dictionary.csv").write_text(dictionary)
    return path


def test_output_has_the_read_ees_columns_and_dtypes(tmp_path):
    """The panel code consumes read_ees output; read_lait must hand it the same leading columns and dtypes."""
    ees_path = tmp_path / "e.csv"
    ees_path.write_text(
        "time_period,time_identifier,geographic_level,country_code,country_name,region_code,region_name,old_la_code,new_la_code,la_name,n\n"
        "2023,Reporting year,Local authority,E92000001,England,E13000002,Outer London,301,E09000002,Barking and Dagenham,70\n"
    )
    ees = read_ees(ees_path)
    lait = read_lait(write(tmp_path, [row()]))
    core = list(ees.columns)
    assert list(lait.columns[: len(core)]) == core, "read_lait must start with read_ees's columns in the same order"
    for column in core:
        assert lait[column].dtype == ees[column].dtype, f"{column}: dtype differs from read_ees"
    got = lait.iloc[0]
    assert (got.la_code, got.new_la_code, got.region_code, got.time_period) == ("301", "E09000002", "E13000002", "2023")
    assert got.unit == "Rate per 10,000" and got.measure_label.startswith("Children looked after"), "units come from the dictionary"


def test_symbols_blanks_and_long_floats(tmp_path):
    """'-' and 'c' stay as status with a missing value (never 0); blanks are missing; long decimals parse exactly."""
    rows = [
        row(value="-"), row(value="c", number=302.0), row(value="", number=303.0), row(value=None, number=304.0),
        row(value="9.3699999999999992", number=305.0), row(value="-7.0000000000000007E-2", number=306.0),
    ]
    table = read_lait(write(tmp_path, rows)).set_index("la_code")
    assert np.isnan(table.at["301", "value"]) and table.at["301", "status"] == "-", "LAIT '-' must be missing with status '-'"
    assert np.isnan(table.at["302", "value"]) and table.at["302", "status"] == "c", "'c' must be missing with status 'c'"
    for code in ("303", "304"):
        assert np.isnan(table.at[code, "value"]) and table.at[code, "status"] == "", "a blank cell is missing, not 0"
    assert table.at["305", "value"] == 9.37, "'9.3699999999999992' is the float 9.37 written out long; it must parse to it exactly"
    assert table.at["306", "value"] == -0.07, "exponent notation with a sign must parse exactly"


def test_geographic_levels_from_la_numbers(tmp_path):
    """970 is England, 980-990 regions (incl. Inner/Outer London), other numbers LAs - including defunct ones."""
    rows = [
        row(number=970.0, name="England", region="NA"), row(number=981.0, name="North West", region="NA"),
        row(number=987.0, name="London (Inner)", region="NA"), row(number=909.0, name="Cumbria", region="North West"),
        row(number=201.0, name="City of London", region="Inner London"),
    ]
    table = read_lait(write(tmp_path, rows)).set_index("source_row")
    assert table.loc[1, ["geographic_level", "la_code", "region_code"]].tolist() == ["National", "", ""]
    assert table.loc[2, ["geographic_level", "la_code", "region_code"]].tolist() == ["Regional", "", "E12000002"]
    assert table.loc[3, ["geographic_level", "region_code"]].tolist() == ["Regional", "E13000001"]
    assert table.loc[4, ["geographic_level", "la_code"]].tolist() == ["Local authority", "909"], "defunct Cumbria (909) is a known LA"
    assert table.loc[5, "la_code"] == "201"


@pytest.mark.parametrize(
    "measure, years, time_period, identifier, start, end, release",
    [
        ("LAC", "2023", "2023", "Reporting year", "2022-04-01", "2023-03-31", ""),
        ("CLA_fin", "2023", "2023", "Reporting year", "2022-04-01", "2023-03-31", ""),
        ("CLA_fin", "2022-23", "202223", "Financial year", "2022-04-01", "2023-03-31", ""),
        ("CLA_fin", "2022-23 (OT)", "202223", "Financial year", "2022-04-01", "2023-03-31", "outturn"),
        ("KS2", "2023", "202223", "Academic year", "2022-09-01", "2023-08-31", ""),
        ("KS2", "2023 (Rev)", "202223", "Academic year", "2022-09-01", "2023-08-31", "revised"),
        ("KS2", "2021 (Final)", "202021", "Academic year", "2020-09-01", "2021-08-31", "final"),
        ("KS2", "2025 (prov)", "202425", "Academic year", "2024-09-01", "2025-08-31", "provisional"),
        ("KS2", "2015/16", "201516", "Academic year", "2015-09-01", "2016-08-31", ""),
        ("RTA", "2023", "2023", "Calendar year", "2023-01-01", "2023-12-31", ""),
        ("RTA", "2014-16", "2014-2016", "Calendar years (rolling)", "2014-01-01", "2016-12-31", ""),
        ("RTA", "2099-01", "2099-2101", "Calendar years (rolling)", "2099-01-01", "2101-12-31", ""),
        ("SW", "2024", "2024", "Year ending September", "2023-10-01", "2024-09-30", ""),
        ("FSM", "2024", "2024", "January census", "2024-01-01", "2024-01-31", ""),
        ("Alc", "2013/14-15/16", "201314-201516", "Financial years (rolling)", "2013-04-01", "2016-03-31", ""),
    ],
)
def test_years_label_maps_to_a_period_by_year_type(tmp_path, measure, years, time_period, identifier, start, end, release):
    """The same label means different periods for different Year_Types; each documented mapping is checked."""
    got = read_lait(write(tmp_path, [row(measure=measure, years=years)])).iloc[0]
    assert (got.time_period, got.time_identifier) == (time_period, identifier), f"{years!r} ({measure}) mapped wrongly"
    assert (got.period_start, got.period_end) == (pd.Timestamp(start), pd.Timestamp(end)), f"{years!r} ({measure}) has wrong dates"
    assert got.release_status == release and got.years == years, "the release suffix is kept apart and the label kept as published"


def test_placeholder_year_zero_is_dropped_only_when_empty(tmp_path):
    """LAIT's Years '0' rows carry no data; they are dropped and counted, and a number under '0' is refused."""
    table = read_lait(write(tmp_path, [row(years="0", value="-"), row(years="0", value="", number=302.0), row()]))
    assert len(table) == 1 and table.attrs["dropped_placeholder_rows"] == 2, "the empty year-0 rows must be dropped and counted"
    with pytest.raises(InputError) as caught:
        read_lait(write(tmp_path, [row(), row(years="0", value="12", number=302.0)]))
    assert (caught.value.row, caught.value.field) == (2, "Years"), "a number under Years '0' has no period and must stop the read"


@pytest.mark.parametrize(
    "rows, dictionary, row_no, field, rule",
    [
        ([row(number=999.0)], DICTIONARY, 1, "LA Number", "LA number is neither an LA in csceval.reference"),
        ([row(), row(number=301.5)], DICTIONARY, 2, "LA Number", "LA number is missing or not a whole number"),
        ([row(), row(number=None)], DICTIONARY, 2, "LA Number", "LA number is missing or not a whole number"),
        ([row(years="2023Q1")], DICTIONARY, 1, "Years", "Years label cannot be read as a period"),
        ([row(years="2023-22")], DICTIONARY, 1, "Years", "Years label cannot be read as a period"),
        ([row(measure="CLA_fin", years="2014-16")], DICTIONARY, 1, "Years", "Years label cannot be read as a period"),
        ([row(measure="RTA", years="2014/15")], DICTIONARY, 1, "Years", "Years label cannot be read as a period"),
        ([row(), row(value="1x2", number=302.0)], DICTIONARY, 2, "Values", "value is neither a number nor a DfE symbol"),
        ([row(), row(measure="Nope", number=302.0)], DICTIONARY, 2, "Short Desc", "indicator is not in the data dictionary"),
        ([row(), row(years="2023 (Rev)")], DICTIONARY, 2, "Years", "two rows for the same indicator, area and period"),
        ([row()], DICTIONARY + "8,LAC,again,Rate,Calendar Year,0\n", 10, "Year_Type", "indicator listed twice with different year types"),
        ([row()], "Measure_short,Measure\nLAC,x\n", 1, "y_axis_name", "required data dictionary column is missing"),
        ([row()], DICTIONARY + "9,Odd,odd,x,Fortnightly,0\n", 10, "Year_Type", "unknown Year_Type"),
        ([row()], None, None, None, "LAIT data dictionary does not exist"),
        ([], DICTIONARY, None, None, "file has no rows"),
    ],
    ids=[
        "unknown-la", "fractional-la", "missing-la", "unknown-years", "backwards-years", "range-for-financial",
        "slash-for-calendar", "bad-value", "unknown-indicator", "duplicate-period", "dictionary-conflict",
        "dictionary-column", "dictionary-year-type", "no-dictionary", "empty",
    ],
)
def test_bad_input_raises_input_error_naming_the_problem(tmp_path, rows, dictionary, row_no, field, rule):
    path = write(tmp_path, rows, dictionary)
    with pytest.raises(InputError) as caught:
        read_lait(path)
    err = caught.value
    assert (err.row, err.field) == (row_no, field) and err.rule.startswith(rule), f"wrong diagnosis: {err}"
    assert err.file.endswith((".parquet", ".csv")), "the message must name the file"


def test_missing_column_and_unreadable_file(tmp_path):
    path = tmp_path / "bds.parquet"
    pd.DataFrame([row()]).drop(columns="Years").to_parquet(path)
    (tmp_path / "lait_data_dictionary.csv").write_text(DICTIONARY)
    with pytest.raises(InputError, match="required LAIT column is missing") as caught:
        read_lait(path)
    assert caught.value.field == "Years"
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not a parquet file")
    with pytest.raises(InputError, match="not a readable parquet file"):
        read_lait(bad)


@pytest.mark.shared_data
@pytest.mark.slow
def test_reads_the_real_lait_file_quickly_and_agrees_with_ees(shared_lait, shared_ees):
    """The published 640k-row file reads in a few seconds, no symbol becomes a number, and its children-looked-after
    counts agree with the EES CLA file LA by LA and add up to LAIT's own England row."""
    import time

    from csceval.reference import la_codes

    started = time.perf_counter()
    table = read_lait(shared_lait / "bds_long_0.parquet")
    seconds = time.perf_counter() - started
    assert seconds < 10, f"read_lait took {seconds:.1f} s; it must stay vectorised (about 1-2 s on an idle 2-core machine)"
    assert len(table) > 600_000, "rows were lost"
    assert table.loc[table.status.ne(""), "value"].isna().all(), "a symbol was given a value"
    assert set(table.geographic_level) == {"National", "Regional", "Local authority"}
    assert table.loc[table.geographic_level.eq("Local authority"), "la_code"].str.fullmatch(r"\d{3}").all()
    assert table["unit"].ne("").mean() > 0.95, "units must come from the dictionary for nearly every row"

    # Same statistic, two publications: LAIT 'LACnum' (Annual -> reporting year) vs EES CLA at 31 March.
    lait = table[table.measure.eq("LACnum") & table.geographic_level.eq("Local authority")]
    ees = read_ees(shared_ees / "cla_number_and_rate_per_10k_children.csv")
    ees = ees[ees.measure.eq("children_count") & ees.population_type.eq("Children looked after on 31 March each year")
              & ees.geographic_level.eq("Local authority")]
    both = lait.merge(ees, on=["la_code", "time_period"], suffixes=("_lait", "_ees"))
    assert len(both) > 500, "LAIT 'LACnum' years must line up with EES reporting years (period mapping of 'Annual')"
    published = both.value_lait.notna() & both.value_ees.notna()
    assert (both.value_lait.isna() == both.value_ees.isna()).all(), "LAIT and EES must withhold the same LA cells"
    assert (both.loc[published, "value_lait"] == both.loc[published, "value_ees"]).all(), "LAIT and EES LA counts differ"

    england = table[table.measure.eq("LACnum") & table.geographic_level.eq("National")].set_index("time_period")["value"]
    for period, total in england.items():
        rows = lait[lait.time_period.eq(period)]
        withheld_live = set(rows.loc[rows.value.isna(), "la_code"]) & set(la_codes(int(period)))
        tolerance = 5 + 5 * len(withheld_live)
        assert abs(total - rows.value.sum()) <= tolerance, (
            f"LAIT CLA {period}: England {total:.0f} vs sum of LAs {rows.value.sum():.0f}; allowed {tolerance} = 5 for DfE's "
            f"rounding of England to the nearest 10 + 5 for each withheld small LA {sorted(withheld_live)} (hides 1-5)"
        )
