"""The door guard of results/report: small counts and child identifiers never get through."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csceval.disclosure import (
    DisclosureError,
    DisclosureRules,
    TableStructure,
    check_publishable,
    format_rates,
    round_totals,
    suppress_counts,
    write_publishable_csv,
)


def test_safe_estimates_table_passes(tmp_path):
    table = pd.DataFrame({"outcome": ["cla_rate_per_10k"], "estimate": [-3.2], "n_treated": [3], "n_control": [120]})
    path = write_publishable_csv(table, tmp_path / "t.csv")
    assert path.read_text().startswith("outcome,estimate"), "a safe table must be written"


@pytest.mark.parametrize("value", [1, 3, 5])
def test_small_count_is_refused_and_nothing_written(tmp_path, value):
    table = pd.DataFrame({"la_code": ["805", "806"], "children_count": [120, value]})
    with pytest.raises(DisclosureError, match="children_count.*row 1"):
        write_publishable_csv(table, tmp_path / "t.csv")
    assert list(tmp_path.iterdir()) == [], "a refused table must leave no file (not even a partial one)"


def test_zero_and_six_are_publishable():
    check_publishable(pd.DataFrame({"numerator": [0, 6, 120]}), "t")


@pytest.mark.parametrize(
    "table",
    [pd.DataFrame({"CHILD": ["a1"], "estimate": [1.0]}), pd.DataFrame({"LAchildID": ["x"]}), pd.DataFrame({"note": ["A123456789012"]})],
    ids=["903-child-column", "cin-child-id", "upn-value"],
)
def test_child_identifiers_are_refused(table):
    with pytest.raises(DisclosureError, match="identifier|unique pupil number"):
        check_publishable(table, "t")


def test_exempt_columns_come_from_config():
    table = pd.DataFrame({"n_treated": [3]})
    check_publishable(table, "t", DisclosureRules.from_config({"exempt_columns": ["n_treated"]}))
    with pytest.raises(DisclosureError):
        check_publishable(table, "t", DisclosureRules.from_config({"exempt_columns": []}))


# ------------------------------------------------------------------ disclosure control (suppression)
def _placements() -> pd.DataFrame:
    """LAs x placement type with a row-total column and a total row (a two-way table)."""
    return pd.DataFrame(
        {
            "la_name": ["A", "B", "C", "Total"],
            "foster": [10, 3, 20, 33],
            "residential": [12, 8, 15, 35],
            "other": [7, 9, 11, 27],
            "total": [29, 20, 46, 95],
        }
    )


TWO_WAY = dict(totals={"total": ["foster", "residential", "other"]}, total_rows={"la_name": "Total"})


@pytest.mark.parametrize("value", [1, 2, 3, 4, 5])
def test_primary_suppression_replaces_1_to_5_by_c(value):
    table = pd.DataFrame({"la_code": ["805", "806", "807"], "children_count": [0, value, 6]})
    out = suppress_counts(table, ["children_count"])
    assert out["children_count"].tolist() == [0, "c", 6], f"{value} must become 'c' while 0 and 6 stay published"
    check_publishable(out, "t")


def test_primary_suppression_leaves_input_and_other_symbols_alone():
    table = pd.DataFrame({"children_count": [4, "x", "z", 100]})
    out = suppress_counts(table, ["children_count"])
    assert out["children_count"].tolist() == ["c", "x", "z", 100], "existing EES symbols must be kept as they are"
    assert table["children_count"].tolist() == [4, "x", "z", 100], "suppress_counts must not modify its input"


def test_naive_single_suppression_is_recoverable_and_flagged():
    structure = TableStructure.declare(["foster", "residential", "other"], **TWO_WAY)
    naive = _placements().astype(object)
    naive.loc[1, "foster"] = "c"  # only the primary cell: 20 - 8 - 9 = 3 gives it away
    with pytest.raises(DisclosureError, match=r"row 1 column 'foster' can be recovered by subtraction"):
        check_publishable(naive, "naive", structure=structure)


def test_secondary_suppression_fixes_the_two_way_table():
    out = suppress_counts(_placements(), ["foster", "residential", "other"], **TWO_WAY)
    hidden = {(i, c) for c in ["foster", "residential", "other", "total"] for i in range(4) if out.loc[i, c] == "c"}
    assert (1, "foster") in hidden, "the primary cell (3) must be suppressed"
    assert len(hidden) >= 4, f"a single small cell in a 2-way table with totals needs at least 4 hidden cells, got {sorted(hidden)}"
    for i in range(4):
        row = [c for c in ["foster", "residential", "other", "total"] if (i, c) in hidden]
        assert len(row) != 1, f"row {i} has exactly one hidden cell {row}: it is recoverable from the row total"
    for c in ["foster", "residential", "other", "total"]:
        col = [i for i in range(4) if (i, c) in hidden]
        assert len(col) != 1, f"column {c} has exactly one hidden cell {col}: it is recoverable from the total row"
    # the result passes the independent check (structure carried in attrs) and the writer
    check_publishable(out, "placements")
    assert out.attrs["disclosure_structure"].totals == {"total": ("foster", "residential", "other")}, "declaration must travel with the table"


def test_secondary_suppression_is_deterministic_and_picks_the_next_smallest():
    first = suppress_counts(_placements(), ["foster", "residential", "other"], **TWO_WAY)
    second = suppress_counts(_placements(), ["foster", "residential", "other"], **TWO_WAY)
    pd.testing.assert_frame_equal(first, second, obj="two runs of suppress_counts on the same table must agree")
    # row B: 3 is primary; the smallest other component is residential=8 (not other=9, not the total)
    assert first.loc[1, "residential"] == "c" and first.loc[1, "other"] == 9, "the next-smallest cell of the row must be the secondary one"


def test_bridge_cell_needs_more_than_two_per_line():
    """Two suppressed blocks joined by one row: every line has 2 hidden cells, yet a cell is determined."""
    # rows r0..r3, cols a..d; hidden pattern: block {r0,r1}x{a,b}, block {r2,r3}x{c,d}, and a bridge
    # r1-c / r1-a chain: r1 has a, b and c hidden; column c has r1, r2, r3 hidden.
    table = pd.DataFrame({"a": [10, 12, 30, 40], "b": [11, 13, 31, 41], "c": [50, 14, 15, 16], "d": [60, 61, 17, 18]})
    table["total"] = table[["a", "b", "c", "d"]].sum(axis=1)
    hidden = {(0, "a"), (0, "b"), (1, "a"), (1, "b"), (1, "c"), (2, "c"), (2, "d"), (3, "c"), (3, "d")}
    shown = table.astype(object)
    for i, c in hidden:
        shown.loc[i, c] = "c"
    structure = TableStructure.declare(["a", "b", "c", "d"], groups=[], totals={"total": ["a", "b", "c", "d"]})
    # every row and column with a hidden cell has >= 2 of them, so the simple rule sees nothing
    for i in range(4):
        assert sum((i, c) in hidden for c in "abcd") != 1, f"test set-up: row {i} must not have a lone hidden cell"
    for c in "abcd":
        assert sum((i, c) in hidden for i in range(4)) != 1, f"test set-up: column {c} must not have a lone hidden cell"
    fixed = suppress_counts(shown, ["a", "b", "c", "d"], groups=[], totals={"total": ["a", "b", "c", "d"]})
    check_publishable(fixed, "bridge fixed")  # the audit step must suppress more until nothing is determined
    with pytest.raises(DisclosureError, match="combining"):
        check_publishable(shown, "bridge", structure=structure)


def test_suppression_with_group_totals_published_elsewhere():
    """LAs in regions whose regional total is published elsewhere: one small LA needs a partner."""
    table = pd.DataFrame({"region": ["NE", "NE", "NE", "NW", "NW"], "la_code": ["1", "2", "3", "4", "5"], "children_count": [4, 30, 20, 50, 60]})
    out = suppress_counts(table, ["children_count"], groups=["region"])
    assert out["children_count"].tolist() == ["c", 30, "c", 50, 60], "the smallest other LA of the region (20) must be suppressed too"
    check_publishable(out, "regions")


def test_group_of_one_with_an_external_total_cannot_be_protected():
    table = pd.DataFrame({"region": ["NE", "NW"], "children_count": [4, 60]})
    with pytest.raises(DisclosureError, match="cannot be protected"):
        suppress_counts(table, ["children_count"], groups=["region"])


def test_rates_follow_their_suppressed_counts():
    table = pd.DataFrame({"children_count": [3, 120], "population": [20000, 30000], "rate_per_10k": [1.5, 40.0]})
    out = suppress_counts(table, ["children_count"], derived={"rate_per_10k": "children_count"})
    assert out["rate_per_10k"].tolist() == ["c", 40.0], "a rate computed from a suppressed count reveals it (rate x pop / 10k)"
    leaked = out.copy()
    leaked["rate_per_10k"] = [1.5, 40.0]
    with pytest.raises(DisclosureError, match="rate computed from the suppressed count"):
        check_publishable(leaked, "leak", structure=out.attrs["disclosure_structure"])


def test_round_totals_rounds_national_and_regional_rows_only():
    table = pd.DataFrame(
        {
            "geographic_level": ["National", "Regional", "Local authority", "Regional"],
            "children_count": [81_774, 1_235, 17, "c"],
        }
    )
    out = round_totals(table, ["children_count"])
    assert out["children_count"].tolist() == [81_770, 1_240, 17, "c"], (
        "national and regional counts must be rounded to the nearest 10 (half up), LA counts unrounded, symbols kept"
    )
    ints = round_totals(pd.DataFrame({"geographic_level": ["National"], "n": [65]}), "n")
    assert ints["n"].tolist() == [70] and ints["n"].dtype == np.int64, "65 rounds half up to 70 and an int column stays int"


def test_format_rates_by_publication_decimals():
    table = pd.DataFrame({"cin_rate_per_10k": [330.25, 42.0, "c"], "cla_percent": [0.3, 0.0, 12.5]})
    cin = format_rates(table, {"*_rate_per_10k": 1})
    assert cin["cin_rate_per_10k"].tolist() == ["330.3", "42.0", "c"], "CIN rates: 1 decimal place, half up, symbols kept"
    cla = format_rates(table, {"cla_percent": 0}, low_symbol="k")
    assert cla["cla_percent"].tolist() == ["k", "0", "13"], "CLA percentages: whole numbers, k below 0.5 (not 0), 12.5 -> 13"


def test_rules_from_config_read_the_new_keys():
    rules = DisclosureRules.from_config(
        {"symbol": "c", "rounding": {"base": 5, "levels": ["National"]}, "decimals": {"*_rate_per_10k": 1}, "low_symbol": "k"}
    )
    assert rules.rounding_base == 5 and rules.rounded_levels == ("National",), "rounding keys must be read from config"
    assert rules.decimals_map == {"*_rate_per_10k": 1} and rules.low_symbol == "k", "decimals and low symbol must be read from config"
    assert DisclosureRules.from_config(None) == DisclosureRules(), "an empty config gives the DfE defaults"


def test_checker_refuses_unsafe_cell_in_a_declared_count_column():
    table = pd.DataFrame({"placements": [40, 2]})
    check_publishable(table, "t")  # 'placements' is not named like a count: passes by name alone
    with pytest.raises(DisclosureError, match="placements.*row 1"):
        check_publishable(table, "t", structure=TableStructure.declare(["placements"]))


def test_checker_refuses_nhs_numbers():
    with pytest.raises(DisclosureError, match="NHS number"):
        check_publishable(pd.DataFrame({"note": ["943 476 5919"]}), "t")  # a valid (test) NHS number
    check_publishable(pd.DataFrame({"note": ["943 476 5918"]}), "t")  # wrong check digit: just text


def _random_table(rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    n_rows, n_cols = int(rng.integers(2, 7)), int(rng.integers(2, 5))
    cols = [f"k{j}" for j in range(n_cols)]
    small = rng.random((n_rows, n_cols)) < 0.25
    values = np.where(small, rng.integers(0, 6, (n_rows, n_cols)), rng.integers(6, 60, (n_rows, n_cols)))
    table = pd.DataFrame(values, columns=cols)
    kind = rng.integers(0, 4)
    kwargs: dict = {}
    if kind in (0, 2, 3):  # row totals
        table["total"] = table[cols].sum(axis=1)
        kwargs["totals"] = {"total": cols}
    if kind == 3:  # groups of >= 2 rows whose totals are published elsewhere
        table["group"] = [min(i // 2, (n_rows - 2) // 2) for i in range(n_rows)]
        kwargs["groups"] = ["group"]
    if kind in (1, 2):  # a total row
        total = table.sum(axis=0).to_frame().T
        table = pd.concat([table, total], ignore_index=True)
        table.insert(0, "label", [f"r{i}" for i in range(n_rows)] + ["Total"])
        kwargs["total_rows"] = {"label": "Total"}
    return table, {"count_columns": cols, **kwargs}


def test_suppressed_tables_always_pass_the_checker():
    """Property: whatever the table, suppress_counts' output passes the independent door guard."""
    rng = np.random.default_rng(20240401)
    n_suppressed = 0
    for k in range(200):
        table, spec = _random_table(rng)
        cols = spec.pop("count_columns")
        out = suppress_counts(table, cols, **spec)
        check_publishable(out, f"random table {k}")  # raises if any cell is small or recoverable
        for c in out.columns:
            for i in range(len(out)):
                before, after = table.loc[i, c], out.loc[i, c]
                if after != "c":
                    assert after == before, f"table {k}: published cell ({i}, {c}) changed from {before} to {after}"
                elif isinstance(before, (int, np.integer)):
                    n_suppressed += 1
    assert n_suppressed > 100, "the random tables must exercise suppression, otherwise the property says nothing"
