"""Sun-Abraham interaction-weighted event study (csceval.did.sun_abraham): fixest conventions and truth.

References: (1) an explicit dummy-variable regression with fixest's CRV1 factor and fixest's
aggregation weights, computed here independently; (2) pyfixest's port of fixest ``sunab`` on did2s's
df_het (tests/reference/sun_abraham/pyfixest_saturated_df_het.yaml; pyfixest checks it against R).
fixest's own printed base_stagg example could not be reproduced: base_stagg is only distributed in
fixest's .RData (see tests/reference/sun_abraham/README.md).
"""

import matplotlib

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from csceval.did import sun_abraham, twfe  # noqa: E402
from csceval.did._results import TIDY_COLUMNS  # noqa: E402
from helpers_panels import simulate_panel  # noqa: E402
from helpers_staggered import staggered_panel, true_event_time_effects, true_overall_effect  # noqa: E402

REF = Path(__file__).parent / "reference"


def _lsdv_sunab(df: pd.DataFrame, y: str = "y", covariates=(), ref: int = -1):
    """Saturated cohort x relative-period dummies + unit and period dummies, fixest CRV1 (K = k + T)."""
    d = df.reset_index(drop=True)
    treated = d["cohort_index"].notna()
    rel = (d["event_time"]).where(treated)
    cells = sorted({(int(g), int(e)) for g, e in zip(d.loc[treated, "cohort_index"], rel[treated]) if e != ref},
                   key=lambda c: (c[1], c[0]))
    D = pd.DataFrame({c: ((d["cohort_index"] == c[0]) & (rel == c[1])).astype(float) for c in cells})
    X = pd.concat([D, d[list(covariates)], pd.get_dummies(d["la_code"], dtype=float),
                   pd.get_dummies(d["period"], drop_first=True, dtype=float)], axis=1).to_numpy()
    yv = d[y].to_numpy()
    beta, *_ = np.linalg.lstsq(X, yv, rcond=None)
    e = yv - X @ beta
    bread = np.linalg.pinv(X.T @ X)
    g = pd.factorize(d["la_code"])[0]
    S = np.zeros((g.max() + 1, X.shape[1]))
    np.add.at(S, g, X * e[:, None])
    n, G, T = len(yv), g.max() + 1, d["period"].nunique()
    k = len(cells) + len(covariates)
    V = G / (G - 1) * (n - 1) / (n - (k + T)) * bread @ S.T @ S @ bread
    m = len(cells)
    counts = D.sum().to_numpy()
    return cells, beta[:m], V[:m, :m], counts


def test_matches_explicit_dummy_regression_with_fixest_conventions():
    df = staggered_panel(time_kind="int")
    df = df.drop(index=[7, 130, 400]).reset_index(drop=True)  # unbalanced
    res = sun_abraham(df, "y", covariates=["x"])
    cells, b, V, counts = _lsdv_sunab(df, covariates=["x"])
    cw = res.metadata["cell_weights"]
    np.testing.assert_allclose(cw["estimate"], b, atol=1e-9, err_msg="cohort x period CATTs differ from LSDV")
    np.testing.assert_allclose(cw["std_error"], np.sqrt(np.diag(V)), rtol=1e-8,
                               err_msg="CATT SEs differ from fixest CRV1 (K = k + T)")
    es = res.table("event_study").set_index("event_time")
    ev = np.array([c[1] for c in cells])
    for e in (0, 2, -3):
        w = np.where(ev == e, counts, 0.0)
        w = w / w.sum()
        assert es.loc[e, "estimate"] == pytest.approx(w @ b, abs=1e-9), f"IW estimate at e={e}: cohort-share weights"
        assert es.loc[e, "std_error"] == pytest.approx(np.sqrt(w @ V @ w), rel=1e-8), f"delta-method SE at e={e}"
    w = np.where(ev >= 0, counts, 0.0)
    w = w / w.sum()
    assert res.overall.estimate == pytest.approx(w @ b, abs=1e-9), "ATT = fixest agg='ATT' (post cells, count weights)"
    assert res.overall.std_error == pytest.approx(np.sqrt(w @ V @ w), rel=1e-8)
    ref_row = es.loc[-1]
    assert ref_row["estimate"] == 0 and bool(ref_row["reference"]) and pd.isna(ref_row["std_error"])


def test_matches_pyfixest_port_of_fixest_sunab_on_df_het():
    ref = yaml.safe_load((REF / "sun_abraham" / "pyfixest_saturated_df_het.yaml").read_text())
    d = pd.read_csv(REF / "data" / "df_het.csv.gz")
    d["la"] = d["unit"].astype(str)
    res = sun_abraham(d, "dep_var", unit="la", time="year", cohort="g")
    es = res.table("event_study").set_index("event_time")
    np.testing.assert_allclose(es.loc[ref["event_time"], "estimate"], ref["estimate"], rtol=0,
                               atol=ref["tolerance"]["estimate_abs"], err_msg="IW event-time estimates differ")
    np.testing.assert_allclose(es.loc[ref["event_time"], "std_error"], ref["std_error"],
                               rtol=ref["tolerance"]["std_error_rel"], err_msg="IW event-time SEs differ")


def test_recovers_dynamic_heterogeneous_effects_where_twfe_fails():
    df = staggered_panel()
    truth = true_event_time_effects(df)
    res = sun_abraham(df, "y")
    es = res.table("event_study")
    post = es[es["event_time"] >= 0].set_index("event_time")
    z = (post["estimate"] - truth.reindex(post.index)) / post["std_error"]
    assert (z.abs() < 3).all(), f"IW estimates more than 3 SE from the truth: {z[z.abs() >= 3]}"
    pre = es[(es["event_time"] < -1)]
    assert (pre["estimate"].abs() < 3 * pre["std_error"]).all(), "no anticipation: leads should be ~0"
    ov = true_overall_effect(df)
    assert abs(res.overall.estimate - ov) < 3 * res.overall.std_error, "ATT more than 3 SE from the truth"
    tw = twfe(df, "y")
    assert abs(tw.overall.estimate - ov) > 3 * tw.overall.std_error, "static TWFE should be badly biased here"


def test_last_treated_control_cohort():
    df = staggered_panel(time_kind="int")
    nt = df[df["first_treated"].notna()]
    with pytest.raises(ValueError, match="last_treated"):
        sun_abraham(nt, "y")
    res = sun_abraham(nt, "y", control_cohort="last_treated")
    last = nt["first_treated"].max()
    assert res.n_obs == int((nt["period"] < last).sum()), "periods from the control cohort's start on are dropped"
    truth = true_event_time_effects(nt[(nt["period"] < last) & (nt["first_treated"] < last)])
    post = res.table("event_study")
    post = post[post["event_time"] >= 0].set_index("event_time")
    z = (post["estimate"] - truth.reindex(post.index)) / post["std_error"]
    assert (z.abs() < 3).all(), "IW with the last-treated cohort as control should recover the truth"
    with pytest.raises(ValueError, match="control_cohort"):
        sun_abraham(df, "y", control_cohort="not_yet_treated")


def test_window_does_not_change_estimates():
    df = staggered_panel()
    full = sun_abraham(df, "y").table("event_study").set_index("event_time")
    win = sun_abraham(df, "y", leads=2, lags=3)
    es = win.table("event_study").set_index("event_time")
    assert list(es.index) == [-2, -1, 0, 1, 2, 3]
    np.testing.assert_allclose(es["estimate"], full.loc[es.index, "estimate"], atol=1e-12)
    assert win.overall.estimate == pytest.approx(sun_abraham(df, "y").overall.estimate)


def test_edge_cases():
    df = staggered_panel(time_kind="int")
    # a cohort treated in the first period is "always treated": excluded as fixest does
    first = df.copy()
    first.loc[first["la_code"].isin(["800", "801"]), "first_treated"] = 1.0
    with pytest.warns(UserWarning, match="always-treated"):
        res = sun_abraham(first, "y")
    assert res.n_obs == len(first) - 2 * 12
    # missing outcome cells are dropped and counted
    miss = df.copy()
    miss.loc[[3, 90], "y"] = np.nan
    assert sun_abraham(miss, "y").n_dropped_missing == 2
    # one treated unit
    one = df[df["first_treated"].isna() | (df["la_code"] == "800")]
    r1 = sun_abraham(one, "y")
    assert r1.n_treated == 1 and np.isfinite(r1.overall.estimate)
    # collinear / absorbed covariates
    with pytest.raises(ValueError, match="collinear"):
        sun_abraham(df.assign(z=df["la_code"].astype(float)), "y", covariates=["z"])
    with pytest.raises(ValueError, match="collinear"):
        sun_abraham(df.assign(x2=df["x"] * 2), "y", covariates=["x", "x2"])
    with pytest.raises(ValueError, match="no treated units"):
        sun_abraham(df.assign(first_treated=0.0), "y")


def test_homogeneous_effect_and_timestamps():
    df = simulate_panel()
    res = sun_abraham(df, "y")
    assert res.overall.estimate == pytest.approx(-5.0, abs=3 * res.overall.std_error)
    assert res.time_dtype.startswith("datetime64")


def test_tidy_summary_plot():
    res = sun_abraham(staggered_panel(), "y")
    tidy = res.tidy("ffc")
    assert list(tidy.columns) == list(TIDY_COLUMNS)
    assert tidy["estimator"].eq("sun_abraham").all() and tidy.iloc[-1]["aggregation"] == "overall"
    assert "fixest CRV1" in res.summary()
    assert isinstance(res.plot(), Figure)


def test_sparse_cross_products_equal_the_dense_qr_path(monkeypatch):
    """The sparse fit (no dense demeaned regressors, no pivoted QR) equals the dense path it replaces.

    Unbalanced panel with a covariate, so both the indicator and the dense covariate cross-products and
    the unit/period roles of the effects are exercised. The dense path is forced by disabling the
    sparse one; it demeans explicitly (sparse LU on the dummies) and drops columns by pivoted QR.
    """
    import sys

    mod = sys.modules["csceval.did.sun_abraham"]
    df = staggered_panel(time_kind="int").drop(index=[5, 77, 300, 301, 302]).reset_index(drop=True)
    wide = simulate_panel(n_units=12, n_periods=30, cohorts={10: 3, 18: 3}).drop(index=[4, 100]).reset_index(drop=True)
    for data in (df, wide):
        calls = []
        original = mod._sparse_within_if_full_rank
        monkeypatch.setattr(mod, "_sparse_within_if_full_rank", lambda *a: calls.append(1) or original(*a))
        fast = sun_abraham(data, "y", covariates=["x"])
        assert calls, "the sparse path must be tried"
        monkeypatch.setattr(mod, "_sparse_within_if_full_rank", lambda *a: None)
        dense = sun_abraham(data, "y", covariates=["x"])
        for tab in ("coefficients", "estimates"):
            a, b = getattr(fast, tab), getattr(dense, tab)
            scale = np.nanmax(np.abs(b["std_error"].to_numpy(float)))
            np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-10, atol=1e-10 * scale,
                                       err_msg=f"{tab}: sparse-path estimates differ from the dense demeaned regression")
            np.testing.assert_allclose(a["std_error"], b["std_error"], rtol=1e-10,
                                       err_msg=f"{tab}: sparse-path cluster scores or Gram matrix differ from the dense ones")
        assert list(fast.coefficients["term"]) == list(dense.coefficients["term"]), "the same columns must be kept"
