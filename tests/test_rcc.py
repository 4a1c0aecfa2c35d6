"""RCC cooperative-level synthetic control pipeline (csceval.rcc): cooperatives are read from the
config, unit rates come from summed counts, donor pools shrink their groups only when too few donors
result, the estimation sample refuses a design without post-period, and the synthetic control
detects a planted effect but not a null one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csceval.rcc import SYNTH_INFERENCE_COLUMNS, cooperative_panel, cooperatives, run_synth, synth_sample
from csceval.reference import la_codes

GM = [str(c) for c in range(350, 360)]
SPEC = {"waves": [{"name": "Greater Manchester", "start": "2022-05-01", "la_codes": GM},
                  {"name": "South East", "start": "2022-10-01", "la_codes": ["887", "845"]}]}
CONFIG = {"programmes": {"rcc": SPEC}, "exclusions": [{"la_codes": ["201", "420"], "reason": "tiny"}]}
PERIODS = pd.date_range("2012-04-01", periods=12, freq="YS-APR")
SETTINGS = {"seed": 1, "synthetic_control": {"placebo_in_time_shift": 2}, "synthetic_did": {"n_reps": 50}}


def la_panel(effect: float = 0.0, seed: int = 5) -> pd.DataFrame:
    """Counts per LA x year: a common national trend, LA-level rates, Poisson-like noise; ``effect`` is
    a relative change of GM members' counts from 2022-04-01 on."""
    rng = np.random.default_rng(seed)
    trend = 1 + 0.03 * np.arange(len(PERIODS)) + rng.normal(0, 0.02, len(PERIODS))
    rows = []
    for code in la_codes(2024):
        pop = float(rng.integers(20_000, 150_000))
        base = rng.uniform(40, 110)
        for t, p in enumerate(PERIODS):
            rate = base * trend[t] * (1 + (effect if code in GM and p >= pd.Timestamp("2022-04-01") else 0.0))
            num = float(rng.normal(rate * pop / 1e4, np.sqrt(rate * pop / 1e4)))
            rows.append((code, p, "cla_rate_per_10k", num / pop * 1e4, round(num), pop, ""))
    panel = pd.DataFrame(rows, columns=["la_code", "period", "outcome", "value", "numerator", "denominator", "status"])
    panel["value"] = panel["numerator"] / panel["denominator"] * 1e4
    return panel


def test_cooperatives_from_config():
    coops = cooperatives(SPEC)
    assert list(coops) == ["greater_manchester", "south_east"], "codes are slugs of the wave names, in order"
    assert coops["south_east"]["start"] == pd.Timestamp("2022-10-01")
    assert coops["greater_manchester"]["la_codes"] == GM
    with pytest.raises(ValueError, match="same|code"):
        cooperatives({"waves": [SPEC["waves"][0], {**SPEC["waves"][0], "name": "greater-manchester"}]})


def test_cooperative_rate_is_summed_counts_not_mean_of_rates():
    panel = la_panel()
    units, donors = cooperative_panel(panel, "greater_manchester", GM, config=CONFIG,
                                      donors={"min_units": 1, "exclude_own_region": True})
    gm = units[units.la_code.eq("greater_manchester")].set_index("period")
    members = panel[panel.la_code.isin(GM)].groupby("period")
    expected = members["numerator"].sum() / members["denominator"].sum() * 1e4
    np.testing.assert_allclose(gm["value"], expected.loc[gm.index], err_msg="unit rate must be sum(num)/sum(den)")
    mean_of_rates = members["value"].mean().loc[gm.index]
    assert np.abs(gm["value"] - mean_of_rates).max() > 1e-6, "test panel should make the two definitions differ"
    used = donors[donors.included]
    assert not used.la_code.isin(GM + ["887", "845", "201", "420"]).any(), "members, programme and excluded LAs are never donors"
    assert (used.groupby("unit_code").size() == 10).all(), "with min_units 1 donors have as many LAs as the cooperative"


def test_donor_groups_shrink_only_to_reach_min_units():
    panel = la_panel()
    _, donors = cooperative_panel(panel, "greater_manchester", GM, config=CONFIG,
                                  donors={"min_units": 25, "exclude_own_region": True})
    size = int(donors["group_size"].iloc[0])
    n_units = donors.loc[donors.included, "unit_code"].nunique()
    assert size < 10 and n_units >= 25, f"groups of {size} gave {n_units} donor units; need >= 25"
    _, bigger = cooperative_panel(panel, "greater_manchester", GM, config=CONFIG,
                                  donors={"min_units": 1, "exclude_own_region": True, "group_size": size + 1})
    assert bigger.loc[bigger.included, "unit_code"].nunique() < 25, "the largest group size with >= 25 donors must be kept"
    assert (bigger["group_size"] == size + 1).all(), "min_units reached at once: the configured group size is used"


def test_synth_sample_needs_a_post_period():
    units, _ = cooperative_panel(la_panel(), "greater_manchester", GM, config=CONFIG, donors={"min_units": 20})
    sample, notes = synth_sample(units, "cla_rate_per_10k", "greater_manchester", "2022-05-01", "2012-04-01", "2024-03-31")
    treated = sample[sample.treated.eq(1)]
    assert set(treated.la_code) == {"greater_manchester"}
    assert sorted(treated.period) == list(PERIODS[-2:]), "treated from the period containing the start (2022-23)"
    assert notes == []
    with pytest.raises(ValueError, match="greater_manchester.*2025-05-01.*no post-treatment period"):
        synth_sample(units, "cla_rate_per_10k", "greater_manchester", "2025-05-01", "2012-04-01", "2029-03-31")
    with pytest.raises(ValueError, match="fewer than 2 pre-periods"):
        synth_sample(units, "cla_rate_per_10k", "greater_manchester", "2013-05-01", "2012-04-01", "2024-03-31")


def test_synth_sample_drops_incomplete_donors_with_a_note():
    units, _ = cooperative_panel(la_panel(), "greater_manchester", GM, config=CONFIG, donors={"min_units": 20})
    donor = sorted(u for u in units.la_code.unique() if u != "greater_manchester")[0]
    units.loc[units.la_code.eq(donor) & units.period.eq(PERIODS[3]), "value"] = np.nan
    sample, notes = synth_sample(units, "cla_rate_per_10k", "greater_manchester", "2022-05-01", "2012-04-01", "2024-03-31")
    assert donor not in set(sample.la_code) and donor in notes[0]


@pytest.mark.parametrize("effect, significant", [(0.0, False), (0.4, True)], ids=["null", "plus-40-percent"])
def test_run_synth_detects_a_planted_effect_only(effect, significant):
    units, _ = cooperative_panel(la_panel(effect), "greater_manchester", GM, config=CONFIG,
                                 donors={"min_units": 20, "exclude_own_region": True})
    sample, _ = synth_sample(units, "cla_rate_per_10k", "greater_manchester", "2022-05-01", "2012-04-01", "2024-03-31")
    run = run_synth(sample, SETTINGS, programme="rcc", outcome="cla_rate_per_10k", code="greater_manchester")
    assert list(run.inference.columns) == SYNTH_INFERENCE_COLUMNS
    inf = run.inference.set_index("estimator")
    assert inf.loc["synthetic_control", "placebos_used"] >= 19, "enough placebos for a 5% test"
    p_sc, p_sdid = inf.loc["synthetic_control", "p_value"], inf.loc["synthetic_did", "p_value"]
    assert (p_sc <= 0.05) == significant, f"synthetic control p = {p_sc} with a relative effect {effect}"
    assert (p_sdid <= 0.05) == significant, f"synthetic DiD p = {p_sdid} with a relative effect {effect}"
    est = run.estimates
    assert set(est.estimator) == {"synthetic_control", "synthetic_did"} and (est.treated_unit == "greater_manchester").all()
    assert {"programme", "outcome", "aggregation", "estimate", "p_value", "n_treated", "n_control"} <= set(est.columns)
    w = run.weights.groupby("estimator")["weight"].sum()
    np.testing.assert_allclose(w, 1.0, atol=1e-6, err_msg="donor weights of each method sum to 1")


@pytest.mark.slow
def test_synth_figures_are_written_with_alt_text(tmp_path):
    from csceval.report.synth_figures import sdid_paths_figure
    from csceval.rcc import SYNTH_FIGURE_KINDS, write_synth_figures

    units, _ = cooperative_panel(la_panel(), "greater_manchester", GM, config=CONFIG, donors={"min_units": 20})
    sample, _ = synth_sample(units, "cla_rate_per_10k", "greater_manchester", "2022-05-01", "2012-04-01", "2024-03-31")
    run = run_synth(sample, {"synthetic_did": {"n_reps": 20}}, programme="rcc", outcome="cla_rate_per_10k",
                    code="greater_manchester")
    bases = [tmp_path / f"gm_cla_{kind}" for kind in SYNTH_FIGURE_KINDS]
    written = write_synth_figures(run, [f"{b}.{e}" for b in bases for e in ("png", "svg")], [f"{b}.txt" for b in bases],
                                  name="Greater Manchester", outcome="cla_rate_per_10k", synthetic=True)
    assert len(written) == 3 * len(SYNTH_FIGURE_KINDS)
    for b in bases:
        assert (b.with_suffix(".png")).stat().st_size > 0
        assert "true effect is zero" in b.with_suffix(".txt").read_text(), "synthetic runs must state the null truth"
    bars = sdid_paths_figure(run.sdid).axes[1].patches
    assert bars and min(r.get_width() for r in bars) > 100, "time-weight bars must be visible (width in days)"
