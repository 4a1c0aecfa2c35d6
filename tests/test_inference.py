"""Randomization inference and the wild cluster bootstrap (csceval.inference).

Evidence kept here:
* the fast linear permutation path reproduces ``twfe`` and the generic (estimator-per-permutation) path;
* the wild cluster bootstrap reproduces fwildclusterboot's fully enumerated bootstrap t-statistics
  (tests/reference/inference/, R output stored by the wildboottest project);
* size: with zero effect, randomization inference and WCR-Webb reject close to 5% on LA-shaped panels
  while the CR1 t-test over-rejects (the full experiment is ``csceval.inference.size_experiment``).
"""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csceval.did import event_study_twfe, twfe
from csceval.did._results import TIDY_COLUMNS
from csceval.inference import (
    RandomizationResult,
    WildBootstrapResult,
    _draw_weights,
    _wild_core,
    _WildPvalue,
    randomization_inference,
    simulate_null_panel,
    size_experiment,
    wild_cluster_bootstrap,
)
from helpers_panels import simulate_panel

REF = Path(__file__).parent / "reference" / "inference"


@pytest.fixture(scope="module")
def small_panel() -> pd.DataFrame:
    return simulate_panel(n_units=20, n_periods=8, cohorts={4: 2, 6: 3}, effect=lambda e, g: 1.0, seed=3)


# ------------------------------------------------------------------------------ randomization
@pytest.mark.parametrize("variant", ["balanced", "unbalanced", "covariates"])
@pytest.mark.parametrize("statistic", ["estimate", "t"])
def test_fast_path_equals_generic_path_and_twfe(small_panel, variant, statistic):
    df = small_panel
    kwargs = {"outcome": "y"}
    if variant == "unbalanced":
        df = df.drop(index=[3, 17, 40, 101]).reset_index(drop=True)
    if variant == "covariates":
        kwargs["covariates"] = ["x"]
    fast = randomization_inference(df, twfe, n_permutations=25, seed=5, statistic=statistic, method="fast",
                                   exact_if_at_most=0, confidence_set=False, **kwargs)
    slow = randomization_inference(df, twfe, n_permutations=25, seed=5, statistic=statistic, method="generic",
                                   exact_if_at_most=0, **kwargs)
    ref = twfe(df, **kwargs).overall
    expected = ref.estimate if statistic == "estimate" else ref.estimate / ref.std_error
    assert fast.statistic == pytest.approx(expected, rel=1e-9), "fast path's actual statistic differs from twfe()"
    np.testing.assert_allclose(fast.distribution, slow.distribution, rtol=1e-8, atol=1e-10,
                               err_msg="fast linear permutation statistics differ from calling twfe per permutation")
    assert fast.p_value == slow.p_value, "fast and generic paths give different p-values on identical permutations"
    assert fast.method == "fast-linear" and slow.method == "generic"


def test_exact_enumeration_counts_and_p_value_includes_actual(small_panel):
    units = sorted(small_panel["la_code"].unique())
    treated = sorted(small_panel.loc[small_panel["first_treated"].notna(), "la_code"].unique())
    df = small_panel.copy()
    # one wave of 2 treated units among a pool of 10 -> C(10, 2) = 45 assignments
    keep_treated = treated[:2]
    g = df.loc[df["la_code"] == keep_treated[0], "first_treated"].iloc[0]
    df["first_treated"] = np.where(df["la_code"].isin(keep_treated), g, pd.NaT)
    df["first_treated"] = pd.to_datetime(df["first_treated"])
    pool = keep_treated + [u for u in units if u not in treated][:8]
    res = randomization_inference(df, twfe, outcome="y", pool=pool)
    assert res.exact, "45 assignments are below exact_if_at_most, so they should be enumerated"
    assert res.n_assignments == 45 and res.n_permutations == 45, "10 units choose 2 must give 45 assignments"
    assert len(np.unique(np.round(res.distribution, 12))) > 1
    assert res.rank >= 1 and res.p_value == pytest.approx(res.rank / 45), "exact p-value must be rank / A"
    assert np.any(np.isclose(res.distribution, res.statistic)), "exact enumeration must include the actual assignment"
    # two waves of one unit each: ordered choice, 10 * 9 = 90
    g2 = df["period"].sort_values().unique()[5]
    df2 = df.copy()
    df2.loc[df2["la_code"] == keep_treated[1], "first_treated"] = g2
    res2 = randomization_inference(df2, twfe, outcome="y", pool=pool)
    assert res2.n_assignments == 90, "two single-unit waves in a pool of 10 give 10*9 = 90 assignments"
    # random draws: p = (1 + #)/(1 + B) >= 1/(B+1)
    res3 = randomization_inference(df, twfe, outcome="y", pool=pool, exact_if_at_most=10, n_permutations=99)
    assert not res3.exact
    assert res3.p_value >= 1 / 100 and res3.p_value == pytest.approx(res3.rank / 100), \
        "random-draw p-value must count the actual assignment: (1 + #)/(1 + B)"


def test_deterministic_given_seed(small_panel):
    a = randomization_inference(small_panel, twfe, outcome="y", n_permutations=50, seed=11)
    b = randomization_inference(small_panel, twfe, outcome="y", n_permutations=50, seed=11)
    c = randomization_inference(small_panel, twfe, outcome="y", n_permutations=50, seed=12)
    np.testing.assert_array_equal(a.distribution, b.distribution, err_msg="same seed must give the same permutations")
    assert not np.array_equal(a.distribution, c.distribution), "a different seed should draw different permutations"


def test_permutations_keep_the_wave_structure(small_panel):
    res = randomization_inference(small_panel, twfe, outcome="y", n_permutations=10)
    counts = sorted(res.pattern.values())
    assert counts == [2, 3], "the adoption pattern (units per wave) is the one in the data"
    assert res.n_treated == 5 and res.n_control == 15


def test_clear_errors(small_panel):
    never = small_panel.assign(first_treated=pd.NaT)
    with pytest.raises(ValueError, match="no treated units"):
        randomization_inference(never, twfe, outcome="y")
    treated = sorted(small_panel.loc[small_panel["first_treated"].notna(), "la_code"].unique())
    with pytest.raises(ValueError, match="pool has 3 unit"):
        randomization_inference(small_panel, twfe, outcome="y", pool=treated[:3])
    with pytest.raises(ValueError, match="not in the pool"):
        others = [u for u in small_panel["la_code"].unique() if u not in treated]
        randomization_inference(small_panel, twfe, outcome="y", pool=treated[:4] + others[:5])
    with pytest.raises(ValueError, match="missing column"):
        randomization_inference(small_panel, twfe, outcome="not_there")
    with pytest.raises(ValueError, match="missing column"):
        randomization_inference(small_panel.drop(columns="first_treated"), twfe, outcome="y")
    with pytest.raises(ValueError, match="outcome"):
        randomization_inference(small_panel, twfe)
    with pytest.raises(ValueError, match="method='fast'"):
        randomization_inference(small_panel, event_study_twfe, outcome="y", method="fast")


def test_confidence_set_and_tidy_row(small_panel):
    res = randomization_inference(small_panel, twfe, outcome="y", n_permutations=199)
    lo, hi = res.confidence_set
    assert lo < res.estimate < hi, "the inverted confidence set must contain the point estimate"
    grid = res.confidence_set_grid
    assert grid["p_value"].max() > 0.9, "p(tau) near the estimate should be close to 1"
    row = res.tidy(programme="ffc")
    assert list(row.columns) == list(TIDY_COLUMNS), "tidy() must follow the estimates-table contract"
    assert row["aggregation"].iloc[0] == "overall" and row["programme"].iloc[0] == "ffc"
    assert row["inference"].iloc[0] == "randomization inference over adoption patterns (199 permutations)"
    assert row["ci_lower"].iloc[0] == pytest.approx(lo) and row["p_value"].iloc[0] == pytest.approx(res.p_value)
    assert "p-value" in res.summary()
    assert isinstance(res, RandomizationResult)
    with pytest.raises(Exception):
        res.p_value = 0.5  # frozen
    fig = res.plot()
    assert fig.axes, "plot() returns a matplotlib Figure with an axis"


def test_generic_path_accepts_any_estimator(small_panel):
    res = randomization_inference(small_panel, event_study_twfe, outcome="y", leads=3, lags=2, n_permutations=15,
                                  seed=3)
    expected = event_study_twfe(small_panel, "y", leads=3, lags=2).overall.estimate
    assert res.method == "generic" and res.statistic == pytest.approx(expected)
    assert res.confidence_set is None, "the generic path does not invert the test unless asked (costly)"
    custom = randomization_inference(small_panel, twfe, outcome="y", n_permutations=15, statistic=lambda r: r.n_obs)
    assert np.all(custom.distribution == custom.statistic), "a callable statistic is evaluated on each result"


def test_fast_path_speed_150_las_48_quarters():
    df = simulate_null_panel(n_units=150, n_periods=48, waves=(3, 7), first_wave_period=40, rng=1)
    start = time.perf_counter()
    res = randomization_inference(df, twfe, outcome="y", n_permutations=999, statistic="t")
    elapsed = time.perf_counter() - start
    assert res.method == "fast-linear"
    assert elapsed < 10, f"999 permutations of TWFE on 150 x 48 took {elapsed:.1f} s (target well under 10 s)"
    unbalanced = df.drop(index=np.random.default_rng(0).choice(len(df), 200, replace=False))
    start = time.perf_counter()
    randomization_inference(unbalanced, twfe, outcome="y", n_permutations=999, confidence_set=False)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"unbalanced panel (alternating projections) took {elapsed:.1f} s"


# ------------------------------------------------------------------------------ wild bootstrap
def _wildboottest_data():
    """data/test_df.csv of py-econometrics/wildboottest, regenerated (legacy numpy stream)."""
    N, k, G = 10_000, 3, 5
    rs = np.random.RandomState(12312)
    X = rs.normal(0, 1, N * k).reshape((N, k))
    X[:, 0] = 1
    beta = rs.normal(0, 1, k)
    beta[1] = 0.005
    u = rs.normal(0, 1, N)
    Y = X @ beta + u
    cluster = rs.choice(list(range(0, G)), N)
    return X, Y, cluster


def test_wild_bootstrap_matches_fwildclusterboot_full_enumeration():
    X, Y, cluster = _wildboottest_data()
    # first rows of the published test_df.csv
    np.testing.assert_allclose(X[0, 1:], [-0.4037156320778326, -0.463878574616604], rtol=1e-14)
    np.testing.assert_allclose(Y[:3], [1.7683429463247458, -0.44334998328288255, 2.4120519148833157], rtol=1e-14)
    assert list(cluster[:5]) == [0, 1, 4, 4, 1], "regenerated data differ from the published test_df.csv"
    ref = pd.read_csv(REF / "fwildclusterboot_enumeration.csv", index_col=0)
    N, k, G = len(Y), 3, 5
    small = G / (G - 1) * (N - 1) / (N - k)
    V, enumerated = _draw_weights("rademacher", G, 99999, np.random.default_rng(0), True)
    assert enumerated and V.shape == (5, 32)
    for col, restricted in (("WCR11", True), ("WCU11", False)):
        core = _wild_core(Y, X[:, 1], X[:, [0, 2]], cluster, G, small, restricted)
        ours = np.sort(_WildPvalue(core, V, restricted).t_boot(0.0) * np.sqrt(small))
        np.testing.assert_allclose(ours, np.sort(ref[col].to_numpy()), rtol=0, atol=1e-10,
                                   err_msg=f"{col} bootstrap t-statistics differ from fwildclusterboot's enumeration")


@pytest.fixture(scope="module")
def la_panel() -> pd.DataFrame:
    return simulate_null_panel(n_units=150, n_periods=12, waves=(3, 7), rng=7)


def test_wild_bootstrap_twfe_result(la_panel):
    res = wild_cluster_bootstrap(la_panel, "y", unit="la_code", time="period", cohort="first_treated", n_boot=999)
    ref = twfe(la_panel, "y").overall
    assert res.estimate == pytest.approx(ref.estimate, rel=1e-10), "bootstrap estimate must be the TWFE coefficient"
    assert res.t_stat == pytest.approx(ref.estimate / ref.std_error, rel=1e-8), "t must use twfe's CR1 standard error"
    assert 0 <= res.p_value <= 1 and res.n_boot == 999 and not res.full_enumeration
    lo, hi = res.ci
    assert lo < res.estimate < hi, "the inverted confidence set must contain the estimate"
    # at the CI bounds the p-value crosses alpha
    at_lo = wild_cluster_bootstrap(la_panel, "y", h0=lo - 1e-6 * (hi - lo), n_boot=999, ci=False).p_value
    inside = wild_cluster_bootstrap(la_panel, "y", h0=lo + 0.05 * (hi - lo), n_boot=999, ci=False).p_value
    assert at_lo <= 0.05 < inside, "test inversion: p(h) must be <= alpha just outside and > alpha just inside"
    row = res.tidy(programme="ffc")
    assert list(row.columns) == list(TIDY_COLUMNS)
    assert row["inference"].iloc[0] == "wild cluster bootstrap-t (WCR, Webb, 999 draws)"
    default = wild_cluster_bootstrap(la_panel, "y", ci=False)
    assert default.inference == "wild cluster bootstrap-t (WCR, Webb, 9,999 draws)"
    again = wild_cluster_bootstrap(la_panel, "y", n_boot=999)
    assert again.p_value == res.p_value and again.ci == res.ci, "results must be deterministic given the seed"
    assert isinstance(res, WildBootstrapResult) and "p-value" in res.summary()


def test_wild_bootstrap_variants_and_errors(la_panel):
    for w in ("rademacher", "mammen", "webb"):
        for restricted in (True, False):
            r = wild_cluster_bootstrap(la_panel, "y", weights=w, restricted=restricted, n_boot=199, ci=False)
            assert 0 <= r.p_value <= 1
    with pytest.raises(ValueError, match="weights"):
        wild_cluster_bootstrap(la_panel, "y", weights="normal")
    with pytest.raises(ValueError, match="param"):
        wild_cluster_bootstrap(la_panel, "y", param="x")
    with pytest.raises(ValueError, match="no treated"):
        wild_cluster_bootstrap(la_panel.assign(first_treated=np.nan), "y")


def test_wild_bootstrap_enumerates_with_few_clusters():
    df = simulate_null_panel(n_units=8, n_periods=6, waves=(2,), rng=1)
    r = wild_cluster_bootstrap(df, "y", weights="rademacher", n_boot=999, ci=False)
    assert r.full_enumeration and r.n_boot == 2**8, "2^8 = 256 <= 999 Rademacher draws: enumerate all, like boottest"


def test_wild_bootstrap_imputation_missing_estimator(monkeypatch, la_panel):
    monkeypatch.setitem(sys.modules, "csceval.did.imputation", None)
    with pytest.raises(NotImplementedError, match="imputation"):
        wild_cluster_bootstrap(la_panel, "y", model="imputation")


def _fake_imputation(df, outcome, unit="la_code", time="period", cohort="first_treated", **_):
    """A small Borusyak-Jaravel-Spiess imputation estimator (overall ATT), linear in the outcome."""
    from csceval.did._results import OverallEstimate

    d = df.copy()
    t_idx = pd.Index(np.sort(d[time].unique())).get_indexer(d[time])
    g = d[cohort].to_numpy(float)
    treated = np.where(np.isnan(g), False, d[time].to_numpy(float) >= g)
    y = d[outcome].to_numpy(float)
    units = pd.Index(d[unit].unique()).get_indexer(d[unit])
    untreated = ~treated
    a = np.zeros(units.max() + 1)
    lam = np.zeros(t_idx.max() + 1)
    for _ in range(500):
        lam_new = pd.Series(y[untreated] - a[units[untreated]]).groupby(t_idx[untreated]).mean().reindex(range(len(lam))).to_numpy()
        a_new = pd.Series(y[untreated] - lam_new[t_idx[untreated]]).groupby(units[untreated]).mean().reindex(range(len(a))).to_numpy()
        done = np.max(np.abs(a_new - a)) < 1e-13
        a, lam = a_new, lam_new
        if done:
            break
    tau = float(np.mean(y[treated] - a[units[treated]] - lam[t_idx[treated]]))
    return types.SimpleNamespace(overall=OverallEstimate(tau))


def test_wild_bootstrap_imputation_path_with_a_linear_estimator(monkeypatch):
    df = simulate_null_panel(n_units=30, n_periods=8, waves=(2, 2), rng=4)
    fake = types.ModuleType("csceval.did.imputation")
    fake.imputation = _fake_imputation
    monkeypatch.setitem(sys.modules, "csceval.did.imputation", fake)
    res = wild_cluster_bootstrap(df, "y", model="imputation", n_boot=499)
    assert res.model == "imputation" and 0 <= res.p_value <= 1
    assert res.estimate == pytest.approx(_fake_imputation(df, "y").overall.estimate)
    assert res.ci[0] < res.estimate < res.ci[1]
    assert res.inference == "wild cluster bootstrap-c (WCR, Webb, 499 draws)"


# ------------------------------------------------------------------------------ size
def test_size_zero_effect_fast():
    """Rejection rates at 5% with zero effect, 150 LAs x 12 years, AR(1) errors (small R: a smoke check of size).

    With R = 120 replications the Monte Carlo s.e. at 5% is 2 points; the full experiment (R = 500)
    is size_experiment() and its table is reported in the pipeline.
    """
    tab = size_experiment(n_treated=(2, 10), n_reps=120, n_permutations=99, n_boot=99, seed=2024)
    rate = tab.set_index(["method", "n_treated"])["rejection_rate"]
    for n in (2, 10):
        assert rate[("randomization", n)] <= 0.05 + 3 * 0.02, f"randomization inference over-rejects with {n} treated"
        assert rate[("wcr_webb", n)] <= 0.05 + 3 * 0.02, f"WCR-Webb over-rejects with {n} treated"
    assert rate[("cr1", 2)] > 0.10, "CR1 with 2 treated clusters should over-reject clearly (the reason for this module)"
    assert set(tab.columns) >= {"method", "n_treated", "rejection_rate", "mc_se"}


@pytest.mark.slow
def test_size_zero_effect_full():
    tab = size_experiment(n_reps=500, n_permutations=199, n_boot=199)
    rate = tab.set_index(["method", "n_treated"])["rejection_rate"]
    for n in (2, 7, 10):
        assert abs(rate[("randomization", n)] - 0.05) <= 3 * 0.0098, f"RI size off nominal with {n} treated"
        assert rate[("wcr_webb", n)] <= 0.05 + 3 * 0.0098, f"WCR-Webb over-rejects with {n} treated"
        assert rate[("cr1", n)] > rate[("randomization", n)], f"CR1 should reject more often than RI with {n} treated"
