"""Gardner two-stage DiD (csceval.did.two_stage) against R did2s, theory and simulated truth.

References (tests/reference/two_stage/did2s_df_het.yaml): R did2s outputs on did2s::df_het stored at
full precision in pyfixest's test data, the did2s README's printed static estimate, and the printed
weighted castle example of the did2s reference manual.
"""

import matplotlib

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from csceval.did import imputation, twfe, two_stage  # noqa: E402
from csceval.did._results import TIDY_COLUMNS  # noqa: E402
from csceval.did.two_stage import _two_stage_core  # noqa: E402
from helpers_staggered import staggered_panel, true_event_time_effects, true_overall_effect  # noqa: E402

REF = Path(__file__).parent / "reference"
SE_RTOL = 1e-6     # same df convention (none: did2s has no small-sample factor)
EST_ATOL = 1e-9


@pytest.fixture(scope="module")
def df_het() -> pd.DataFrame:
    d = pd.read_csv(REF / "data" / "df_het.csv.gz")
    d["treat"] = (d["g"] > 0) & (d["year"] >= d["g"])
    d["rel_year"] = np.where(d["g"] > 0, d["year"] - d["g"], -np.inf)
    return d


@pytest.fixture(scope="module")
def ref() -> dict:
    return yaml.safe_load((REF / "two_stage" / "did2s_df_het.yaml").read_text())


def _core(d: pd.DataFrame, X2: np.ndarray, covariates=None, weights=None, y="dep_var", fe="state", cluster="state",
          treat="treat", t="year"):
    codes = pd.factorize(d[fe])[0]
    return _two_stage_core(d[y].to_numpy(), codes, pd.factorize(d[t], sort=True)[0], ~d[treat].to_numpy(bool), X2,
                           pd.factorize(d[cluster])[0], covariates, weights=weights)


def test_static_matches_r_did2s(df_het, ref):
    r = ref["references"]["pyfixest_r_outputs"]["model1"]
    fit = _core(df_het, df_het["treat"].to_numpy(float)[:, None])
    assert fit.coef[0] == pytest.approx(r["estimate"][0], abs=EST_ATOL), "static two-stage estimate differs from did2s"
    assert np.sqrt(fit.vcov[0, 0]) == pytest.approx(r["std_error"][0], rel=SE_RTOL), (
        "GMM standard error differs from did2s"
    )
    printed = ref["references"]["readme_printed"]["printed"]
    assert round(fit.coef[0], 3) == printed["estimate"] and round(np.sqrt(fit.vcov[0, 0]), 4) == printed["std_error"], (
        "does not round to the did2s README's printed 2.152 (0.0476)"
    )


@pytest.mark.parametrize("model", ["model2", "model3"])
def test_event_study_matches_r_did2s(df_het, ref, model):
    r = ref["references"]["pyfixest_r_outputs"][model]
    terms = [float(t) for t in r["term"]]
    X2 = np.column_stack([(df_het["rel_year"] == v).to_numpy(float) for v in terms])
    cov = None
    if model == "model3":
        cov = np.random.default_rng(12345).normal(size=len(df_het))[:, None]
    fit = _core(df_het, X2, covariates=cov)
    np.testing.assert_allclose(fit.coef, r["estimate"], rtol=0, atol=EST_ATOL,
                               err_msg=f"{model}: event-study estimates differ from did2s")
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), r["std_error"], rtol=SE_RTOL,
                               err_msg=f"{model}: GMM standard errors differ from did2s")


def test_weighted_castle_example_matches_printed(ref):
    castle = pd.read_csv(REF / "data" / "castle.csv")
    castle["treat"] = castle["post"] == 1
    fit = _core(castle, castle["treat"].to_numpy(float)[:, None], weights=castle["popwt"].to_numpy(),
                y="l_homicide", fe="sid", cluster="sid")
    printed = ref["references"]["castle_weighted_printed"]["printed"]
    assert abs(fit.coef[0] - printed["estimate"]) <= 5e-7, "weighted castle estimate does not round to 0.075142"
    assert abs(np.sqrt(fit.vcov[0, 0]) - printed["std_error"]) <= 5e-6, "weighted castle SE does not round to 0.03538"


def test_public_api_equals_core_and_imputation_point_estimates(df_het):
    d = df_het.assign(la=df_het["unit"].astype(str))
    res = two_stage(d, "dep_var", unit="la", time="year", cohort="g")
    fit = _core(d, d["treat"].to_numpy(float)[:, None], fe="la", cluster="la")
    assert res.overall.estimate == pytest.approx(fit.coef[0], abs=1e-12)
    assert res.overall.std_error == pytest.approx(np.sqrt(fit.vcov[0, 0]), rel=1e-10)
    imp = imputation(d, "dep_var", unit="la", time="year", cohort="g", pretrends=False)
    assert res.overall.estimate == pytest.approx(imp.overall.estimate, abs=1e-10), (
        "two-stage and imputation point estimates are identical by construction"
    )
    es = res.table("event_study").set_index("event_time")
    ies = imp.table("event_study").set_index("event_time")
    common = ies.index.intersection(es.index)
    np.testing.assert_allclose(es.loc[common, "estimate"], ies.loc[common, "estimate"], atol=1e-10,
                               err_msg="event-time point estimates of the two imputation-type estimators differ")
    # pyfixest's did2s with unit effects and unit clusters gave 2.230482 (0.021408)
    assert res.overall.estimate == pytest.approx(2.230482, abs=5e-7)
    assert res.overall.std_error == pytest.approx(0.021408, abs=5e-7)


def test_recovers_dynamic_heterogeneous_effects_where_twfe_fails():
    df = staggered_panel()
    truth = true_event_time_effects(df)
    res = two_stage(df, "y")
    es = res.table("event_study")
    post = es[es["event_time"] >= 0].set_index("event_time")
    z = (post["estimate"] - truth.reindex(post.index)) / post["std_error"]
    assert (z.abs() < 3).all(), f"two-stage event-time estimates more than 3 SE from the truth: {z[z.abs() >= 3]}"
    pre = es[es["event_time"] < 0]
    assert (pre["estimate"].abs() < 3 * pre["std_error"]).all(), "pre-period residual means should be ~0"
    ov = true_overall_effect(df)
    assert abs(res.overall.estimate - ov) < 3 * res.overall.std_error, "overall ATT more than 3 SE from the truth"
    tw = twfe(df, "y")
    assert abs(tw.overall.estimate - ov) > 3 * tw.overall.std_error, (
        "static TWFE should be badly biased in this design (a wrong test design otherwise)"
    )


def test_window_reference_and_static_only():
    df = staggered_panel(time_kind="int")
    full = two_stage(df, "y")
    res = two_stage(df, "y", leads=3, lags=4, ref_period=-1)
    es = res.table("event_study")
    assert list(es["event_time"]) == [-3, -2, -1, 0, 1, 2, 3, 4]
    ref = es[es["event_time"] == -1].iloc[0]
    assert ref["estimate"] == 0 and pd.isna(ref["std_error"]) and bool(ref["reference"])
    f = full.table("event_study").set_index("event_time")
    r = es.set_index("event_time")
    np.testing.assert_allclose(r.loc[[0, 1, 2, 3, 4], "estimate"], f.loc[[0, 1, 2, 3, 4], "estimate"], atol=1e-10,
                               err_msg="post-period estimates must not depend on the window (indicators partition)")
    static = two_stage(df, "y", event_study=False)
    assert static.table("event_study").empty and static.overall.estimate == pytest.approx(full.overall.estimate)
    with pytest.raises(ValueError, match="outside the event window"):
        two_stage(df, "y", leads=2, lags=2, ref_period=-5)


def test_covariates_enter_first_stage_and_collinear_covariate_is_error():
    df = staggered_panel()
    res = two_stage(df, "y", covariates=["x"])
    assert res.metadata["first_stage_covariate_coef"]["x"] == pytest.approx(0.5, abs=0.15), (
        "first-stage covariate coefficient should be near its true 0.5"
    )
    bad = df.assign(x2=2 * df["x"] + 1)
    with pytest.raises(ValueError, match="collinear"):
        two_stage(bad, "y", covariates=["x", "x2"])
    const = df.assign(z=df["la_code"].astype(int) * 1.0)
    with pytest.raises(ValueError, match="absorbed|collinear"):
        two_stage(const, "y", covariates=["z"])


def test_edge_cases():
    df = staggered_panel(time_kind="int")
    # no never-treated units: the last cohort's treated periods have no untreated observation -> dropped
    nt = df[df["first_treated"].notna()]
    with pytest.warns(UserWarning, match="cannot be imputed"):
        res = two_stage(nt, "y")
    assert res.metadata["n_dropped_unimputable"] == int((nt["period"] >= nt["first_treated"].max()).sum())
    assert res.n_control == 0
    # a cohort treated in the first period: its units have no untreated observation
    first = df.copy()
    first.loc[first["la_code"].isin(["800", "801"]), "first_treated"] = 1.0
    with pytest.warns(UserWarning, match="no untreated observation"):
        res = two_stage(first, "y")
    assert set(res.metadata["dropped_units"]) == {"800", "801"}
    # missing outcome cells are dropped and counted
    miss = df.copy()
    miss.loc[[5, 40, 300], "y"] = np.nan
    assert two_stage(miss, "y").n_dropped_missing == 3
    # one treated unit still works (SEs are then unreliable: few-treated inference is elsewhere)
    one = df[(df["first_treated"].isna()) | (df["la_code"] == "800")]
    r1 = two_stage(one, "y")
    assert r1.n_treated == 1 and np.isfinite(r1.overall.std_error)
    # nothing treated / nothing untreated
    with pytest.raises(ValueError, match="no treated units"):
        two_stage(df.assign(first_treated=0.0), "y")
    with pytest.raises(ValueError, match="no untreated observations"):
        two_stage(df.assign(first_treated=1.0), "y")


def test_tidy_summary_plot():
    df = staggered_panel()
    res = two_stage(df, "y", ref_period=-1)
    tidy = res.tidy("ffc")
    assert list(tidy.columns) == list(TIDY_COLUMNS)
    assert set(tidy["aggregation"]) == {"event_study", "overall"}
    assert tidy["estimator"].eq("two_stage").all() and tidy.iloc[-1]["aggregation"] == "overall"
    assert "reference" in res.summary() and "did2s GMM" in res.summary()
    assert isinstance(res.plot(), Figure)
