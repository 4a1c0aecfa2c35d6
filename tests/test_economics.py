"""Value for money: discounting, prices, costing impacts, break-even and uncertainty from draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csceval.economics import (
    CostUncertainty,
    GdpDeflator,
    OutcomeCosting,
    UnitCost,
    benefit_cost_ratio,
    break_even,
    break_even_scale,
    cost_changes,
    cost_per_outcome_avoided,
    cost_per_unit_effect,
    discount_factors,
    economies_of_scale,
    npv,
    outcome_cost_factors,
    outcome_costing_from_config,
    programme_cost_flows,
    programme_costs_from_config,
    unit_cost_draws,
    unit_costs_from_config,
    vfm_distribution,
)

DEFLATOR = GdpDeflator({2022: 95.0, 2023: 100.0, 2024: 105.0, 2025: 107.1}, source="test series")
UNIT_COSTS = {
    "cla_week": UnitCost("cla_week", 1000.0, "per child per week", 2023, "test"),
    "residential_week": UnitCost("residential_week", 5000.0, "per child per week", 2024, "test"),
    "foster_ifa_week": UnitCost("foster_ifa_week", 1000.0, "per child per week", 2024, "test"),
}
COSTING = {"cla_rate_per_10k": OutcomeCosting("cla_rate_per_10k", "cla_week", units_per_child=52.0, quantity="placement-weeks")}


def test_hand_computed_small_case():
    """Two years of a -2 per 10k effect on the CLA rate, 50,000 children, GBP 1,000 a week in 2023 prices.

    children  = -2 x 50,000 / 10,000            = -10 per year
    weeks     = -10 x 52                         = -520 placement-weeks per year
    unit cost = 1,000 x 105 / 100                = GBP 1,050 a week in 2024 prices
    cost      = -520 x 1,050                     = GBP -546,000 a year (a saving)
    PV savings (base 2024, 3.5%) = 546,000 + 546,000 / 1.035 = 1,073,536.2319
    PV costs (300,000 a year)    = 300,000 + 300,000 / 1.035 =   589,855.0725
    NPV = 483,681.1594;  BCR = 546 / 300 = 1.82 (same ratio every year)
    """
    impacts = pd.DataFrame({"outcome": "cla_rate_per_10k", "year": [2024, 2025], "effect": [-2.0, -2.0]})
    changes = cost_changes(impacts, UNIT_COSTS, COSTING, population=50_000, price_base_year=2024, deflator=DEFLATOR)
    assert changes["children"].tolist() == pytest.approx([-10.0, -10.0]), "children = effect x population / 10,000"
    assert changes["units"].tolist() == pytest.approx([-520.0, -520.0]), "placement-weeks = children x 52"
    assert changes["unit_cost"].tolist() == pytest.approx([1050.0, 1050.0]), "unit cost must be moved to 2024 prices by the deflator"
    assert changes["cost_change"].tolist() == pytest.approx([-546_000.0, -546_000.0]), "cost change = weeks x weekly cost"
    savings = -changes.set_index("year")["cost_change"]
    costs = {2024: 300_000.0, 2025: 300_000.0}
    net = {y: savings[y] - costs[y] for y in costs}
    assert npv(net, base_year=2024) == pytest.approx(483_681.1594, abs=1e-3), "NPV of the hand-computed case"
    assert benefit_cost_ratio(savings, costs) == pytest.approx(1.82), "BCR of the hand-computed case"


def test_annuity_npv_matches_the_closed_form():
    """A constant flow C in years 1..n has NPV = C (1 - (1+r)^-n) / r (n <= 30, constant 3.5%)."""
    c, r, n = 1_000.0, 0.035, 25
    flows = {2000 + t: c for t in range(1, n + 1)}
    assert npv(flows, base_year=2000) == pytest.approx(c * (1 - (1 + r) ** -n) / r, rel=1e-12), "annuity formula"


def test_declining_schedule_after_30_years():
    """Year 31 is discounted at 3.0% on top of 30 years at 3.5%; year 76 at 2.5% on top of that."""
    d = discount_factors([0, 30, 31, 75, 76], base_year=0)
    d30 = 1.035**-30
    assert d[0] == 1.0, "the base year is undiscounted"
    assert d[1] == pytest.approx(d30), "years 1-30 at 3.5%"
    assert d[2] == pytest.approx(d30 / 1.03), "year 31 at 3.0% (Green Book declining schedule)"
    assert d[3] == pytest.approx(d30 / 1.03**45), "years 31-75 at 3.0%"
    assert d[4] == pytest.approx(d30 / 1.03**45 / 1.025), "year 76 at 2.5%"
    flat = discount_factors([31], base_year=0, declining=False)
    assert flat[0] == pytest.approx(1.035**-31), "declining=False keeps 3.5% throughout"
    with pytest.raises(ValueError, match="before the base year"):
        discount_factors([1999], base_year=2000)


def test_break_even_effect_gives_zero_npv_through_the_full_costing_path():
    years = [2024, 2025, 2026]
    costs = {2024: 900_000.0, 2025: 600_000.0, 2026: 300_000.0}
    unit = cost_per_unit_effect(["cla_rate_per_10k"], years, UNIT_COSTS, COSTING, population=60_000, price_base_year=2024, deflator=DEFLATOR)
    e_star = break_even(costs, unit)
    assert e_star < 0, "breaking even on the CLA rate needs a reduction"
    impacts = pd.DataFrame({"outcome": "cla_rate_per_10k", "year": years, "effect": e_star})
    changes = cost_changes(impacts, UNIT_COSTS, COSTING, population=60_000, price_base_year=2024, deflator=DEFLATOR)
    net = {y: -changes.loc[changes["year"] == y, "cost_change"].sum() - costs[y] for y in years}
    assert npv(net, base_year=2024) == pytest.approx(0.0, abs=1e-6), "NPV at the break-even effect must be 0"
    m = break_even_scale({"cla_rate_per_10k": 2 * e_star}, costs, unit)
    assert m == pytest.approx(0.5), "an estimate twice the break-even effect breaks even at half its size"


def test_deflator_round_trip_and_rebasing():
    value = 1234.5
    there = DEFLATOR.convert(value, 2022, 2025)
    assert DEFLATOR.convert(there, 2025, 2022) == pytest.approx(value, rel=1e-12), "2022 -> 2025 -> 2022 must return the value"
    rebased = DEFLATOR.rebased(2025)
    assert rebased.level(2025) == pytest.approx(100.0), "rebasing sets the base year to 100"
    assert rebased.convert(value, 2022, 2025) == pytest.approx(there), "rebasing must not change conversions"
    assert GdpDeflator({"2023-24": 100, "2024-25": 102}).factor("2023-24", 2024) == pytest.approx(1.02), "'2024-25' means 2024"
    with pytest.raises(KeyError, match="no value for 2030"):
        DEFLATOR.level(2030)
    extended = GdpDeflator(DEFLATOR.index, growth_after=0.02)
    assert extended.level(2027) == pytest.approx(107.1 * 1.02**2), "growth_after extends the series at a stated rate"


def test_draws_give_the_distribution_percentiles():
    """NPV is linear in the effect, so its percentiles are the mapped percentiles of the effect draws."""
    rng = np.random.default_rng(7)
    draws = rng.normal(-3.0, 1.0, 4000)
    years = [2024, 2025]
    unit = cost_per_unit_effect(["cla_rate_per_10k"], years, UNIT_COSTS, COSTING, population=50_000, price_base_year=2024, deflator=DEFLATOR)
    costs = {2024: 400_000.0, 2025: 400_000.0}
    dist = vfm_distribution({"cla_rate_per_10k": draws}, unit, costs)
    pv_unit = npv(unit.set_index("year")["cost_change"], base_year=2024)
    pv_k = npv(costs, base_year=2024)
    expected = -draws * pv_unit - pv_k
    np.testing.assert_allclose(dist.npv, expected, err_msg="NPV of each draw = -effect x PV(cost per unit effect) - PV(costs)")
    summary = dist.summary().set_index("statistic")
    assert summary.loc["npv", "p5"] == pytest.approx(np.quantile(expected, 0.05)), "5th percentile of NPV over draws"
    assert summary.loc["npv", "p95"] == pytest.approx(np.quantile(expected, 0.95)), "95th percentile of NPV over draws"
    assert summary.loc["npv", "median"] == pytest.approx(np.median(expected)), "median NPV over draws"
    e_star = break_even(costs, unit)
    assert dist.prob_npv_positive == pytest.approx(np.mean(draws < e_star)), "P(NPV > 0) = share of draws beyond the break-even effect"
    assert summary.loc["bcr", "mean"] == pytest.approx(np.mean(-draws * pv_unit / pv_k)), "BCR of each draw = benefits / PV(costs)"
    assert {"point", "mean", "median", "p5", "p95", "prob_npv_positive", "n_draws"} <= set(summary.columns), "summary columns"


def test_permutation_draws_are_recentred_on_the_estimate():
    unit = cost_per_unit_effect(["cla_rate_per_10k"], [2024], UNIT_COSTS, COSTING, population=50_000, price_base_year=2024, deflator=DEFLATOR)
    null = np.array([-1.0, 0.0, 1.0, 2.0])  # placebo estimates, mean 0.5
    dist = vfm_distribution({"cla_rate_per_10k": null}, unit, {2024: 1.0e5}, draws_kind="null", point_effects={"cla_rate_per_10k": -3.0})
    direct = vfm_distribution({"cla_rate_per_10k": -3.0 + null - 0.5}, unit, {2024: 1.0e5})
    np.testing.assert_allclose(dist.npv, direct.npv, err_msg="null draws must become point + (draw - mean(draw))")
    assert dist.point_npv == pytest.approx(float(np.mean(dist.npv))), "re-centred draws average to the point estimate's NPV"
    with pytest.raises(ValueError, match="point_effects"):
        vfm_distribution({"cla_rate_per_10k": null}, unit, {2024: 1.0e5}, draws_kind="null")


def test_placement_switch_costed_with_negative_weights():
    """A 1 percentage point shift of 1,000 CLA from IFA foster care to residential: 10 children x 52 x (5,000 - 1,000)."""
    costing = {"residential_percent": OutcomeCosting("residential_percent", {"residential_week": 1, "foster_ifa_week": -1}, 52.0, scale=100)}
    impacts = pd.DataFrame({"outcome": ["residential_percent"], "year": [2024], "effect": [1.0], "population": [1000]})
    out = cost_changes(impacts, UNIT_COSTS, costing, price_base_year=2024)
    assert out["cost_change"].iloc[0] == pytest.approx(10 * 52 * 4000), "a switch costs the difference of the unit costs"


def test_cost_per_outcome_avoided():
    costs = {2024: 1_000_000.0, 2025: 1_035_000.0}  # PV at 2024 = 2,000,000
    assert cost_per_outcome_avoided(costs, {2024: 10, 2025: 10}) == pytest.approx(100_000.0), "PV costs / outcomes avoided"
    assert np.isnan(cost_per_outcome_avoided(costs, {2024: 0})), "no outcome avoided: the ratio is undefined (NaN)"


def test_config_readers():
    unit = unit_costs_from_config({"residential_week": {"value": 7385, "unit": "per child per week", "price_year": "2024-25", "source": "LAIT"}})
    assert unit["residential_week"].price_year == 2024 and unit["residential_week"].status == "UNVERIFIED", "unverified unless stated"
    gap = unit_costs_from_config({"cp_plan_year": {"value": None, "unit": "per plan-year", "price_year": 2024, "source": "none found", "status": "PLACEHOLDER"}})
    with pytest.raises(ValueError, match="has no value"):
        gap["cp_plan_year"].in_prices_of(2024, None)  # an unsourced cost fails loudly when used, never counts as 0
    costing = outcome_costing_from_config({"cpp_rate_per_10k": {"unit_cost": "cp_plan_year"}})
    assert costing["cpp_rate_per_10k"].scale == 10_000 and costing["cpp_rate_per_10k"].units_per_child == 1.0, "defaults"
    pc = programme_costs_from_config({"ffc": {"price_year": "cash", "source": "s", "by_la": {"838": {2023: 100.0, 2024: 105.0}, "925": {2024: 210.0}}}})
    flows = programme_cost_flows(pc, price_base_year=2024, deflator=DEFLATOR)
    assert flows.to_dict() == pytest.approx({2023: 105.0, 2024: 315.0}), "cash costs move to the price base and add up over LAs"


def test_economies_of_scale_matches_ols():
    import statsmodels.api as sm

    rng = np.random.default_rng(11)
    size = rng.integers(1, 15, 40).astype(float)
    cost = 5000 * size**-0.1 * np.exp(rng.normal(0, 0.05, 40))
    est = economies_of_scale(cost, size)
    ref = sm.OLS(np.log(cost), sm.add_constant(np.log(size))).fit()
    assert est.elasticity == pytest.approx(ref.params[1]), "elasticity = OLS slope of log cost on log size"
    assert est.std_error == pytest.approx(ref.bse[1]), "classical OLS standard error"
    assert est.p_value == pytest.approx(ref.pvalues[1]), "t-test p-value with n - 2 df"
    assert (est.ci_lower, est.ci_upper) == pytest.approx(tuple(ref.conf_int()[1])), "95% interval"
    assert est.ci_lower < -0.1 < est.ci_upper, "the interval must cover the true elasticity (-0.1) in this seed"
    with pytest.raises(ValueError, match="positive"):
        economies_of_scale([1.0, -2.0, 3.0], [1.0, 2.0, 3.0])


# ============================================================================ unit-cost uncertainty
def test_unit_cost_draws_have_the_stated_mean_and_spread():
    """Log-normal: mean = value and sd = cv x value (by its parameterisation); triangular(500, 1000, 2000): mean
    (500 + 1000 + 2000) / 3 and variance (a^2 + b^2 + c^2 - ab - ac - bc) / 18 = 87,500 (textbook moments)."""
    rng = np.random.default_rng(1)
    logn = CostUncertainty("lognormal", cv=0.3).draw(1000.0, 400_000, rng)
    assert logn.mean() == pytest.approx(1000.0, rel=3e-3), "a log-normal cost must keep the configured value as its mean"
    assert logn.std() == pytest.approx(300.0, rel=1e-2), "sd = cv x value"
    tri = CostUncertainty("triangular", low=500.0, high=2000.0).draw(1000.0, 400_000, rng)
    assert tri.mean() == pytest.approx(3500.0 / 3, rel=3e-3) and tri.min() >= 500 and tri.max() <= 2000
    var = (500.0**2 + 1000.0**2 + 2000.0**2 - 500 * 1000 - 500 * 2000 - 1000 * 2000) / 18
    assert tri.var() == pytest.approx(var, rel=1e-2), "triangular variance"
    assert (CostUncertainty("lognormal", cv=0.0).draw(1000.0, 5, rng) == 1000.0).all(), "cv 0 must give the value exactly"


def test_npv_mean_and_variance_with_independent_cost_draws():
    """NPV_d = -E_d F_d PV(u) - PV(K), with effect draws E ~ N(-3, 1) and unit-cost factors F (mean 1, cv 0.4) independent:
    E[NPV] = 3 PV(u) - PV(K) and Var[NPV] = PV(u)^2 (Var E Var F + Var E + (E E)^2 Var F) = PV(u)^2 (0.16 + 1 + 1.44)."""
    rng = np.random.default_rng(5)
    n = 400_000
    effects = rng.normal(-3.0, 1.0, n)
    factors = CostUncertainty("lognormal", cv=0.4).draw(1.0, n, np.random.default_rng(6))
    unit = cost_per_unit_effect(["cla_rate_per_10k"], [2024], UNIT_COSTS, COSTING, population=50_000, price_base_year=2024, deflator=DEFLATOR)
    pv_u = float(unit["cost_change"].iloc[0])
    dist = vfm_distribution({"cla_rate_per_10k": effects}, unit, {2024: 1.0e5}, cost_factors={"cla_rate_per_10k": factors})
    assert dist.npv.mean() == pytest.approx(3 * pv_u - 1e5, rel=5e-3), "cost draws with mean 1 must not move the mean NPV"
    assert dist.npv.var() == pytest.approx(pv_u**2 * 2.6, rel=1.5e-2), "variance of a product of independent draws"
    np.testing.assert_array_equal(dist.npv, -effects * pv_u * factors - 1e5, err_msg="draw d of the cost must scale draw d of the savings")
    same = vfm_distribution({"cla_rate_per_10k": effects}, unit, {2024: 1.0e5}, cost_factors={"cla_rate_per_10k": np.ones(n)})
    np.testing.assert_array_equal(same.npv, vfm_distribution({"cla_rate_per_10k": effects}, unit, {2024: 1.0e5}).npv,
                                  err_msg="factors of exactly one must reproduce the impact-only NPV bit for bit")


def test_outcome_cost_factor_of_a_mix_weights_the_costs():
    """A mix 1 x residential (5,000) - 1 x IFA (1,000): residential 10% dearer and IFA 20% cheaper gives
    (5,500 - 800) / 4,000 = 1.175."""
    f = outcome_cost_factors(["switch"], UNIT_COSTS, {"switch": OutcomeCosting("switch", {"residential_week": 1, "foster_ifa_week": -1})},
                             {"residential_week": np.array([1.1]), "foster_ifa_week": np.array([0.8])}, price_base_year=2024)
    assert f["switch"] == pytest.approx([1.175])


def test_uncertainty_from_config_defaults_by_status_and_bad_specs():
    """A cost without `uncertainty` takes its status's default, `uncertainty: null` makes it certain, and a spec mixing
    a range with a lognormal is refused naming the cost."""
    cfg = {"a": {"value": 100, "unit": "u", "price_year": 2024, "source": "s", "status": "assumed"},
           "b": {"value": 100, "unit": "u", "price_year": 2024, "source": "s", "status": "assumed", "uncertainty": None},
           "c": {"value": 100, "unit": "u", "price_year": 2024, "source": "s", "status": "published",
                 "uncertainty": {"range": [80, 150]}}}
    costs = unit_costs_from_config(cfg, {"assumed": {"distribution": "lognormal", "cv": 0.5}})
    assert costs["a"].uncertainty == CostUncertainty("lognormal", cv=0.5), "status default"
    assert costs["b"].uncertainty is None, "explicit null overrides the default"
    assert costs["c"].uncertainty == CostUncertainty("triangular", low=80.0, high=150.0), "a range means a triangular"
    with pytest.raises(ValueError, match="unit_costs.d.uncertainty.*lognormal needs cv"):
        unit_costs_from_config({"d": {**cfg["a"], "uncertainty": {"distribution": "lognormal", "range": [1, 2]}}})
    draws = unit_cost_draws(costs, ["a", "b"], 50, seed=3)
    assert (draws["b"] == 1).all() and draws["a"].std() > 0, "certain costs get exact ones"
    alone = unit_cost_draws(costs, ["a"], 50, seed=3)
    np.testing.assert_array_equal(draws["a"], alone["a"], err_msg="a cost's draws must not depend on which other costs are drawn")
    with pytest.raises(ValueError, match="does not contain the value"):
        unit_cost_draws({"e": UnitCost("e", 200.0, "u", 2024, "s", uncertainty=CostUncertainty("triangular", low=1.0, high=100.0))}, ["e"], 5, 1)
