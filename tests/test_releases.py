"""resolve_revisions: the newest release of every cell wins, and every disagreement between releases is logged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csceval.ingest import InputError, read_ees, release_from_name, resolve_revisions


def table(rows, breakdown=None):
    """Long rows (time_period, la_code, value, status[, breakdown]) in read_ees form; code '' = England."""
    records = []
    for row in rows:
        period, code, value, status, *rest = row
        record = dict(
            time_period=period, geographic_level="Local authority" if code else "National", la_code=code,
            new_la_code="", region_code="", measure="children_count", value=value, status=status, source_row=len(records) + 2,
        )
        if breakdown:
            record[breakdown] = rest[0]
        records.append(record)
    return pd.DataFrame(records)


def test_newest_release_wins_and_revisions_are_logged():
    old = table([("2023", "301", 100.0, ""), ("2023", "302", 50.0, ""), ("2022", "301", 90.0, ""), ("2023", "", 1000.0, "")])
    new = table([("2023", "301", 104.0, ""), ("2023", "302", 50.0, ""), ("2024", "301", 110.0, ""), ("2023", "", 1010.0, "")])
    resolved, log = resolve_revisions({"2023": old, "2024": new})
    got = resolved.set_index(["la_code", "time_period"])
    assert got.loc[("301", "2023"), "value"] == 104.0 and got.loc[("301", "2023"), "release"] == "2024", "the newer release's revision must win"
    assert got.loc[("301", "2022"), "release"] == "2023", "a year only the old release carries keeps its old row"
    assert got.loc[("", "2023"), "value"] == 1010.0, "England rows are resolved like LA rows"
    assert len(resolved) == 5, "one row per cell: 301/2022, 301/2023, 302/2023, 301/2024, England/2023"
    logged = log.set_index(["geography", "time_period"])
    assert set(logged.index) == {("301", "2023"), ("", "2023")}, "exactly the cells that changed are logged (302 did not)"
    row = logged.loc[("301", "2023")]
    assert (row.old_release, row.old_value, row.new_release, row.new_value, row.kept_release) == ("2023", 100.0, "2024", 104.0, "2024")


def test_order_of_input_does_not_matter_and_three_releases():
    """Release order comes from the release identifiers, not from the order the tables are passed in."""
    a = table([("2022", "301", 90.0, "")])
    b = table([("2022", "301", 92.0, "")])
    c = table([("2022", "301", 91.0, "")])
    resolved, log = resolve_revisions({"2025": c, "2023": a, "2024": b})
    assert resolved.value.tolist() == [91.0] and resolved.release.tolist() == ["2025"]
    assert sorted(zip(log.old_release, log.old_value)) == [("2023", 90.0), ("2024", 92.0)], "each older differing release is logged"
    assert log.kept_release.eq("2025").all()


def test_symbols_compare_by_status_and_newest_symbol_still_wins():
    """A suppressed cell kept suppressed is no disagreement; a number that became 'c' (or the reverse) is."""
    old = table([("2023", "301", np.nan, "c"), ("2023", "302", 40.0, ""), ("2023", "303", np.nan, "x")])
    new = table([("2023", "301", np.nan, "c"), ("2023", "302", np.nan, "c"), ("2023", "303", 7.0, "")])
    resolved, log = resolve_revisions({"2023": old, "2024": new})
    assert log.geography.tolist() == ["302", "303"], "same symbol in both releases is agreement; a changed symbol is logged"
    kept = resolved.set_index("la_code")
    assert np.isnan(kept.at["302", "value"]) and kept.at["302", "status"] == "c", "the newest release wins even with a symbol"
    first = log.iloc[0]
    assert (first.old_value, first.old_status, first.new_status) == (40.0, "", "c")


def test_breakdowns_are_part_of_the_cell():
    old = table([("2023", "301", 10.0, "", "starts"), ("2023", "301", 20.0, "", "stock")], breakdown="population_type")
    new = table([("2023", "301", 11.0, "", "starts"), ("2023", "301", 20.0, "", "stock")], breakdown="population_type")
    resolved, log = resolve_revisions({"2023": old, "2024": new})
    assert len(resolved) == 2, "rows differing only by a breakdown are different cells"
    assert log.population_type.tolist() == ["starts"] and log.old_value.tolist() == [10.0]


def test_release_from_column_or_attrs():
    old = table([("2023", "301", 1.0, "")]).assign(release="2023")
    new = table([("2023", "301", 2.0, "")])
    new.attrs["release"] = "2024-06-30"
    resolved, log = resolve_revisions([new, old])
    assert resolved.release.tolist() == ["2024-06-30"] and len(log) == 1


@pytest.mark.parametrize(
    "tables, message",
    [
        ({}, "at least one table"),
        ({"2023": table([("2023", "301", 1.0, ""), ("2023", "301", 2.0, "")])}, "more than one row for the cell"),
        ({"latest": table([("2023", "301", 1.0, "")])}, "not a year or a date"),
        ({"2024": table([("2023", "301", 1.0, "")]), "2024-01-01": table([("2023", "301", 1.0, "")])}, "same date"),
        ([table([("2023", "301", 1.0, "")])], "does not say which release"),
        ({"2024": table([("2023", "301", 1.0, "")]).drop(columns="status")}, "column 'status' is missing"),
    ],
    ids=["none", "duplicate-cell", "bad-release", "same-date", "no-release", "missing-column"],
)
def test_bad_input_is_refused(tables, message):
    with pytest.raises(ValueError, match=message):
        resolve_revisions(tables)


def test_release_from_name():
    assert release_from_name("data/b1_children_in_need_2013_to_2025.csv") == "2025"
    assert release_from_name("cla_number_2024.csv") == "2024"
    with pytest.raises(InputError, match="cannot tell which release"):
        release_from_name("cla_number_and_rate_per_10k_children.csv")


def test_read_ees_tables_resolve_end_to_end(tmp_path):
    """Two EES releases of the same file, as read_ees returns them, resolve with the revision logged."""
    header = "time_period,time_identifier,geographic_level,country_code,country_name,region_code,region_name,old_la_code,new_la_code,la_name,category,At31_episodes\n"
    line = "{y},Reporting year,Local authority,E92000001,England,E12000001,North East,805,E06000001,Hartlepool,Children in Need,{v}\n"
    old = tmp_path / "b1_children_in_need_2013_to_2024.csv"
    new = tmp_path / "b1_children_in_need_2013_to_2025.csv"
    old.write_text(header + line.format(y=2024, v=500) + line.format(y=2023, v=480))
    new.write_text(header + line.format(y=2025, v=510) + line.format(y=2024, v=505))
    resolved, log = resolve_revisions({release_from_name(p): read_ees(p) for p in (old, new)})
    assert sorted(zip(resolved.time_period, resolved.value)) == [("2023", 480.0), ("2024", 505.0), ("2025", 510.0)]
    assert log[["time_period", "old_value", "new_value", "kept_release"]].values.tolist() == [["2024", 500.0, 505.0, "2025"]]
