"""Balance tables and pre-trend tests: the SMD is the pooled-SD standardised difference (0 for
identical groups, shift/sd for a known shift), matching weights move the "after" rows, the pre-test
rejects a strong differential pre-trend and holds its size under the null."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from csceval.design import treatment_timing
from csceval.design.balance import (
    balance_table,
    parallel_trends_pretest,
    pre_period_features,
    pre_trend_figure,
    pre_trend_means,
    standardised_difference,
)
from csceval.design.pools import eligible_pool, matched_pool
from csceval.reference import la_codes
from csceval.report.design_figures import alt_text_balance, alt_text_mean_paths, balance_figure

PERIODS = pd.to_datetime([f"{y}-04-01" for y in range(2015, 2025)])
CODES = [c for c in la_codes(2024) if c not in ("201", "420")]


def _config(treated, start="2023-04-01"):
    return {"programmes": {"p": {"name": "P", "clean_window_end": "2025-03-31", "waves": [
        {"name": "wave 1", "start": start, "date_status": "assumed", "la_codes": list(treated)}]}}, "exclusions": []}


def _panel(values: dict[str, np.ndarray], pop: dict[str, float] | None = None, outcome="y") -> pd.DataFrame:
    rows = []
    for code, series in values.items():
        den = (pop or {}).get(code, 50_000.0)
        for p, v in zip(PERIODS, series):
            rows.append((code, p, outcome, v, v * den / 1e4, den, ""))
    return pd.DataFrame(rows, columns=["la_code", "period", "outcome", "value", "numerator", "denominator", "status"])


# ------------------------------------------------------------------------------------------ SMD
def test_smd_of_identical_groups_is_zero_and_of_a_known_shift_is_shift_over_sd():
    x = np.random.default_rng(0).normal(10, 3, 200)
    same = standardised_difference(x, x)
    assert same["smd"] == 0 and same["variance_ratio"] == pytest.approx(1.0), "identical groups must have SMD 0 and variance ratio 1"
    shifted = standardised_difference(x + 1.5, x)
    assert shifted["smd"] == pytest.approx(1.5 / np.std(x, ddof=1)), "a shift of 1.5 with equal SDs must give SMD 1.5/sd"
    p = standardised_difference([1, 1, 0, 0], [1, 0, 0, 0], binary=True)
    assert p["smd"] == pytest.approx((0.5 - 0.25) / np.sqrt((0.25 + 0.1875) / 2)), "binary SMD uses p(1-p) variances"


def test_balance_table_reports_shift_over_sd_for_levels_and_zero_for_identical_trends():
    rng = np.random.default_rng(1)
    treated, comparison = CODES[:12], CODES[12:24]
    base = {c: rng.normal(60, 8) + 0.5 * np.arange(len(PERIODS)) for c in comparison}
    shift = 4.0
    values = dict(base)
    values.update({t: base[c] + shift for t, c in zip(treated, comparison)})
    panel = _panel(values)
    timing = treatment_timing("p", _config(treated), panel["la_code"].unique(), PERIODS)
    table = balance_table(panel, timing, None, ["y"]).set_index("variable")
    levels = pd.Series({c: v[:8].mean() for c, v in base.items()})
    assert table.loc["y_level", "smd"] == pytest.approx(shift / levels.std(ddof=1)), \
        "treated = comparison + 4 with equal SDs: the level SMD must be 4 / sd"
    assert table.loc["y_trend", "smd"] == pytest.approx(0.0, abs=1e-9), "identical trends must have SMD 0"
    assert table.loc["log_child_population", "smd"] == 0.0, "identical populations must have SMD 0"
    assert set(table["sample"]) == {"before: eligible pool"}, "no pool given: only the 'before' rows"


def test_after_matching_rows_use_matching_weights_and_the_unmatched_sd():
    rng = np.random.default_rng(2)
    treated, twins, others = CODES[:5], CODES[5:10], CODES[10:40]
    values = {c: rng.normal(50, 10) + rng.normal(0, 1, len(PERIODS)) for c in treated + others}
    values.update({w: values[t].copy() for t, w in zip(treated, twins)})
    panel = _panel(values)
    timing = treatment_timing("p", _config(treated), panel["la_code"].unique(), PERIODS)
    pool = matched_pool(panel, timing, ["y"], k=1, region="ignore")
    assert set(pool.loc[pool["included"], "la_code"]) == set(twins), "twins should be the matches"
    table = balance_table(panel, timing, pool, ["y"], regions=False)
    after = table[table["sample"].eq("after: matched")].set_index("variable")
    before = table[table["sample"].eq("before: eligible pool")].set_index("variable")
    assert after.loc["y_level", "smd"] == pytest.approx(0.0, abs=1e-12), "matched on exact twins: the after SMD must be 0"
    assert after.loc["y_level", "sd_pooled"] == before.loc["y_level", "sd_pooled"], \
        "before and after SMDs must share the pooled SD of treated and the unmatched eligible pool"
    means = pre_trend_means(panel, timing, "y", pool)
    wide = means.pivot_table(index="period", columns="group", values="mean")
    assert np.allclose(wide["Treated LAs"], wide["Comparison LAs"]), "the matched twins' mean path must equal the treated path"


def test_pre_period_features_level_and_trend():
    values = {CODES[0]: 10 + 2.0 * np.arange(len(PERIODS)), CODES[1]: np.full(len(PERIODS), 5.0)}
    panel = _panel(values)
    f = pre_period_features(panel, ["y"], PERIODS[:5])
    assert f.loc[CODES[0], "y_level"] == pytest.approx(14.0) and f.loc[CODES[0], "y_trend"] == pytest.approx(2.0), \
        "level = mean over the pre-periods, trend = OLS slope per period"
    assert f.loc[CODES[1], "y_trend"] == 0.0


# ----------------------------------------------------------------------------------- pre-trends
def _pretrend_sample(rng, n_units=120, n_treated=40, slope=0.0, g=7):
    """y = a_i + l_t + slope * treated * t + e; one cohort first treated at period index g."""
    codes = [f"U{i:03d}" for i in range(n_units)]
    periods = PERIODS[:10]
    a = rng.normal(0, 2, n_units)
    lt = rng.normal(0, 1, len(periods))
    rows = []
    for i, c in enumerate(codes):
        tr = i < n_treated
        for t, p in enumerate(periods):
            rows.append((c, p, a[i] + lt[t] + slope * tr * t + rng.normal(), periods[g] if tr else pd.NaT))
    return pd.DataFrame(rows, columns=["la_code", "period", "value", "first_treated"])


def test_pretest_rejects_a_strong_pre_trend_and_estimates_its_slope():
    sample = _pretrend_sample(np.random.default_rng(3), slope=0.5)
    res = parallel_trends_pretest(sample, leads=4, lags=2).iloc[0]
    assert res["p_chi2"] < 1e-6 and res["p_f"] < 1e-6, f"a 0.5/period differential pre-trend must be rejected: {res.to_dict()}"
    assert abs(res["slope"] - 0.5) < 3 * res["slope_se"], f"slope {res['slope']:.3f} (se {res['slope_se']:.3f}) should be ~0.5"
    assert res["n_pre_coefficients"] == 3 and res["df"] == 3, "leads=4 gives event times -4, -3, -2 besides the reference"


@pytest.mark.slow
def test_pretest_rejects_at_about_alpha_under_the_null():
    rng = np.random.default_rng(20250401)
    reps = 200
    rejections = np.array([[r["p_f"] <= 0.05, r["slope_p"] <= 0.05] for r in
                           (parallel_trends_pretest(_pretrend_sample(rng), leads=4, lags=2).iloc[0] for _ in range(reps))])
    rate = rejections.mean(axis=0)
    assert 0.02 <= rate[0] <= 0.09, f"Wald pre-test should reject ~5% of null panels with 40 treated units, got {rate[0]:.3f}"
    assert 0.02 <= rate[1] <= 0.09, f"slope pre-test should reject ~5% of null panels with 40 treated units, got {rate[1]:.3f}"


def test_pretest_flags_too_many_coefficients_for_few_treated_units():
    sample = _pretrend_sample(np.random.default_rng(4), n_treated=3)
    res = parallel_trends_pretest(sample).iloc[0]
    assert "not valid" in res["note"], "6 pre-period coefficients from 3 treated units: the Wald test must be flagged"


def test_figures_are_built_with_alt_text():
    rng = np.random.default_rng(5)
    values = {c: rng.normal(40, 5) + rng.normal(0, 1, len(PERIODS)) for c in CODES[:30]}
    panel = _panel(values)
    timing = treatment_timing("p", _config(CODES[:5]), panel["la_code"].unique(), PERIODS)
    fig = pre_trend_figure(panel, timing, "y", eligible_pool(timing))
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) >= 3, "two mean paths and a wave line expected"
    text = alt_text_mean_paths(pre_trend_means(panel, timing, "y"), timing=timing, outcome="y")
    assert "Treated LAs (5 LAs)" in text and "wave 1" in text, "alt text must name the groups and the wave start"
    table = balance_table(panel, timing, None, ["y"])
    assert isinstance(balance_figure(table), Figure)
    assert "standardised mean differences" in alt_text_balance(table)


def test_a_deprivation_covariate_enters_balance_and_matching():
    treated, others = CODES[:5], CODES[5:45]
    values = {c: np.full(len(PERIODS), 50.0) for c in treated + others}  # identical outcomes: only idaci differs
    panel = _panel(values)
    timing = treatment_timing("p", _config(treated), panel["la_code"].unique(), PERIODS)
    idaci = pd.DataFrame({"la_code": treated + others, "idaci": [0.3] * 5 + [0.3] * 5 + [0.1] * 35})
    table = balance_table(panel, timing, None, ["y"], covariates=idaci).set_index("variable")
    assert "idaci" in table.index and table.loc["idaci", "smd"] > 1, "a covariate column must get its own balance row"
    pool = matched_pool(panel, timing, ["y"], covariates=idaci, k=1, region="ignore")
    assert set(pool.loc[pool["included"], "la_code"]) == set(others[:5]), \
        "a dominant deprivation covariate must steer the matches to the LAs with the treated LAs' deprivation"
