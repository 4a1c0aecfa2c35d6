"""Boundary harmonisation (csceval.boundaries): one consistent series per LA across the 2019-2023 changes."""

import numpy as np
import pandas as pd
import pytest

from csceval.boundaries import harmonise_boundaries
from csceval.panel import PANEL_COLUMNS


def _rows(code, years, num, den, outcome="cla_rate_per_10k", status=""):
    return pd.DataFrame({
        "la_code": code, "period": pd.to_datetime([f"{y - 1}-04-01" for y in years]), "outcome": outcome,
        "value": np.asarray(num, float) / np.asarray(den, float) * 1e4, "numerator": np.asarray(num, float),
        "denominator": np.asarray(den, float), "status": status,
    })[PANEL_COLUMNS]


@pytest.fixture()
def panel():
    """Northamptonshire (928) to 2021, North (940) and West (941) Northamptonshire from 2022, Cumbria (909) to
    2023 then Cumberland (942) and Westmorland and Furness (943), and an unaffected LA (330)."""
    return pd.concat([
        _rows("928", [2019, 2020, 2021], [1000, 1010, 1020], [160_000] * 3),
        _rows("940", [2022, 2023], [500, 510], [75_000, 75_500]),
        _rows("941", [2022, 2023], [530, 540], [86_000, 86_500]),
        _rows("909", [2021, 2022, 2023], [700, 710, 720], [95_000] * 3),
        _rows("942", [2024], [380], [50_000]),
        _rows("943", [2024], [300], [45_000]),
        _rows("330", [2019, 2020, 2021, 2022, 2023, 2024], [3000] * 6, [290_000] * 6),
    ], ignore_index=True)


def test_aggregate_split_gives_the_predecessor_one_unbroken_series_from_summed_counts(panel):
    """After aggregation 928 must run 2019-2023 and its 2022 rate must be the rate of the combined area
    (sum of counts over sum of populations), not the mean of the two rates."""
    out, log = harmonise_boundaries(panel, {"2021_northamptonshire": "aggregate"})
    north = out[out.la_code.eq("928")].set_index(out.loc[out.la_code.eq("928"), "period"].dt.year)
    assert list(north.index) == [2018, 2019, 2020, 2021, 2022], "periods start 1 April of the year before the reporting year"
    assert north.loc[2021, "numerator"] == 1030 and north.loc[2021, "denominator"] == 161_000
    assert north.loc[2021, "value"] == pytest.approx(1030 / 161_000 * 1e4)
    assert north.loc[2021, "value"] != pytest.approx((500 / 75_000 + 530 / 86_000) / 2 * 1e4)
    assert not out.la_code.isin(["940", "941"]).any(), "successors must be absorbed, not kept twice"
    others = ["909", "942", "943", "330"]
    pd.testing.assert_frame_equal(
        out[out.la_code.isin(others)].reset_index(drop=True),
        panel[panel.la_code.isin(others)].sort_values(["outcome", "la_code", "period"]).reset_index(drop=True),
        obj="LAs of changes not named (must be untouched)",
    )
    assert log.loc[0, "action"] == "aggregate" and "summed into 928" in log.loc[0, "note"]


def test_suppressed_successor_cell_makes_the_aggregate_missing_not_a_partial_sum(panel):
    """A partial sum would be a different area and would let a reader recover the suppressed count."""
    panel.loc[panel.la_code.eq("943"), ["value", "numerator"]] = np.nan
    panel.loc[panel.la_code.eq("943"), "status"] = "c"
    out, _ = harmonise_boundaries(panel, {"2023_cumbria": "aggregate"})
    cell = out[out.la_code.eq("909") & out.period.eq(pd.Timestamp("2023-04-01"))].iloc[0]
    assert np.isnan(cell["value"]) and np.isnan(cell["numerator"]) and cell["status"] == "c"


def test_drop_removes_every_la_of_the_change_and_says_so(panel):
    out, log = harmonise_boundaries(panel, {"2023_cumbria": "drop", "2021_northamptonshire": "keep"})
    assert not out.la_code.isin(["909", "942", "943"]).any()
    assert out.la_code.isin(["928", "940", "941"]).sum() == 7, "keep must leave the published series alone"
    assert log.set_index("change_id").loc["2023_cumbria", "rows_after"] == 0
    assert log.set_index("change_id").loc["2023_cumbria", "rows_before"] == 5


@pytest.mark.parametrize(
    "actions, protected, message",
    [
        ({"2019_dorset": "aggregate"}, (), "not a split"),
        ({"2023_cumbria": "merge"}, (), "not one of"),
        ({"2022_nowhere": "drop"}, (), "unknown boundary change"),
        ({"2019_dorset": "drop"}, ("838",), r"would remove treated LA\(s\) \['838'\]"),
        ({"2023_cumbria": "aggregate"}, ("942",), r"would remove treated LA\(s\) \['942'\]"),
    ],
    ids=["reorganisation-cannot-aggregate", "unknown-action", "unknown-change", "drop-treated", "aggregate-away-treated"],
)
def test_impossible_or_unsafe_actions_are_refused_naming_the_change(panel, actions, protected, message):
    with pytest.raises(ValueError, match=message):
        harmonise_boundaries(panel, actions, protected)


def test_predecessor_and_successors_reporting_the_same_year_is_an_error(panel):
    """If the files overlap (928 and 940/941 both for 2022) the series to use is ambiguous: stop, don't add."""
    panel = pd.concat([panel, _rows("928", [2022], [1030], [161_000])], ignore_index=True)
    with pytest.raises(ValueError, match="928 and its successors both have cla_rate_per_10k for 2021-04-01"):
        harmonise_boundaries(panel, {"2021_northamptonshire": "aggregate"})


def test_missing_successor_is_an_error(panel):
    with pytest.raises(ValueError, match=r"successor\(s\) \['941'\] have no rows"):
        harmonise_boundaries(panel[panel.la_code.ne("941")], {"2021_northamptonshire": "aggregate"})


@pytest.mark.parametrize("seed", [1, 2, 3, 20230701])
def test_simulated_subsample_keeps_boundary_families_whole_and_has_n_las(seed):
    """A 40-LA synthetic run must hold all of Northamptonshire's and Cumbria's successors or none, or the
    configured aggregation has half an area to sum; and it must still hold exactly n_las LAs."""
    from csceval.reference import la_codes
    from csceval.simulate import boundary_families, sample_units

    programme = ["838", "925", "336", "821", "317", "335", "877", "937", "209", "344"]
    chosen = sample_units(la_codes(), programme, 40, seed)
    assert len(chosen) == 40
    assert set(programme) <= chosen
    for family in boundary_families(la_codes()):
        assert family <= chosen or not family & chosen, f"family {sorted(family)} split by the sample: {sorted(family & chosen)}"
    assert {"835", "836", "837", "839"} <= chosen, "Dorset (838) is treated, so its whole family is kept"
