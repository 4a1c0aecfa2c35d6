"""Minimum detectable effects: the placebo simulation reproduces the textbook MDE where it is known,
uses only pre-treatment data with the programme's wave structure, matches csceval.did.twfe draw by
draw, and is fast."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from csceval.design import treatment_timing
from csceval.did import twfe
from csceval.power import analytic_mde, mde_table, placebo_mde


def _config(waves):
    return {"programmes": {"p": {"name": "P", "clean_window_end": "2099-03-31", "waves": [
        {"name": f"wave {i + 1}", "start": str(start.date()), "date_status": "assumed", "la_codes": codes}
        for i, (start, codes) in enumerate(waves)]}}, "exclusions": []}


def iid_panel(n_units, periods, waves_idx, sigma=1.0, seed=0, effect=0.0, missing_share=0.0):
    """y = a_i + l_t + e_it, e iid N(0, sigma^2); ``waves_idx`` = [(period index, n units)]; a post-period
    ``effect`` is added to the real treated units (the placebo must never see it)."""
    rng = np.random.default_rng(seed)
    codes = [f"U{i:04d}" for i in range(n_units)]
    y = rng.normal(0, 3, n_units)[:, None] + rng.normal(0, 2, len(periods))[None, :] + rng.normal(0, sigma, (n_units, len(periods)))
    waves, pos = [], 0
    for g, n in waves_idx:
        waves.append((periods[g], codes[pos:pos + n]))
        y[pos:pos + n, g:] += effect
        pos += n
    panel = pd.DataFrame({"la_code": np.repeat(codes, len(periods)), "period": np.tile(periods, n_units),
                          "outcome": "y", "value": y.ravel()})
    if missing_share:
        panel.loc[rng.random(len(panel)) < missing_share, "value"] = np.nan
    timing = treatment_timing("p", _config(waves), codes, periods)
    return panel, timing


ANNUAL = pd.date_range("2013-04-01", periods=12, freq="12MS")


def test_analytic_mde_textbook_values():
    m = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert analytic_mde(1.0, 50) == pytest.approx(m * np.sqrt(2 / 50 * 2)), \
        "equal groups of 50, one period each side: MDE = 2.80 * sqrt((1/50 + 1/50)(1 + 1))"
    assert analytic_mde(2.0, 10, 90, n_pre=6, n_post=2, rho=0.5) == pytest.approx(
        m * 2.0 * np.sqrt(0.5 * (1 / 10 + 1 / 90) * (1 / 6 + 1 / 2))), "unequal groups, several periods, equicorrelation 0.5"


def test_placebo_mde_matches_the_analytic_mde_on_an_iid_panel():
    """Many units, iid errors, one wave: the placebo SD is the textbook DiD SD within simulation error."""
    sigma, n_units, n_treated = 1.0, 600, 60
    panel, timing = iid_panel(n_units, ANNUAL[:10], [(8, n_treated)], sigma=sigma, seed=11)
    res = placebo_mde(panel, timing, "y", n_sims=1000, seed=2, treated_as_controls=False)
    # placebo: 2 post-periods (like the real wave), shifted to start at index 6; data = periods 0..7
    assert res.placebo_first_treated == (ANNUAL[6],) and res.placebo_window == (ANNUAL[0], ANNUAL[7]), \
        "the wave must keep its 2 post-periods, shifted to end in the last pre-period"
    # the real treated units are left out, so pseudo-treated and controls split the other 540 units
    expected = analytic_mde(sigma, n_treated, n_units - 2 * n_treated, n_pre=6, n_post=2)
    # MC error of an SD from 1000 draws ~2.2%; the realised panel's finite-population variance ~3%
    assert res.mde == pytest.approx(expected, rel=0.12), f"placebo MDE {res.mde:.4f} vs analytic {expected:.4f}"
    assert abs(res.mean_placebo) < 4 * res.sd_placebo / np.sqrt(res.n_sims), "placebo estimates must centre on 0"
    assert 0.025 <= res.rejection_rate <= 0.08, f"with 60 treated units and iid errors the CR1 test should have size ~5%, got {res.rejection_rate}"


def test_placebo_never_uses_post_treatment_data():
    periods = ANNUAL
    a, timing = iid_panel(150, periods, [(9, 3), (10, 7)], seed=4, effect=0.0)
    b, _ = iid_panel(150, periods, [(9, 3), (10, 7)], seed=4, effect=500.0)
    ra = placebo_mde(a, timing, "y", n_sims=100, seed=1)
    rb = placebo_mde(b, timing, "y", n_sims=100, seed=1)
    np.testing.assert_array_equal(ra.estimates, rb.estimates, err_msg="a huge real post-treatment effect changed the placebo: post data leaked in")
    assert ra.placebo_window[1] < periods[9], "the placebo window must end before the first real treated period"


def test_wave_structure_is_kept_on_quarterly_data():
    quarters = pd.date_range("2019-04-01", periods=24, freq="QS-APR")
    panel, timing = iid_panel(120, quarters, [(18, 3), (21, 7)], seed=5)
    res = placebo_mde(panel, timing, "y", n_sims=50, seed=3, frequency="quarterly")
    assert res.wave_sizes == (3, 7), "same number of LAs per wave as the programme"
    real_gap = quarters.get_loc(res.real_first_treated[1]) - quarters.get_loc(res.real_first_treated[0])
    placebo_gap = quarters.get_loc(res.placebo_first_treated[1]) - quarters.get_loc(res.placebo_first_treated[0])
    assert real_gap == placebo_gap == 3, "waves must keep their relative timing (3 quarters apart)"
    assert quarters.get_loc(res.placebo_window[1]) == 17, "the placebo must end in the last quarter before the first real start"
    row = mde_table([res]).iloc[0]
    assert row["frequency"] == "quarterly" and row["wave_sizes"] == "3 + 7"


def test_vectorised_twfe_equals_csceval_twfe_on_an_unbalanced_panel():
    panel, timing = iid_panel(80, ANNUAL, [(9, 3), (10, 7)], seed=6, missing_share=0.05)
    fast = placebo_mde(panel, timing, "y", n_sims=6, seed=9)
    slow = placebo_mde(panel, timing, "y", n_sims=6, seed=9, estimator=twfe)
    np.testing.assert_allclose(fast.estimates, slow.estimates, rtol=1e-8, err_msg="fast TWFE estimates differ from csceval.did.twfe")
    np.testing.assert_allclose(fast.p_values, slow.p_values, rtol=1e-6, err_msg="fast CR1 p-values differ from csceval.did.twfe")


def test_500_draws_on_an_la_sized_panel_take_seconds_and_are_reproducible():
    panel, timing = iid_panel(150, ANNUAL, [(9, 3), (10, 7)], seed=7)
    start = time.perf_counter()
    a = placebo_mde(panel, timing, "y", n_sims=500, seed=12)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"500 placebo draws on 150 LAs x 12 years took {elapsed:.1f}s; should take seconds"
    b = placebo_mde(panel, timing, "y", n_sims=500, seed=12)
    np.testing.assert_array_equal(a.estimates, b.estimates, err_msg="the same seed must give the same draws")


def test_too_short_pre_period_is_an_error():
    panel, timing = iid_panel(60, ANNUAL[:4], [(2, 5)], seed=8)
    with pytest.raises(ValueError, match="too few pre-periods"):
        placebo_mde(panel, timing, "y", n_sims=10, seed=1)
