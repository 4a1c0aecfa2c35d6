"""Robustness checks of LA-level estimates (csceval.robustness) and their figures: HonestDiD tables
hold consistent breakdown values, leave-one-out finds the LA that drives a result, placebo-in-time
uses pre-programme data only and detects differential pre-trends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from csceval.did.registry import run_estimator
from csceval.report.inference_figures import (
    alt_text_leave_one_out,
    alt_text_sensitivity_panels,
    leave_one_out_figure,
    sensitivity_panels_figure,
)
from csceval.robustness import (
    HONEST_DID_COLUMNS,
    LEAVE_ONE_OUT_COLUMNS,
    PLACEBO_IN_TIME_COLUMNS,
    honest_did_table,
    leave_one_out,
    placebo_in_time,
    report_table,
)

SETTINGS = {"alpha": 0.05, "event_window": {"leads": 4, "lags": 1}}
PERIODS = pd.date_range("2012-04-01", periods=12, freq="YS-APR")


def annual_panel(*, n_units=30, starts=(7, 7, 7, 9, 9, 9), effect=-5.0, unit_effects=None, pre_trend=0.0, seed=3):
    """y = unit + period effects + effect after the start (+ unit_effects[i] instead) + noise; annual periods.

    ``pre_trend`` adds a linear differential trend to treated units over the whole span.
    """
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 2, n_units)
    lam = 0.5 * np.arange(len(PERIODS)) + rng.normal(0, 1, len(PERIODS))
    rows = []
    for i in range(n_units):
        start = starts[i] if i < len(starts) else None
        tau = effect if unit_effects is None or i >= len(unit_effects) else unit_effects[i]
        for t, p in enumerate(PERIODS):
            y = 20 + a[i] + lam[t] + rng.normal(0, 0.5)
            if start is not None:
                y += pre_trend * t + (tau if t >= start else 0.0)
            rows.append({"la_code": f"{100 + i}", "period": p, "value": y,
                         "first_treated": PERIODS[start] if start is not None else pd.NaT})
    df = pd.DataFrame(rows)
    df["first_treated"] = pd.to_datetime(df["first_treated"])
    return df


# ------------------------------------------------------------------------------------------ HonestDiD
@pytest.fixture(scope="module")
def honest():
    es = run_estimator("event_study_twfe", annual_panel(), SETTINGS)
    table, results = honest_did_table(es, M=[0, 0.5, 1, 2, 4], Mbar=[0, 0.5, 1, 2], grid_points=200)
    return table, results


def test_honest_did_table_rows_and_columns(honest):
    table, results = honest
    assert list(table.columns) == HONEST_DID_COLUMNS, "HonestDiD table columns changed"
    assert set(results) == {"smoothness", "relative_magnitudes"}
    assert len(table) == 5 + 4, "one row per grid value of each restriction"
    assert set(table.loc[table.restriction.eq("smoothness"), "parameter"]) == {"M"}
    assert (table["ci_lower"] <= table["ci_upper"]).all(), "a robust interval has its bounds in the wrong order"


def test_honest_did_notes_intervals_cut_by_the_grid():
    """A tiny test-inversion grid cuts the wide Mbar = 2 interval: the table must say so instead of warning only."""
    es = run_estimator("event_study_twfe", annual_panel(), SETTINGS)
    table, _ = honest_did_table(es, Mbar=[0, 2], restrictions=["relative_magnitudes"], grid_points=50)
    notes = table.set_index("value")["note"]
    assert "end of the test-inversion grid" in notes.loc[2.0], notes.to_dict()
    assert notes.loc[0.0] == "", "an interval inside the grid carries no note"


def test_honest_did_intervals_widen_and_breakdown_is_consistent(honest):
    """Robust sets are nested in M; the breakdown value separates intervals excluding 0 from those including it."""
    table, _ = honest
    for restriction, t in table.groupby("restriction"):
        t = t.sort_values("value")
        width = (t.ci_upper - t.ci_lower).to_numpy()
        assert np.all(np.diff(width) >= -1e-6 * np.abs(width).max()), f"{restriction}: intervals must widen as the bound grows"
        b = t["breakdown"].iloc[0]
        covers = (t.ci_lower <= 0) & (t.ci_upper >= 0)
        assert not covers[t.value < b - 1e-9].any(), f"{restriction}: an interval below the breakdown {b} contains 0"
        assert covers[t.value >= b].all(), f"{restriction}: an interval at or above the breakdown {b} excludes 0"
    e0 = table["estimate"].iloc[0]
    assert -7.5 < e0 < -2.5, f"the target estimate {e0} should be near the true effect -5"


def test_honest_did_rejects_unknown_restriction():
    es = run_estimator("event_study_twfe", annual_panel(), SETTINGS)
    with pytest.raises(ValueError, match="restrictions"):
        honest_did_table(es, restrictions=["convexity"])


def test_sensitivity_panels_figure_and_alt_text(honest):
    _, results = honest
    fig = sensitivity_panels_figure(results, title="test")
    assert isinstance(fig, Figure) and len(fig.axes) == 2, "one panel per restriction"
    text = alt_text_sensitivity_panels(results)
    assert "Breakdown value M " in text and "Breakdown value Mbar" in text, text


# -------------------------------------------------------------------------------------- leave one out
def test_leave_one_out_finds_the_driving_la():
    """One treated LA with a huge effect: dropping it brings the estimate to the others' effect."""
    df = annual_panel(unit_effects=[-30.0, -5, -5, -5, -5, -5])
    table = leave_one_out(df, ["twfe"], SETTINGS)
    assert list(table.columns) == LEAVE_ONE_OUT_COLUMNS
    assert len(table) == 1 + 6, "the full sample plus one row per treated LA"
    full = table[table.dropped_la.eq("")].iloc[0]
    assert full.estimate == pytest.approx(run_estimator("twfe", df, SETTINGS).overall.estimate), \
        "the full-sample row must be the estimator on the whole sample"
    drops = table[table.dropped_la.ne("")].set_index("dropped_la")
    assert (drops.n_treated == 5).all(), "each re-estimation must have one treated LA fewer"
    assert drops.loc["100", "estimate"] == pytest.approx(-5.0, abs=1.0), "dropping the outlier LA should recover -5"
    others = drops.drop(index="100")["estimate"]
    assert (others < -7.5).all(), "keeping the outlier LA should pull every other estimate below -5"


def test_leave_one_out_needs_two_treated():
    with pytest.raises(ValueError, match="at least 2 treated"):
        leave_one_out(annual_panel(starts=(7,)), ["twfe"], SETTINGS)


@pytest.mark.slow
def test_leave_one_out_figure():
    table = leave_one_out(annual_panel(), ["twfe", "imputation"], SETTINGS)
    fig = leave_one_out_figure(table, names={"100": "Somewhere"})
    assert len(fig.axes) == 2, "one panel per estimator"
    text = alt_text_leave_one_out(table, {"100": "Somewhere"})
    assert "twfe" in text and "imputation" in text


# ------------------------------------------------------------------------------------ placebo in time
def test_placebo_in_time_is_null_under_parallel_trends_and_ignores_post_data():
    df = annual_panel(effect=-5.0)
    table = placebo_in_time(df, [1, 2], ["twfe"], SETTINGS)
    assert list(table.columns) == PLACEBO_IN_TIME_COLUMNS
    assert (table.note == "").all(), table.note.tolist()
    assert table.estimate.abs().max() < 1.0, f"no placebo effect expected under parallel trends: {table.estimate.tolist()}"
    changed = df.copy()
    post = changed.first_treated.notna() & (changed.period >= changed.first_treated)
    changed.loc[post, "value"] += 100.0
    again = placebo_in_time(changed, [1, 2], ["twfe"], SETTINGS)
    np.testing.assert_allclose(again.estimate, table.estimate, err_msg="placebo estimates must not use post-start data")


def test_placebo_in_time_detects_a_differential_pre_trend():
    table = placebo_in_time(annual_panel(effect=0.0, pre_trend=1.0), [2], ["twfe"], SETTINGS)
    assert table.estimate.iloc[0] > 1.0, "a treated-only trend of 1 a year must show as a placebo effect"


def test_placebo_in_time_shift_too_large_is_noted_not_estimated():
    table = placebo_in_time(annual_panel(), [7], ["twfe"], SETTINGS)
    assert np.isnan(table.estimate.iloc[0]) and "no pre-period" in table.note.iloc[0]
    with pytest.raises(ValueError, match="positive whole numbers"):
        placebo_in_time(annual_panel(), [0], ["twfe"], SETTINGS)


def test_report_table_orders_columns_and_formats_dates():
    t = pd.DataFrame({"x": [1.0], "when": pd.to_datetime(["2024-04-01"]), "programme": ["ffc"], "outcome": ["y"]})
    out = report_table([t])
    assert list(out.columns[:2]) == ["programme", "outcome"]
    assert out["when"].iloc[0] == "2024-04-01"


# ------------------------------------------------------------------ HonestDiD on the Callaway-Sant'Anna event study
CS_SETTINGS = {"alpha": 0.05, "event_window": {"leads": 5, "lags": 1},
               "callaway_santanna": {"control_group": "never_treated", "base_period": "universal"}}


def one_cohort_panel(*, slope=0.0, effect=-2.0, n_units=40, n_treated=12, noise=0.5, seed=1):
    """Seven annual periods, e = -6..0 relative to one cohort starting in the last-but-one period (so the
    TWFE window -5..1 needs no binning); treated units get ``slope`` x period (a linear differential trend)
    and ``effect`` from their start; noise SD ``noise``."""
    periods = PERIODS[:8]
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_units):
        treated = i < n_treated
        a = rng.normal(0, 2)
        for t, p in enumerate(periods[1:], start=1):
            y = 20 + a + 0.5 * t + rng.normal(0, noise)
            y += (slope * t if treated else 0.0) + (effect if treated and t >= 6 else 0.0)
            rows.append({"la_code": f"{100 + i}", "period": p, "value": y, "first_treated": periods[6] if treated else pd.NaT})
    df = pd.DataFrame(rows)
    df["first_treated"] = pd.to_datetime(df["first_treated"])
    return df


def test_cs_event_study_covariance_is_the_difference_of_means_covariance():
    """One cohort, never-treated comparison, no covariates: theta(e) is a difference of two sample means of
    Y_e - Y_{-1}, so its covariance is the sum of the two groups' mean-covariances (1/n scaling, did's
    influence function). A mismatch means the accessor mis-reads the influence functions or their cross terms."""
    from csceval.robustness import callaway_santanna_event_study

    df = one_cohort_panel(slope=0.3)
    analytic = {**CS_SETTINGS["callaway_santanna"], "bootstrap": False}
    cs = run_estimator("callaway_santanna", df, {**CS_SETTINGS, "callaway_santanna": analytic})
    moments = callaway_santanna_event_study(cs, min_e=-5, max_e=1)
    assert list(moments.coefficients.term) == [f"event_time[{e}]" for e in (-5, -4, -3, -2, 0, 1)], \
        "the reference e=-1 must be left out and the window kept"
    wide = df.pivot(index="la_code", columns="period", values="value").to_numpy()
    treated = df.drop_duplicates("la_code").set_index("la_code")["first_treated"].notna().to_numpy()
    diffs = np.delete(wide - wide[:, [4]], 4, axis=1)  # periods 1..7 are e = -5..1; e=-1 (column 4) is the base

    def mean_cov(x):
        x = x - x.mean(axis=0)
        return x.T @ x / len(x) ** 2

    expected_beta = diffs[treated].mean(axis=0) - diffs[~treated].mean(axis=0)
    np.testing.assert_allclose(moments.coefficients.estimate, expected_beta, atol=1e-10)
    np.testing.assert_allclose(moments.vcov.to_numpy(), mean_cov(diffs[treated]) + mean_cov(diffs[~treated]), atol=1e-12,
                               err_msg="CS event-study covariance is not the influence-function covariance")


def test_cs_event_study_needs_universal_base_period():
    from csceval.robustness import honest_did_event_study

    settings = {**CS_SETTINGS, "callaway_santanna": {"control_group": "never_treated", "base_period": "varying"}}
    with pytest.raises(ValueError, match="universal"):
        honest_did_event_study(one_cohort_panel(), "callaway_santanna", settings)


def test_honest_did_bounds_on_cs_undo_a_linear_pre_trend():
    """Treated units trend up by 1 per period more than the comparison units, true effect -2. The event study
    at e=0 is then -2 + 1 = -1 and its usual CI excludes -2. Delta^SD(M=0) (linear violations) extrapolates the
    pre-trend, so its interval must contain -2 and not -1; Delta^RM(Mbar=0) forbids any post-period change and
    must stay biased (exclude -2); Mbar=1 allows a post change as large as the pre-period ones and must
    contain -2. (These are 95% intervals on one fixed draw; seed 1 happens to put the e=0 estimate 3 s.e.
    from its mean, so seed 2 is used.)"""
    from csceval.robustness import honest_did_event_study

    moments = honest_did_event_study(one_cohort_panel(slope=1.0, seed=2), "callaway_santanna", CS_SETTINGS)
    table, _ = honest_did_table(moments, M=[0.0], Mbar=[0.0, 1.0], grid_points=400)
    row = table.set_index(["restriction", "value"])
    assert table.estimator.eq("callaway_santanna").all()
    assert not (row.original_ci_lower.iloc[0] <= -2 <= row.original_ci_upper.iloc[0]), "the biased CI should exclude -2"
    sd0 = row.loc[("smoothness", 0.0)]
    assert sd0.ci_lower <= -2 <= sd0.ci_upper, f"SD(0) must correct the linear trend: {sd0.ci_lower}, {sd0.ci_upper}"
    assert sd0.ci_upper < -1, "SD(0) interval should not contain the uncorrected event-study value"
    rm0, rm1 = row.loc[("relative_magnitudes", 0.0)], row.loc[("relative_magnitudes", 1.0)]
    assert not rm0.ci_lower <= -2 <= rm0.ci_upper, "RM(0) imposes parallel post-trends: it cannot undo the trend"
    assert rm1.ci_lower <= -2 <= rm1.ci_upper, "RM(1) allows a post change as large as the pre-trend slope"


def test_honest_did_on_cs_and_twfe_agree_when_the_estimators_coincide():
    """One cohort, never-treated comparison, a window that needs no binning: CS (universal base period) and
    the TWFE event study are the same event-study coefficients, so their HonestDiD bounds differ only by the
    two variance estimators (influence function vs cluster-robust): within half a standard error."""
    from csceval.robustness import honest_did_event_study

    df = one_cohort_panel(slope=0.3)
    cs = honest_did_event_study(df, "callaway_santanna", CS_SETTINGS)
    tw = honest_did_event_study(df, "event_study_twfe", CS_SETTINGS)
    tw_beta = tw.coefficients.set_index("term").loc[cs.coefficients.term, "estimate"]
    np.testing.assert_allclose(cs.coefficients.estimate, tw_beta, atol=1e-8, err_msg="estimators should coincide here")
    kwargs = dict(M=[0.0, 0.2], Mbar=[0.0, 1.0], grid_points=400)
    t_cs, _ = honest_did_table(cs, **kwargs)
    t_tw, _ = honest_did_table(tw, **kwargs)
    se = float(np.sqrt(tw.vcov.loc["event_time[0]", "event_time[0]"]))
    for col in ("ci_lower", "ci_upper"):
        gap = np.abs(t_cs[col].to_numpy() - t_tw[col].to_numpy())
        assert gap.max() < 0.5 * se, f"{col}: CS and TWFE bounds differ by {gap.max():.3f} > half an s.e. ({se:.3f})"
