"""BJS imputation estimator (csceval.did.imputation) against R didimputation, theory and simulated truth.

Reference (tests/reference/imputation/didimputation_golden.yaml): R didimputation 0.5.0 estimates and
SEs (12 significant digits) on two simulated panels whose data are regenerated bit-for-bit.
"""

import matplotlib

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from csceval.did import imputation, twfe  # noqa: E402
from csceval.did._results import TIDY_COLUMNS  # noqa: E402
from csceval.did.imputation import _imputation_core  # noqa: E402
from helpers_staggered import staggered_panel, true_event_time_effects, true_overall_effect  # noqa: E402

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def golden() -> dict:
    return yaml.safe_load((REF / "imputation" / "didimputation_golden.yaml").read_text())["tested"]


def _panel(name: str) -> pd.DataFrame:
    d = pd.read_csv(REF / "data" / name)
    d["unit"] = d["unit"].astype(str)
    return d


@pytest.mark.parametrize("block, file, covariates", [
    ("base", "didimputation_panel.csv", None),
    ("covariate", "didimputation_covariate_panel.csv", ["x"]),
])
def test_matches_r_didimputation(golden, block, file, covariates):
    d = _panel(file)
    res = imputation(d, "y", unit="unit", time="time", cohort="first_treat", covariates=covariates, pretrends=False)
    g = golden[block]
    tol = golden["tolerance"]
    # R's values carry fixest's iterative fixed-effects error (~1e-7); ours are the exact least-squares solution
    assert res.overall.estimate == pytest.approx(g["overall"]["estimate"], abs=tol["estimate_abs"]), (
        f"{block}: overall ATT differs from didimputation"
    )
    assert res.overall.std_error == pytest.approx(g["overall"]["std_error"], rel=tol["std_error_rel"]), (
        f"{block}: overall BJS standard error differs from didimputation"
    )
    es = res.table("event_study").set_index("event_time")
    assert list(es.index) == g["event_study"]["horizon"], "horizons differ"
    np.testing.assert_allclose(es["estimate"], g["event_study"]["estimate"], rtol=0, atol=tol["estimate_abs"],
                               err_msg=f"{block}: horizon estimates differ from didimputation")
    np.testing.assert_allclose(es["std_error"], g["event_study"]["std_error"], rtol=tol["std_error_rel"],
                               err_msg=f"{block}: horizon SEs differ from didimputation")


def test_variance_without_never_treated_terms_is_smaller(golden):
    """didimputation 0.3 dropped the never-treated units' terms; the full (paper) variance is larger."""
    d = _panel("didimputation_panel.csv")
    u = pd.factorize(d["unit"])[0]
    t = d["time"].to_numpy() - 1
    treat = (d["first_treat"] > 0).to_numpy() & (d["time"] >= d["first_treat"]).to_numpy()
    cells = pd.factorize(pd.Series(list(zip(d["first_treat"], d["time"] - d["first_treat"]))))[0]
    full = _imputation_core(d["y"].to_numpy(), u, t, treat, cells, treat.astype(float), u)
    partial = _imputation_core(d["y"].to_numpy(), u, t, treat, cells, treat.astype(float), u,
                               variance_rows=(d["first_treat"] > 0).to_numpy())
    assert full.se[0] == pytest.approx(golden["base"]["overall"]["std_error"], rel=golden["tolerance"]["std_error_rel"])
    assert partial.se[0] < full.se[0], "leaving out never-treated units understates the variance"


def test_recovers_dynamic_heterogeneous_effects_where_twfe_fails():
    df = staggered_panel()
    truth = true_event_time_effects(df)
    res = imputation(df, "y")
    es = res.table("event_study")
    post = es[es["event_time"] >= 0].set_index("event_time")
    z = (post["estimate"] - truth.reindex(post.index)) / post["std_error"]
    assert (z.abs() < 3).all(), f"imputation horizon estimates more than 3 SE from the truth: {z[z.abs() >= 3]}"
    ov = true_overall_effect(df)
    assert abs(res.overall.estimate - ov) < 3 * res.overall.std_error, "overall ATT more than 3 SE from the truth"
    tw = twfe(df, "y")
    assert abs(tw.overall.estimate - ov) > 3 * tw.overall.std_error, "static TWFE should be badly biased here"


def test_pretrend_test_rows_and_metadata():
    df = staggered_panel()
    res = imputation(df, "y", pretrends=3)
    pre = res.metadata["pretrend_test"]
    assert pre["leads"] == (-1, -2, -3)
    es = res.table("event_study")
    assert list(es.loc[es["event_time"] < 0, "event_time"]) == [-3, -2, -1], "lead rows reported as negative horizons"
    assert 0 <= pre["p_value_f"] <= 1 and pre["df2"] == res.n_units - 1
    assert pre["p_value_f"] > 0.01, "no pre-trends in the simulated design: the joint test should not reject"
    # a violated parallel trend: treated units trend upward before treatment -> the test rejects
    bad = df.copy()
    treated_unit = bad["first_treated"].notna()
    bad.loc[treated_unit, "y"] += 0.8 * bad.loc[treated_unit, "period"].rank(method="dense")
    pre_bad = imputation(bad, "y", pretrends=3).metadata["pretrend_test"]
    assert pre_bad["p_value_f"] < 1e-3, "a strong pre-trend must be detected by the joint test"
    # leads beyond those observed are a clear error; all leads default
    with pytest.raises(ValueError, match="not observed"):
        imputation(df, "y", pretrends=[-40])
    assert imputation(df, "y", pretrends=False).metadata["pretrend_test"] is None


def test_pretrend_test_matches_lsdv_fixest_convention():
    """Lead coefficients from an explicit dummy regression; SEs with fixest's CRV1 factor (K = k + T)."""
    df = staggered_panel(time_kind="int")
    res = imputation(df, "y", pretrends=2)
    d = df[~(df["first_treated"].notna() & (df["period"] >= df["first_treated"]))].reset_index(drop=True)
    leads = pd.DataFrame({f"l{k}": (d["event_time"] == -k).astype(float) for k in (1, 2)})
    X = pd.concat([leads, pd.get_dummies(d["la_code"], dtype=float),
                   pd.get_dummies(d["period"], drop_first=True, dtype=float)], axis=1).to_numpy()
    y = d["y"].to_numpy()
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    e = y - X @ beta
    bread = np.linalg.pinv(X.T @ X)
    g = pd.factorize(d["la_code"])[0]
    S = np.zeros((g.max() + 1, X.shape[1]))
    np.add.at(S, g, X * e[:, None])
    n, G, T = len(y), g.max() + 1, d["period"].nunique()
    V = G / (G - 1) * (n - 1) / (n - (2 + T)) * bread @ S.T @ S @ bread
    rows = res.table("event_study").set_index("event_time")
    np.testing.assert_allclose(rows.loc[[-1, -2], "estimate"], beta[:2], atol=1e-10,
                               err_msg="lead coefficients differ from the dummy regression")
    np.testing.assert_allclose(rows.loc[[-1, -2], "std_error"], np.sqrt(np.diag(V)[:2]), rtol=1e-8,
                               err_msg="lead SEs differ from fixest's CRV1 convention")


def test_no_never_treated_drops_collinear_leads_and_unimputable_cells():
    df = staggered_panel(time_kind="int")
    nt = df[df["first_treated"].notna()]
    with pytest.warns(UserWarning, match="cannot be imputed"):
        res = imputation(nt, "y")
    assert res.metadata["n_dropped_unimputable"] > 0
    assert res.metadata["pretrend_test"]["dropped"], "with no never-treated units the farthest leads are collinear"
    assert np.isfinite(res.overall.std_error)


def test_edge_cases():
    df = staggered_panel(time_kind="int")
    first = df.copy()
    first.loc[first["la_code"].isin(["800"]), "first_treated"] = 1.0
    with pytest.warns(UserWarning, match="no untreated observation"):
        res = imputation(first, "y")
    assert res.metadata["dropped_units"] == ("800",)
    miss = df.copy()
    miss.loc[[5, 41], "y"] = np.nan
    assert imputation(miss, "y").n_dropped_missing == 2
    one = df[(df["first_treated"].isna()) | (df["la_code"] == "805")]
    assert imputation(one, "y").n_treated == 1
    with pytest.raises(ValueError, match="collinear"):
        imputation(df.assign(x2=df["x"] * 3.0), "y", covariates=["x", "x2"])
    with pytest.raises(ValueError, match="horizons"):
        imputation(df, "y", horizons=[99])
    with pytest.raises(ValueError, match="horizons are event times >= 0"):
        imputation(df, "y", horizons=[-1])
    sub = imputation(df, "y", horizons=[0, 2], pretrends=False)
    assert list(sub.table("event_study")["event_time"]) == [0, 2]


def test_tidy_summary_plot():
    res = imputation(staggered_panel(), "y", pretrends=2)
    tidy = res.tidy()
    assert list(tidy.columns) == list(TIDY_COLUMNS)
    assert tidy.iloc[-1]["aggregation"] == "overall" and tidy["estimator"].eq("imputation").all()
    assert tidy.loc[tidy["event_time"] < 0, "inference"].str.contains("pre-trend").all()
    assert "BJS" in res.summary()
    assert isinstance(res.plot(), Figure)
