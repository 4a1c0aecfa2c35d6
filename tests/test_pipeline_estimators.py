"""The glue between the config and the estimators, Bacon and event-study figures of the pipeline:
settings reach the estimators, incomplete units are left out of the decomposition by name, and
the figures show what their captions promise."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from csceval.did.bacon import bacon_decomposition, complete_units  # noqa: E402
from csceval.did.registry import run_estimator  # noqa: E402
from csceval.report.bacon import robust_overall, write_bacon_figure  # noqa: E402
from csceval.report.event_study import write_event_study_figure  # noqa: E402
from csceval.report.figures import _fmt  # noqa: E402
from helpers_staggered import staggered_panel, true_overall_effect  # noqa: E402

SETTINGS = {"alpha": 0.05, "event_window": {"leads": 3, "lags": 2}}


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return staggered_panel().rename(columns={"y": "value"})


def test_callaway_santanna_settings_from_config_reach_the_estimator(panel):
    """base_period and control_group in estimation.callaway_santanna must change the fit; if they were
    ignored the universal-base event study would not be normalised to zero at e=-1."""
    universal = run_estimator("callaway_santanna", panel, {**SETTINGS, "callaway_santanna": {"base_period": "universal", "n_boot": 99}})
    varying = run_estimator("callaway_santanna", panel, {**SETTINGS, "callaway_santanna": {"base_period": "varying", "n_boot": 99}})
    es_u = universal.tidy().query("aggregation == 'event_study'").set_index("event_time")["estimate"]
    es_v = varying.tidy().query("aggregation == 'event_study'").set_index("event_time")["estimate"]
    assert es_u.loc[-1] == 0.0, "universal base period: e=-1 is the reference and must be exactly 0"
    assert es_v.loc[-1] != 0.0, "varying base period: e=-1 compares t-1 with t-2 and is estimated"
    assert "never" in run_estimator(
        "callaway_santanna", panel, {**SETTINGS, "callaway_santanna": {"control_group": "never_treated", "n_boot": 99}}
    ).summary().lower(), "control_group from config did not reach the estimator"


@pytest.mark.parametrize("name", ["callaway_santanna", "sun_abraham", "imputation", "two_stage"])
def test_every_robust_estimator_in_the_registry_recovers_the_overall_truth(panel, name):
    """Each robust estimator the config can name must get the overall ATT of a heterogeneous, dynamic
    design within 4 standard errors, where static TWFE is visibly off."""
    truth = true_overall_effect(staggered_panel())
    row = run_estimator(name, panel, {**SETTINGS, "callaway_santanna": {"n_boot": 199}}).tidy().query("aggregation == 'overall'").iloc[0]
    assert abs(row["estimate"] - truth) < 4 * row["std_error"], f"{name}: {row['estimate']:.3f} vs truth {truth:.3f}"
    twfe = run_estimator("twfe", panel, SETTINGS).tidy().query("aggregation == 'overall'").iloc[0]
    assert abs(twfe["estimate"] - truth) > 4 * twfe["std_error"], "the design must make static TWFE fail, or this test shows nothing"


def test_complete_units_leaves_out_and_names_units_with_gaps(panel):
    """An LA with a missing period (e.g. created by a boundary change) cannot enter the decomposition;
    it must be dropped and named, and every complete LA kept."""
    gappy = panel[~((panel["la_code"] == "800") & (panel["period"] == panel["period"].min()))]
    gappy.loc[(gappy["la_code"] == "801") & (gappy["period"] == gappy["period"].max()), "value"] = np.nan
    with pytest.raises(ValueError, match="balanced panel"):
        bacon_decomposition(gappy, "value")
    kept, dropped = complete_units(gappy, "value")
    assert dropped == ["800", "801"]
    assert kept["la_code"].nunique() == panel["la_code"].nunique() - 2
    assert bacon_decomposition(kept, "value").table["weight"].sum() == pytest.approx(1.0)


def test_bacon_figure_files_and_alt_text_name_the_robust_estimate_and_left_out_units(panel, tmp_path):
    """The report figure must come as PNG + SVG + alt text, and the alt text must carry what the figure
    shows: the TWFE estimate, the robust estimate it is set against, and the LAs left out."""
    result = bacon_decomposition(panel, "value")
    table = result.table.assign(twfe_estimate=result.twfe_estimate, units_left_out="838")
    estimates = pd.concat([
        run_estimator("callaway_santanna", panel, {**SETTINGS, "callaway_santanna": {"n_boot": 99}}).tidy(),
        run_estimator("twfe", panel, SETTINGS).tidy(),
    ])
    robust = robust_overall(estimates)
    assert robust[0] == "Callaway-Sant'Anna"
    paths = write_bacon_figure(table, robust=robust, programme_name="FFfC", outcome="cpp_rate_per_10k",
                               png=tmp_path / "b.png", svg=tmp_path / "b.svg", alt_text=tmp_path / "b.txt")
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)
    text = (tmp_path / "b.txt").read_text()
    assert f"is {_fmt(result.twfe_estimate)}" in text, "alt text must state the TWFE estimate"
    assert f"Callaway-Sant'Anna estimate, {_fmt(robust[1])}" in text, "alt text must state the robust estimate"
    assert "838" in text, "alt text must name the LA left out"


def test_robust_overall_is_none_without_a_robust_estimator(panel):
    """With only TWFE run there is nothing to set against it: no dotted line rather than a wrong one."""
    assert robust_overall(run_estimator("twfe", panel, SETTINGS).tidy()) is None


def test_event_study_figure_is_cut_to_the_configured_window(panel, tmp_path):
    """Callaway-Sant'Anna reports every event time; the overlay must show only -leads..lags, or the
    binned estimators' end points would sit next to unbinned far-out event times."""
    tables = [run_estimator(n, panel, {**SETTINGS, "callaway_santanna": {"n_boot": 99}}).tidy().assign(estimator=n)
              for n in ("event_study_twfe", "callaway_santanna")]
    cs = tables[1].query("aggregation == 'event_study'")
    assert cs["event_time"].min() < -3, "the panel must have event times outside the window for this test to mean anything"
    write_event_study_figure(tables, None, programme_name="FFfC", outcome="cpp_rate_per_10k", png=tmp_path / "e.png",
                             svg=tmp_path / "e.svg", alt_text=tmp_path / "e.txt", window=(3, 2))
    text = (tmp_path / "e.txt").read_text()
    assert "-5" not in text and "-4 " not in text, f"event times outside the window leaked into the figure: {text}"


def test_imputation_pretrend_test_with_more_leads_than_clusters_warns_instead_of_failing():
    """With 7 LAs and 8 leads the clustered covariance of the leads is singular: the joint Wald test does
    not exist. It must be reported as missing with a warning, not crash the estimator (the wild bootstrap
    calls it once per cluster) and not print a meaningless 1e14."""
    from csceval.did.imputation import imputation

    d = staggered_panel()
    small = d[d["la_code"].isin(d["la_code"].unique()[::8])]
    with pytest.warns(UserWarning, match="pre-trend Wald statistic is not computed"):
        result = imputation(small, "y")
    assert np.isnan(result.metadata["pretrend_test"]["wald_chi2"])
    assert result.overall.estimate == pytest.approx(imputation(small, "y", pretrends=False).overall.estimate), (
        "the overall estimate must not depend on the pre-trend test"
    )


def test_inference_tests_the_robust_estimators_by_default_with_a_confidence_set(panel):
    """The headline rests on randomization inference: it must test Callaway-Sant'Anna (not the biased TWFE)
    through the exact linear shortcut, so it comes with a confidence set, even when one LA lacks a period
    (as Dorset does): CS leaves that LA out, so the permutations must too."""
    from csceval.did.registry import run_inference

    gappy = panel[~((panel["la_code"] == "800") & (panel["period"] == panel["period"].min()))]
    settings = {"n_permutations": 199, "n_boot": 199, "seed": 3}
    ri = run_inference("randomization", gappy, settings, estimation={"callaway_santanna": {"method": "dr", "base_period": "universal"}})
    row = ri.tidy().iloc[0]
    assert row["estimator"] == "callaway_santanna" and ri.method == "fast-linear"
    assert np.isfinite(row["ci_lower"]) and row["ci_lower"] < row["estimate"] < row["ci_upper"]
    cs = run_estimator("callaway_santanna", gappy, {**SETTINGS, "callaway_santanna": {"n_boot": 99}}).overall.estimate
    assert row["estimate"] == pytest.approx(cs), "the permutation test must be about the estimate the table reports"
    wb = run_inference("wild_bootstrap", panel, settings)
    assert wb.tidy().iloc[0]["estimator"] == "imputation"
    with pytest.raises(ValueError, match="not available for 'sun_abraham'"):
        run_inference("wild_bootstrap", panel, {**settings, "estimator": {"wild_bootstrap": "sun_abraham"}})


def test_the_plan_lists_the_estimator_the_headline_inference_tests_first():
    """The analysis plan marks its first estimator as the headline: that must be the one randomization
    inference tests (Callaway-Sant'Anna by default), not whichever estimator the config lists first."""
    from csceval.did.registry import headline_first

    listed = ["twfe", "event_study_twfe", "callaway_santanna", "imputation"]
    assert headline_first(listed, {}, "randomization")[0] == "callaway_santanna"
    assert headline_first(listed, {"estimator": {"randomization": "twfe"}}, "randomization")[0] == "twfe"
    assert headline_first(listed, {}, "wild_bootstrap")[0] == "imputation"
    assert headline_first(listed, {}, "cluster_robust") == listed, "no single estimator: keep the config's order"
    assert sorted(headline_first(listed, {}, "randomization")) == sorted(listed)
