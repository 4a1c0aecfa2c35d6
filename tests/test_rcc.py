"""RCC cooperative-level synthetic control pipeline (csceval.rcc): cooperatives are read from the
config, unit rates come from summed counts, donor pools shrink their groups only when too few donors
result, the estimation sample refuses a design without post-period, and the synthetic control
detects a planted effect but not a null one; the pooled estimate over both cooperatives is their
average and its placebo p-value rejects a planted effect but not a null one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csceval.rcc import (
    POOLED_COLUMNS,
    SYNTH_INFERENCE_COLUMNS,
    SYNTH_PLACEBO_COLUMNS,
    cooperative_panel,
    cooperatives,
    pool_cooperatives,
    run_synth,
    synth_sample,
)
from csceval.reference import la_codes

GM = [str(c) for c in range(350, 360)]
SPEC = {"waves": [{"name": "Greater Manchester", "start": "2022-05-01", "la_codes": GM},
                  {"name": "South East", "start": "2022-10-01", "la_codes": ["887", "845"]}]}
CONFIG = {"programmes": {"rcc": SPEC}, "exclusions": [{"la_codes": ["201", "420"], "reason": "tiny"}]}
PERIODS = pd.date_range("2012-04-01", periods=12, freq="YS-APR")
SETTINGS = {"seed": 1, "synthetic_control": {"placebo_in_time_shift": 2}, "synthetic_did": {"n_reps": 50}}


def la_panel(effect: float = 0.0, seed: int = 5, treated: tuple[str, ...] = tuple(GM)) -> pd.DataFrame:
    """Counts per LA x year: a common national trend, LA-level rates, Poisson-like noise; ``effect`` is
    a relative change of the ``treated`` LAs' counts (default: GM members) from 2022-04-01 on."""
    rng = np.random.default_rng(seed)
    trend = 1 + 0.03 * np.arange(len(PERIODS)) + rng.normal(0, 0.02, len(PERIODS))
    rows = []
    for code in la_codes(2024):
        pop = float(rng.integers(20_000, 150_000))
        base = rng.uniform(40, 110)
        for t, p in enumerate(PERIODS):
            rate = base * trend[t] * (1 + (effect if code in treated and p >= pd.Timestamp("2022-04-01") else 0.0))
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


# ------------------------------------------------------------------------------------ pooled estimate
def test_pooled_p_value_counts_placebo_averages_by_hand():
    """Two cooperatives with 3 and 2 placebo effects: the pooled estimate is the plain mean and the p-value
    counts, among the 3 x 2 placebo averages, those at least as far from 0 as the observed mean (+1 for the
    observed, over 1 + 6), as enumerated here independently."""
    import itertools

    inference = pd.DataFrame({"programme": "rcc", "outcome": "y", "estimator": "synthetic_control",
                              "treated_unit": ["a", "b"], "estimate": [3.0, 1.0]})
    sets = {"a": [0.5, -4.0, 2.0], "b": [1.0, -1.0]}
    placebos = pd.DataFrame([{"programme": "rcc", "outcome": "y", "estimator": "synthetic_control", "treated_unit": u,
                              "placebo": f"{u}{i}", "estimate": v} for u, vals in sets.items() for i, v in enumerate(vals)])
    pooled = pool_cooperatives(inference, placebos)
    assert list(pooled.columns) == POOLED_COLUMNS and len(pooled) == 1
    row = pooled.iloc[0]
    assert row.estimate == pytest.approx(2.0), "equal weights: (3 + 1) / 2"
    averages = [(x + y) / 2 for x, y in itertools.product(sets["a"], sets["b"])]  # 0.75 -0.25 -1.5 -2.5 1.5 0.5
    expected = (1 + sum(abs(m) >= 2.0 for m in averages)) / (1 + len(averages))
    assert row.p_value == pytest.approx(expected) == pytest.approx(2 / 7), "placebo averages with |mean| >= 2: only -2.5"
    assert row.placebo_combinations == 6 and row.weights == "a 0.5; b 0.5"
    no_placebos = pool_cooperatives(inference, placebos[placebos.treated_unit.eq("a")])
    assert np.isnan(no_placebos.p_value.iloc[0]) and "no placebo effects for ['b']" in no_placebos.inference.iloc[0]


def _pooled_run(effect: float) -> pd.DataFrame:
    """Both cooperatives of SPEC run on one panel in which every member LA's counts change by ``effect``."""
    panel = la_panel(effect, treated=tuple(c for w in SPEC["waves"] for c in w["la_codes"]))
    inference, placebos = [], []
    for code, coop in cooperatives(SPEC).items():
        units, _ = cooperative_panel(panel, code, coop["la_codes"], config=CONFIG,
                                     donors={"min_units": 20, "exclude_own_region": True})
        sample, _ = synth_sample(units, "cla_rate_per_10k", code, coop["start"], "2012-04-01", "2024-03-31")
        run = run_synth(sample, SETTINGS, programme="rcc", outcome="cla_rate_per_10k", code=code)
        assert list(run.placebos.columns) == SYNTH_PLACEBO_COLUMNS
        inference.append(run.inference)
        placebos.append(run.placebos)
    inference = pd.concat(inference, ignore_index=True)
    pooled = pool_cooperatives(inference, pd.concat(placebos, ignore_index=True)).set_index("estimator")
    means = inference.groupby("estimator")["estimate"].mean()
    np.testing.assert_allclose(pooled.loc[means.index, "estimate"], means, err_msg="pooled = mean of the two effects")
    return pooled


@pytest.mark.slow
@pytest.mark.parametrize("effect, significant", [(0.0, False), (0.3, True)], ids=["null", "plus-30-percent"])
def test_pooled_estimate_rejects_a_planted_effect_only(effect, significant):
    """Both cooperatives' LAs get the same relative effect (or none): the pooled placebo p-value of both methods
    must be <= 0.05 exactly when there is an effect, and the pooled estimate must have the effect's sign."""
    pooled = _pooled_run(effect)
    for method in ("synthetic_control", "synthetic_did"):
        p = pooled.loc[method, "p_value"]
        assert (p <= 0.05) == significant, f"{method}: pooled p = {p} with a relative effect {effect}"
        assert pooled.loc[method, "placebo_combinations"] >= 19 * 19, "each cooperative needs 19+ placebos"
    if significant:
        assert (pooled["estimate"] > 0).all(), "a positive planted effect must give a positive pooled estimate"


def test_rcc_headline_table_has_each_cooperative_and_the_pooled_rows(tmp_path):
    """The RCC headline table lists every cooperative's effect and the pooled one per outcome and method, passes
    the disclosure writer, states placebo inference in its notes and becomes a workbook sheet."""
    from csceval.disclosure import DisclosureRules
    from csceval.report.publication import POOLED_LABEL, rcc_headline_meta, rcc_headline_table, workbook_tables
    import openpyxl

    from csceval.report.workbook import to_markdown, write_workbook

    inference = pd.DataFrame([{c: np.nan for c in SYNTH_INFERENCE_COLUMNS} | {
        "programme": "rcc", "outcome": "cla_rate_per_10k", "treated_unit": u, "estimator": m, "estimate": e,
        "p_value": 0.5, "placebos_used": 20, "donor_units": 20, "post_periods": 2}
        for u, e in (("greater_manchester", 1.0), ("south_east", 3.0)) for m in ("synthetic_control", "synthetic_did")])
    placebos = pd.DataFrame([{"programme": "rcc", "outcome": "cla_rate_per_10k", "treated_unit": u, "estimator": m,
                              "placebo": str(k), "estimate": float(k - 2)}
                             for u in ("greater_manchester", "south_east") for m in ("synthetic_control", "synthetic_did")
                             for k in range(5)])
    pooled = pool_cooperatives(inference, placebos)
    names = {code: coop["name"] for code, coop in cooperatives(SPEC).items()}
    table = rcc_headline_table(inference, pooled, names)
    assert len(table) == 2 * 2 + 2, "two cooperatives and the pooled row, for each of the two methods"
    assert list(table.Cooperative[-2:]) == [POOLED_LABEL] * 2, "pooled rows come after the cooperatives"
    assert table.loc[table.Cooperative.eq(POOLED_LABEL), "Estimate"].tolist() == [2.0, 2.0]
    meta = rcc_headline_meta({"name": "Regional Care Cooperatives", "waves": [
        {**w, "date_status": "assumed"} for w in SPEC["waves"]]}, ["cla.csv"], synthetic=True)
    text = to_markdown(table, meta, rules=DisclosureRules.from_config({}))
    for fragment in ("Greater Manchester", POOLED_LABEL, "placebos in space", "SYNTHETIC DATA", "weighted 1/2"):
        assert fragment in text, f"headline table lacks {fragment!r}"
    sheets = workbook_tables(pd.DataFrame({"programme": []}), {"programmes": {}}, [], rcc={"rcc": (table, meta)})
    assert "rcc_headline" in sheets, "the RCC headline must become a workbook sheet"
    path = write_workbook({"rcc_headline": sheets["rcc_headline"]}, tmp_path / "t.xlsx", cover={"title": "t"},
                          rules=DisclosureRules.from_config({}))
    assert "rcc_headline" in openpyxl.load_workbook(path).sheetnames, "the sheet must survive the workbook writer"
