"""Goodman-Bacon decomposition (csceval.did.bacon_decomposition) against R bacondecomp and theory.

Reference: the decomposition bacondecomp prints for the castle-doctrine data (tests/reference/bacon/).
"""

import matplotlib

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from csceval.did import bacon_decomposition, twfe  # noqa: E402
from csceval.did._results import TIDY_COLUMNS  # noqa: E402
from csceval.did.bacon import BaconResult  # noqa: E402
from csceval.report.figures import alt_text_bacon, bacon_figure  # noqa: E402
from helpers_panels import simulate_panel  # noqa: E402
from helpers_staggered import staggered_panel  # noqa: E402

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def castle() -> pd.DataFrame:
    df = pd.read_csv(REF / "data" / "castle.csv")
    df["sid"] = df["sid"].astype(str)
    return df


@pytest.fixture(scope="module")
def castle_ref() -> dict:
    return yaml.safe_load((REF / "bacon" / "castle_bacondecomp.yaml").read_text())


def test_castle_matches_bacondecomp_printed_summary(castle, castle_ref):
    res = bacon_decomposition(castle, "l_homicide", unit="sid", time="year", cohort="effyear")
    half = 0.5 * 10 ** -castle_ref["printed_digits"]
    by_type = res.by_type.set_index("type")
    assert list(by_type.index) == [r["type"] for r in castle_ref["printed"]["summary"]], (
        "comparison types differ from bacondecomp's (the castle data have no always-treated group)"
    )
    for row in castle_ref["printed"]["summary"]:
        for col in ("weight", "avg_est"):
            ours = by_type.loc[row["type"], col]
            assert abs(ours - row[col]) <= half + 1e-12, (
                f"{row['type']} {col}: ours {ours:.7f} does not round to bacondecomp's printed {row[col]}"
            )
    assert round(res.twfe_estimate, 4) == castle_ref["printed"]["twfe_estimate"], "TWFE estimate differs from 0.0818"
    assert round(float((res.table.estimate * res.table.weight).sum()), 4) == castle_ref["printed"]["weighted_sum"]
    # the same coefficient from the package's own TWFE regression
    tw = twfe(castle, "l_homicide", unit="sid", time="year", cohort="effyear")
    assert tw.overall.estimate == pytest.approx(res.twfe_estimate, abs=1e-10), (
        "the decomposed TWFE coefficient is not csceval.did.twfe's coefficient"
    )
    text = res.summary()
    for row in castle_ref["printed"]["summary"]:
        assert f"{row['weight']:.5f}" in text and f"{row['avg_est']:.5f}" in text, (
            "summary() does not print bacondecomp's 5-decimal table"
        )


def test_weights_sum_to_one_and_reproduce_twfe_in_staggered_design():
    df = staggered_panel()
    res = bacon_decomposition(df, "y")
    assert res.table["weight"].sum() == pytest.approx(1.0, abs=1e-12), "weights must sum to 1"
    assert (res.table["weight"] > 0).all(), "every 2x2 weight is positive"
    weighted = float((res.table.estimate * res.table.weight).sum())
    assert weighted == pytest.approx(twfe(df, "y").overall.estimate, abs=1e-9), (
        "Theorem 1 broken: the weighted sum of 2x2 estimates is not the TWFE coefficient"
    )
    later = res.by_type.set_index("type").loc["Later vs Earlier Treated", "weight"]
    assert later > 0.25, (
        f"the design puts substantial weight on already-treated controls; got only {later:.3f} for "
        "'Later vs Earlier Treated'"
    )
    assert res.by_type.set_index("type").loc["Later vs Earlier Treated", "avg_est"] < 2.0, (
        "with growing effects, later-vs-earlier comparisons are biased down (true effects are >= 1)"
    )


def test_twoxtwo_estimates_are_simple_differences_in_means():
    df = staggered_panel(seed=3)
    res = bacon_decomposition(df, "y", time="period")
    periods = sorted(df["period"].unique())
    row = res.table[(res.table.type == "Treated vs Untreated")].iloc[0]
    g = row["treated_cohort"]
    grp = df[df["first_treated"] == g]
    never = df[df["first_treated"].isna()]
    post = lambda f: f[f["period"] >= g]["y"].mean()  # noqa: E731
    pre = lambda f: f[f["period"] < g]["y"].mean()  # noqa: E731
    assert row["estimate"] == pytest.approx((post(grp) - pre(grp)) - (post(never) - pre(never)), abs=1e-10), (
        "a Treated vs Untreated 2x2 is the difference in pre/post mean changes"
    )
    assert periods[0] < g


def test_always_treated_group_and_no_never_treated():
    df = simulate_panel(n_units=30, n_periods=8, cohorts={0: 5, 3: 10, 5: 15}, seed=2)
    assert df["first_treated"].notna().all(), "fixture: every unit treated, a cohort from the first period"
    res = bacon_decomposition(df, "y")
    types = set(res.table["type"])
    assert "Later vs Always Treated" in types, "units treated from the first period are an always-treated control"
    assert "Treated vs Untreated" not in types, "there is no never-treated group"
    assert float((res.table.estimate * res.table.weight).sum()) == pytest.approx(twfe(df, "y").overall.estimate,
                                                                                 abs=1e-9)


def test_unbalanced_panel_and_missing_outcome_are_clear_errors():
    df = staggered_panel()
    with pytest.raises(ValueError, match="balanced panel"):
        bacon_decomposition(df.drop(index=[5, 17]), "y")
    gap = df.copy()
    gap.loc[3, "y"] = np.nan
    with pytest.raises(ValueError, match="missing outcome"):
        bacon_decomposition(gap, "y")


def test_no_treated_units_is_a_clear_error():
    df = staggered_panel()
    df["first_treated"] = pd.NaT
    with pytest.raises(ValueError, match="no treated units"):
        bacon_decomposition(df, "y")


def test_integer_periods_and_tidy_summary_plot(castle):
    res = bacon_decomposition(castle, "l_homicide", unit="sid", time="year", cohort="effyear")
    assert isinstance(res, BaconResult)
    assert set(res.table.columns) >= {"type", "treated_cohort", "comparison_cohort", "estimate", "weight"}
    assert res.table.loc[res.table.type == "Treated vs Untreated", "comparison_cohort"].isna().all()
    tidy = res.tidy("ffc")
    assert list(tidy.columns) == list(TIDY_COLUMNS), "tidy() must follow the estimates-table contract"
    assert len(tidy) == 1 and tidy.loc[0, "aggregation"] == "overall"
    assert tidy.loc[0, "estimate"] == pytest.approx(res.twfe_estimate)
    assert pd.isna(tidy.loc[0, "std_error"]) and pd.isna(tidy.loc[0, "p_value"]), "no SE is ever invented"
    assert tidy.loc[0, "inference"] == "Goodman-Bacon decomposition (no SE)"
    assert tidy.loc[0, "estimator"] == "bacon_decomposition" and tidy.loc[0, "programme"] == "ffc"
    fig = res.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.collections) == 3, "one scatter series per comparison type"
    fig2 = bacon_figure(res.table, twfe_estimate=res.twfe_estimate, title="t")
    assert isinstance(fig2, Figure)
    alt = alt_text_bacon(res.table, twfe_estimate=res.twfe_estimate, outcome="log homicides")
    assert "Later vs Earlier Treated" in alt and "0.0818" in alt


def test_timestamp_cohorts_in_table():
    df = staggered_panel()
    res = bacon_decomposition(df, "y")
    assert pd.api.types.is_datetime64_any_dtype(res.table["treated_cohort"]), "cohorts keep the time dtype"
    assert set(res.table["treated_cohort"]) <= set(df["first_treated"].dropna())


def test_one_treated_unit():
    df = staggered_panel()
    one = df[df["first_treated"].isna() | (df["la_code"] == "800")]
    res = bacon_decomposition(one, "y")
    assert list(res.table["type"]) == ["Treated vs Untreated"], "one treated unit: a single 2x2 against never-treated"
    assert res.table["weight"].iloc[0] == pytest.approx(1.0)
    assert res.twfe_estimate == pytest.approx(res.table["estimate"].iloc[0], abs=1e-10)
