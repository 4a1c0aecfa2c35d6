"""Synthetic DiD: reproduction of R synthdid on California Prop 99, truth on simulated panels, edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from csceval.did import synthetic_did
from csceval.did.synthetic_did import RRandom, _fw_batch, _fw_one, sdid_matrix_estimate

REF = Path(__file__).parent / "reference"
DATA = REF / "data" / "california_prop99.csv"


@pytest.fixture(scope="module")
def published() -> dict:
    return yaml.safe_load((REF / "synthetic_did" / "synthdid_california.yaml").read_text())["printed"]


@pytest.fixture(scope="module")
def prop99() -> pd.DataFrame:
    return pd.read_csv(DATA, sep=";")


@pytest.fixture(scope="module")
def fit_r_seed(prop99):
    return synthetic_did(prop99, "PacksPerCapita", unit="State", time="Year", treated="treated", seed=12345)


def test_r_random_numbers_match_r():
    # R >= 3.6: set.seed(123); sample(1:10)  and  set.seed(42); sample(1:10)
    assert list(RRandom(123).sample(10)) == [3, 10, 2, 8, 6, 9, 1, 7, 5, 4], "R's set.seed/sample not reproduced: placebo draws would differ from R"
    assert list(RRandom(42).sample(10)) == [1, 5, 10, 8, 2, 4, 6, 9, 7, 3], "R's set.seed/sample not reproduced: placebo draws would differ from R"


def test_point_estimates_match_synthdid(fit_r_seed, published):
    comp = fit_r_seed.comparison.set_index("estimator")["estimate"]
    want = published["vignette"]["estimates"]
    for ours, key in (("synthetic_did", "sdid"), ("synthetic_control", "sc"), ("did", "did")):
        assert abs(comp[ours] - want[key]) < 0.5e-5, f"{ours} estimate {comp[ours]:.7f} differs from synthdid's printed {want[key]}: weights or solver not as synthdid"
    assert fit_r_seed.overall.estimate == pytest.approx(comp["synthetic_did"]), "overall row is not the SDID estimate"


def test_weights_and_effective_sizes_match_synthdid(fit_r_seed, published):
    w = fit_r_seed.unit_weights.set_index("unit")["weight"]
    for state, val in published["vignette"]["unit_weights_top"].items():
        assert abs(w[state] - val) <= 0.0005 + 1e-12, f"unit weight of {state} {w[state]:.4f} != printed {val}: omega (zeta, sparsification) differs"
    tw = fit_r_seed.time_weights.set_index("period")["weight"]
    for year, val in published["vignette"]["time_weights"].items():
        assert abs(tw[int(year)] - val) <= 0.0005 + 1e-12, f"time weight {year} {tw[int(year)]:.4f} != printed {val}: lambda differs"
    assert tw.drop([1986, 1987, 1988]).abs().max() == 0.0, "time weights outside 1986-88 should be exactly 0 after sparsification"
    assert round(fit_r_seed.metadata["effective_n0"], 3) == published["vignette"]["N0_effective"], "effective N0 differs from synthdid summary"
    assert round(fit_r_seed.metadata["effective_t0"], 3) == published["vignette"]["T0_effective"], "effective T0 differs from synthdid summary"


def test_placebo_se_matches_r_with_same_seed(fit_r_seed, published):
    o = fit_r_seed.overall
    lo, hi = o.estimate - 1.96 * o.std_error, o.estimate + 1.96 * o.std_error
    assert (round(lo, 2), round(hi, 2)) == tuple(published["vignette"]["ci95_placebo"]), \
        f"placebo CI ({lo:.3f}, {hi:.3f}) != vignette's {published['vignette']['ci95_placebo']}: placebo replications differ from R's"
    ses = fit_r_seed.comparison.set_index("estimator")["std_error"]
    table = published["paper_table1"]["placebo_se"]
    for ours, key in (("synthetic_did", "sdid"), ("synthetic_control", "sc"), ("did", "did")):
        assert round(ses[ours], 1) == table[key], f"{ours} placebo SE {ses[ours]:.3f} != paper Table 1 {table[key]}"


def test_placebo_se_other_seed_within_monte_carlo_tolerance(prop99, published):
    res = synthetic_did(prop99, "PacksPerCapita", unit="State", time="Year", treated="treated", seed=1, compare=False)
    se = res.overall.std_error
    # MC sd of an SE from 200 reps ~ se/sqrt(2*199) = 5%; 20% = 4 MC sd
    assert abs(se - 8.4) / 8.4 < 0.20, f"placebo SE {se:.2f} with seed 1 is >20% from the published 8.4: not Monte Carlo noise"
    assert res.inference.startswith("placebo variance"), "inference text must say how the SE was obtained"


def test_tidy_contract(fit_r_seed):
    tidy = fit_r_seed.tidy(programme="rcc")
    es = tidy[tidy["aggregation"] == "event_study"]
    assert list(es["event_time"]) == list(range(-19, 12)), "one event_study row per period expected, event time relative to 1989"
    assert es["std_error"].isna().all() and es["ci_lower"].isna().all(), "per-period rows must not carry invented uncertainty"
    post = es[es["event_time"] >= 0]["estimate"].mean()
    assert post == pytest.approx(fit_r_seed.overall.estimate, abs=1e-9), "mean of post-period effect curve must equal tau (synthdid_effect_curve)"
    ov = tidy[tidy["aggregation"] == "overall"].iloc[0]
    assert ov["ci_lower"] < ov["estimate"] < ov["ci_upper"] and 0 < ov["p_value"] < 1, "overall row must carry SE-based CI and p"
    assert int(ov["n_treated"]) == 1 and int(ov["n_control"]) == 38


def test_python_and_vectorised_solvers_agree():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(12, 9))
    b = rng.normal(size=12)
    H = A.T @ A + 0.1 * np.eye(9)
    c = A.T @ b
    x0 = np.full(9, 1 / 9)
    one = _fw_one(H, c, x0, 1e-12, 500)
    many, _ = _fw_batch(np.stack([H, H]), np.stack([c, c]), np.zeros((2, 9), bool), np.stack([x0, x0]), np.full(2, 1e-12), 500)
    assert np.allclose(one, many[0], atol=1e-10) and np.allclose(many[0], many[1]), "the two Frank-Wolfe implementations must give the same iterates"
    assert abs(one.sum() - 1) < 1e-12 and one.min() >= 0, "weights must stay on the simplex"


def _factor_panel(n_treated=2, n_donors=40, T0=20, T1=8, effect=5.0, seed=0):
    rng = np.random.default_rng(seed)
    N, T = n_donors + n_treated, T0 + T1
    f = rng.normal(size=(T, 2)).cumsum(axis=0) * 0.5
    load = rng.normal(size=(N, 2))
    load[n_donors:] = load[:n_donors].mean(axis=0) + 0.3 * rng.normal(size=(n_treated, 2))  # treated inside hull
    alpha = rng.normal(size=N) * 2
    Y = alpha[:, None] + load @ f.T + 10 + rng.normal(size=(N, T)) * 0.5
    D = np.zeros((N, T), int)
    D[n_donors:, T0:] = 1
    Y = Y + effect * D
    units = [f"U{i:03d}" for i in range(N)]
    return pd.DataFrame({"la_code": np.repeat(units, T), "period": np.tile(np.arange(2000, 2000 + T), N),
                         "y": Y.ravel(), "treated": D.ravel()})


def test_recovers_known_effect_with_two_treated_units():
    df = _factor_panel(effect=5.0)
    res = synthetic_did(df, "y", se_method="placebo", n_reps=100)
    assert abs(res.overall.estimate - 5.0) < 1.0, f"SDID {res.overall.estimate:.2f} far from the true effect 5"
    assert res.overall.ci_lower < 5.0 < res.overall.ci_upper, "95% CI should cover the true effect in this easy design"
    boot = synthetic_did(df, "y", se_method="bootstrap", n_reps=50, compare=False)
    jack = synthetic_did(df, "y", se_method="jackknife", compare=False)
    assert boot.overall.std_error > 0 and jack.overall.std_error > 0, "bootstrap and jackknife SEs must be computed with 2 treated units"


def test_jackknife_matches_closed_form_and_single_treated_gives_no_se(prop99):
    res = synthetic_did(prop99, "PacksPerCapita", unit="State", time="Year", treated="treated", se_method="jackknife")
    assert res.overall.std_error is None and res.overall.ci_lower is None, "jackknife SE is undefined with one treated unit (synthdid returns NA)"
    assert "jackknife" in " ".join(res.metadata["notes"]), "the reason for the missing SE must be reported"


def test_errors_for_bad_designs(prop99):
    d = prop99.copy()
    d.loc[(d.State == "Utah") & (d.Year == 1975), "PacksPerCapita"] = np.nan
    with pytest.raises(ValueError, match="not balanced"):
        synthetic_did(d, "PacksPerCapita", unit="State", time="Year", treated="treated")
    d = prop99.copy()
    d.loc[(d.State == "Nevada") & (d.Year >= 1990), "treated"] = 1
    with pytest.raises(ValueError, match="block"):
        synthetic_did(d, "PacksPerCapita", unit="State", time="Year", treated="treated")
    with pytest.raises(ValueError, match="se_method"):
        synthetic_did(prop99, "PacksPerCapita", unit="State", time="Year", treated="treated", se_method="wild")
    tiny = prop99[prop99.State.isin(["California", "Utah"])]
    res = synthetic_did(tiny, "PacksPerCapita", unit="State", time="Year", treated="treated", compare=False)
    assert res.overall.std_error is None, "placebo SE needs more controls than treated units; must be left empty, not invented"


def test_matrix_api_and_ties():
    # two identical controls: their weights are tied; the estimate must not depend on the tie-break
    rng = np.random.default_rng(1)
    Y = rng.normal(size=(5, 10)).cumsum(axis=1)
    Y[1] = Y[0]
    tau, omega, lam = sdid_matrix_estimate(Y, 4, 7)
    Y2 = Y[[1, 0, 2, 3, 4]]
    tau2, _, _ = sdid_matrix_estimate(Y2, 4, 7)
    assert tau == pytest.approx(tau2, abs=1e-8), "swapping two identical controls changed the estimate"
    assert omega.sum() == pytest.approx(1) and lam.sum() == pytest.approx(1)
