"""Value for money of a programme from bootstrap draws of its impact (csceval.vfm, csceval.report.vfm)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from csceval.did import imputation
from csceval.economics import OutcomeCosting, UnitCost, unit_costs_from_config
from csceval.report.vfm import alt_text_vfm, publishable_summary, vfm_figure
from csceval.vfm import bootstrap_weights, financial_year, imputation_draws, programme_vfm

REPO = Path(__file__).resolve().parents[1]
COHORTS = {"101": "2023-04-01", "102": "2023-04-01", "103": "2024-04-01", "104": "2024-04-01", "105": "2024-04-01"}


def panel(tau: float = -2.0, noise: float = 0.0, n_controls: int = 15, seed: int = 0) -> pd.DataFrame:
    """LA x year panel, y = a_i + l_t + tau x treated (+ noise); 50,000 children in every LA-year."""
    rng = np.random.default_rng(seed)
    units = list(COHORTS) + [str(200 + j) for j in range(n_controls)]
    periods = pd.date_range("2015-04-01", periods=10, freq="12MS")
    rows = []
    a = dict(zip(units, rng.normal(100, 20, len(units))))
    lam = dict(zip(periods, np.linspace(0, 9, len(periods)) + rng.normal(0, 1, len(periods))))
    for u in units:
        first = pd.Timestamp(COHORTS[u]) if u in COHORTS else pd.NaT
        for p in periods:
            treated = pd.notna(first) and p >= first
            rows.append({"la_code": u, "period": p, "value": a[u] + lam[p] + tau * treated + noise * rng.normal(),
                         "denominator": 50_000.0, "first_treated": first})
    return pd.DataFrame(rows)


def strata(df: pd.DataFrame):
    s = df.groupby("la_code")["first_treated"].first()
    return s.index.tolist(), s.to_numpy()


def test_financial_year_of_period_start_dates():
    """April-March years are named by their start year; a wrong mapping would cost effects in the wrong year."""
    assert financial_year(["2023-04-01", "2024-03-31", "2024-01-01"]).tolist() == [2023, 2023, 2023]


def test_bootstrap_weights_keep_every_stratum_size_and_start_with_the_point():
    """Row 0 must be all ones (the point estimate) and each stratum must keep its size in every draw, else the
    number of treated LAs per wave would vary across draws."""
    labels = ["a", "a", "a", "b", "b", None, None, None, None]
    w = bootstrap_weights(labels, 200, seed=3)
    assert w.shape == (201, 9)
    assert (w[0] == 1).all(), "draw 0 must be the point estimate"
    assert (w[:, :3].sum(axis=1) == 3).all() and (w[:, 3:5].sum(axis=1) == 2).all() and (w[:, 5:].sum(axis=1) == 4).all()
    assert w[1:].std() > 0, "draws must differ from the point"
    assert np.array_equal(w, bootstrap_weights(labels, 200, seed=3)), "the same seed must give the same draws"


def test_point_draw_equals_the_imputation_estimator():
    """Draw 0 (all weights 1) must reproduce csceval.did.imputation's overall ATT on a noisy panel: the fast
    alternating-projection fit would be wrong otherwise."""
    df = panel(noise=3.0, seed=1)
    units, labels = strata(df)
    draws = imputation_draws(df, bootstrap_weights(labels, 5, 1), units)
    reference = imputation(df, "value").tidy().query("aggregation == 'overall'")["estimate"].iloc[0]
    assert draws.att[0] == pytest.approx(reference, abs=1e-8), "point ATT differs from the imputation estimator"
    assert draws.years.tolist() == [2023, 2024]
    assert draws.population.tolist() == [100_000.0, 250_000.0], "treated child population: 2 LAs in 2023-24, 5 in 2024-25"


def test_integer_weight_equals_a_duplicated_la():
    """A weight of 2 on an LA must give the same estimate as the panel with that LA copied under a new code:
    that is what makes the weighted fit a cluster bootstrap."""
    df = panel(noise=3.0, seed=2)
    units, labels = strata(df)
    w = np.ones((1, len(units)))
    w[0, units.index("103")] = 2.0
    w[0, units.index("205")] = 0.0
    weighted = imputation_draws(df, w, units).att[0]
    dup = pd.concat([df[df.la_code != "205"], df[df.la_code == "103"].assign(la_code="999")])
    reference = imputation(dup, "value").tidy().query("aggregation == 'overall'")["estimate"].iloc[0]
    assert weighted == pytest.approx(reference, abs=1e-8)


def test_noise_free_panel_gives_the_true_effect_in_every_draw():
    """With y exactly additive plus a constant effect, every resample must recover the effect exactly."""
    df = panel(tau=-2.0, noise=0.0)
    units, labels = strata(df)
    draws = imputation_draws(df, bootstrap_weights(labels, 50, 4), units)
    assert np.allclose(draws.profile, -2.0, atol=1e-7) and np.allclose(draws.att, -2.0, atol=1e-7)


UNIT = {"cla_week": UnitCost("cla_week", 1000.0, "per child per week", 2024, "test")}
COSTING = {"cla_rate_per_10k": OutcomeCosting("cla_rate_per_10k", "cla_week", units_per_child=52.0, quantity="placement-weeks")}


def test_known_npv_bcr_and_break_even():
    """-2 per 10k on the CLA rate; 100,000 treated children in 2023-24 and 250,000 in 2024-25; GBP 1,000 a week.

    savings 2023 = 2 x 10 x 52 x 1,000 = 1,040,000; 2024 = 2 x 25 x 52 x 1,000 = 2,600,000
    costs 1,000,000 a year; base 2023, 3.5%:
    PV savings = 1,040,000 + 2,600,000 / 1.035;  PV costs = 1,000,000 + 1,000,000 / 1.035
    break-even effect = -PV costs / (520,000 + 1,300,000 / 1.035) per 10k
    """
    df = panel(tau=-2.0, noise=0.0)
    units, labels = strata(df)
    draws = imputation_draws(df, bootstrap_weights(labels, 99, 5), units, outcome="cla_rate_per_10k")
    flows = pd.Series({2023: 1_000_000.0, 2024: 1_000_000.0})
    res = programme_vfm("test", {"cla_rate_per_10k": draws}, UNIT, COSTING, flows, price_base_year=2024, deflator=None)
    pv_savings = 1_040_000 + 2_600_000 / 1.035
    pv_costs = 1_000_000 + 1_000_000 / 1.035
    s = res.summary.set_index("measure")
    assert res.pv_costs == pytest.approx(pv_costs)
    assert res.point_npv == pytest.approx(pv_savings - pv_costs, abs=1e-3), "point NPV"
    assert s.loc["Benefit-cost ratio", "point"] == pytest.approx(pv_savings / pv_costs)
    assert np.allclose(res.npv_draws, pv_savings - pv_costs, atol=1e-2), "noise-free draws must all give the point NPV"
    assert s.loc["Child-years avoided", "point"] == pytest.approx(70.0), "2 x 10 + 2 x 25 child-years avoided"
    assert s.loc["Programme cost per outcome avoided", "point"] == pytest.approx(pv_costs / 70.0)
    be = res.break_even.set_index("outcome")
    assert be.loc["cla_rate_per_10k", "break_even_effect"] == pytest.approx(-pv_costs / (520_000 + 1_300_000 / 1.035))
    assert be.loc["all costed", "break_even_effect"] == pytest.approx(pv_costs / pv_savings), "break-even multiple = 1 / BCR"


def _noisy_vfm(n_draws: int):
    """Value for money of a noisy panel with a true CLA effect of -2, from ``n_draws`` bootstrap draws."""
    df = panel(tau=-2.0, noise=2.0, seed=7)
    units, labels = strata(df)
    draws = imputation_draws(df, bootstrap_weights(labels, n_draws, 5), units, outcome="cla_rate_per_10k")
    return programme_vfm("test", {"cla_rate_per_10k": draws}, UNIT, COSTING, pd.Series({2023: 1e6, 2024: 1e6}),
                         price_base_year=2024, deflator=None)


def test_zero_cost_uncertainty_reproduces_the_impact_only_numbers():
    """Unit-cost draws of exactly one (no cost uncertainty) must give today's tables bit for bit, and the joint NPV row
    must then equal the impact-only row: otherwise adding the cost draws changed the method, not just the spread."""
    df = panel(tau=-2.0, noise=2.0, seed=7)
    units, labels = strata(df)
    draws = imputation_draws(df, bootstrap_weights(labels, 99, 5), units, outcome="cla_rate_per_10k")
    args = ("test", {"cla_rate_per_10k": draws}, UNIT, COSTING, pd.Series({2023: 1e6, 2024: 1e6}))
    before = programme_vfm(*args, price_base_year=2024, deflator=None)
    after = programme_vfm(*args, price_base_year=2024, deflator=None, cost_draws={"cla_week": np.ones(99)})
    pd.testing.assert_frame_equal(before.summary, after.summary, check_exact=True)
    pd.testing.assert_frame_equal(before.break_even, after.break_even, check_exact=True)
    np.testing.assert_array_equal(before.npv_draws, after.npv_draws)
    s = after.summary.set_index("measure")
    cols = ["point", "lower", "upper", "share_of_draws_positive"]
    assert (s.loc["Net present value", cols] == s.loc["Net present value, impact uncertainty only", cols]).all()
    only = s.loc["Net present value, unit-cost uncertainty only"]
    assert only["lower"] == pytest.approx(only["point"]) == pytest.approx(only["upper"]), "no cost uncertainty: a point"


def test_cost_uncertainty_widens_the_npv_interval_by_the_hand_computed_amount():
    """Noise-free effects (every draw = the point) and unit-cost factors f_d: NPV_d = B f_d - PV(K) with B the point
    savings, so the NPV quantiles are B x quantiles(f) - PV(K), the impact-only interval is a point and the joint one
    equals the unit-cost-only one."""
    df = panel(tau=-2.0, noise=0.0)
    units, labels = strata(df)
    draws = imputation_draws(df, bootstrap_weights(labels, 199, 5), units, outcome="cla_rate_per_10k")
    factors = np.random.default_rng(2).lognormal(-0.5 * np.log1p(0.25), np.sqrt(np.log1p(0.25)), 199)
    res = programme_vfm("test", {"cla_rate_per_10k": draws}, UNIT, COSTING, pd.Series({2023: 1e6, 2024: 1e6}),
                        price_base_year=2024, deflator=None, cost_draws={"cla_week": factors})
    pv_savings = 1_040_000 + 2_600_000 / 1.035      # as in test_known_npv_bcr_and_break_even
    pv_costs = 1_000_000 + 1_000_000 / 1.035
    s = res.summary.set_index("measure")
    expect = (pv_savings * np.quantile(factors, [0.05, 0.95]) - pv_costs) / 1e6
    assert (s.loc["Net present value", "lower"], s.loc["Net present value", "upper"]) == pytest.approx(tuple(expect), rel=1e-6)
    assert (s.loc["Net present value, unit-cost uncertainty only", "lower"],
            s.loc["Net present value, unit-cost uncertainty only", "upper"]) == pytest.approx(tuple(expect), rel=1e-6)
    imp = s.loc["Net present value, impact uncertainty only"]
    assert imp["upper"] - imp["lower"] == pytest.approx(0.0, abs=1e-6), "noise-free effects: no impact uncertainty"
    np.testing.assert_allclose(res.npv_draws, pv_savings * factors - pv_costs, rtol=1e-8)
    with pytest.raises(ValueError, match="one per bootstrap draw"):
        programme_vfm("test", {"cla_rate_per_10k": draws}, UNIT, COSTING, pd.Series({2023: 1e6}), price_base_year=2024,
                      deflator=None, cost_draws={"cla_week": factors[:10]})


def test_uncertainty_comes_from_the_draws():
    """With noise the NPV interval must be wider than a point and contain the point estimate."""
    res = _noisy_vfm(199)
    row = res.summary.set_index("measure").loc["Net present value"]
    assert row["lower"] < row["point"] < row["upper"], "the interval must come from the spread of the draws"
    assert res.npv_draws.std() > 0


def test_publishable_summary_rounds_and_figure_alt_text_describe_the_draws():
    """Published money is rounded (no spurious precision) and the alt text states point and interval."""
    res = _noisy_vfm(99)
    pub = publishable_summary(res.summary).set_index("measure")
    assert pub.loc["Net present value", "point"] == round(res.point_npv / 1e6, 2)
    text = alt_text_vfm(res.npv_draws, res.point_npv, res.pv_costs, programme_name="test programme", price_base="2024-25 prices",
                        synthetic=True)
    assert text.startswith("Synthetic data") and "99 bootstrap draws" in text and "positive net present value" in text
    fig = vfm_figure(res.npv_draws, res.point_npv, title="test")
    assert fig.axes and fig.axes[0].get_xlabel() == "Net present value (£ million)"
    assert "impact uncertainty only" not in text, "without cost draws there is no second distribution to describe"
    wider = res.npv_draws * 1.5
    both = alt_text_vfm(wider, res.point_npv, res.pv_costs, programme_name="p", price_base="2024-25 prices", impact_only=res.npv_draws)
    assert "and of the unit costs" in both and "impact uncertainty only" in both, "the alt text must describe both distributions"
    legend = vfm_figure(wider, res.point_npv, title="t", impact_only=res.npv_draws).axes[0].get_legend()
    assert legend is not None and len(legend.get_texts()) == 2, "the figure must outline the impact-only draws"


def test_default_config_costs_are_sourced_or_labelled_assumed():
    """Every configured cost needs a value, price year and source; an assumed one must say ASSUMED and why,
    so no made-up figure passes as published."""
    econ = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["economics"]
    costs = unit_costs_from_config(econ["unit_costs"])
    assert {"cla_week", "care_proceedings_case", "social_worker_hour"} <= set(costs)
    for name, cost in costs.items():
        assert cost.source and cost.price_year >= 2000, f"unit cost {name} lacks a source or price year"
        if cost.status == "assumed":
            assert cost.source.startswith("ASSUMED:") and len(cost.source) > 40, f"assumed unit cost {name} must give its reason"
    for programme, spec in econ["programme_costs"].items():
        assert spec["source"] and spec["by_la"], f"programme costs of {programme} need a source and per-LA figures"
        if "assumed" in spec["status"].lower():
            assert "ASSUMED" in spec["source"], f"programme costs of {programme}: say what is assumed in the source"


def test_bad_inputs_name_what_is_wrong():
    """Missing columns, unknown LAs and an unconfigured programme must stop with a message naming them."""
    df = panel()
    units, labels = strata(df)
    w = bootstrap_weights(labels, 3, 1)
    with pytest.raises(KeyError, match="denominator"):
        imputation_draws(df.drop(columns="denominator"), w, units)
    with pytest.raises(ValueError, match="not in the bootstrap units"):
        imputation_draws(df, w[:, 1:], units[1:])
    from csceval.vfm import programme_economics

    spec = {"outcomes": ["referral_rate_per_10k"], "window_start": "2015-04-01", "clean_window_end": "2025-03-31"}
    with pytest.raises(ValueError, match="economics.outcome_costing"):
        programme_economics(df, pd.DataFrame(), "test", spec, {"outcome_costing": {}, "programme_costs": {}, "unit_costs": {}})
