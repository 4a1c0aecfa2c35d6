"""Tests of the static and event-study TWFE estimators, the shared result object and the figures.

The simulated panels (tests/helpers_panels.py) carry known effects, so a wrong estimator fails.
"""

import matplotlib

matplotlib.use("Agg")

import dataclasses  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import statsmodels.api as sm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats  # noqa: E402

from csceval.did import EstimationResult, event_study_twfe, twfe  # noqa: E402
from csceval.did._results import TIDY_COLUMNS  # noqa: E402
from csceval.did._within import _two_way_effects, _two_way_within  # noqa: E402
from csceval.report.figures import alt_text_event_study, event_study_figure, save_figure  # noqa: E402
from csceval.report.style import PALETTE  # noqa: E402
from helpers_panels import constant_effect, simulate_panel  # noqa: E402

TRUE_EFFECT = -5.0


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    """60 LAs x 12 quarters, cohorts at periods 4, 6, 8 (8 LAs each), 36 never treated, effect -5."""
    return simulate_panel()


def treated_indicator(df: pd.DataFrame) -> pd.Series:
    return (df["cohort_index"].notna() & (df["event_time"] >= 0)).astype(float)


def lsdv_cluster(df: pd.DataFrame, regressors: pd.DataFrame):
    """OLS with unit and period dummies by statsmodels, clustered by unit (CR1, t(G-1)),
    plus the same covariance computed by hand. Returns (statsmodels result, explicit covariance)."""
    X = pd.concat(
        [
            regressors.reset_index(drop=True),
            pd.get_dummies(df["la_code"], dtype=float).reset_index(drop=True),
            pd.get_dummies(df["period"], drop_first=True, dtype=float).reset_index(drop=True),
        ],
        axis=1,
    ).to_numpy()
    y = df["y"].to_numpy()
    groups = pd.factorize(df["la_code"])[0]
    res = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    # explicit CR1: c (X'X)^-1 [sum_g X_g' e_g e_g' X_g] (X'X)^-1, c = G/(G-1) (n-1)/(n-K)
    n, K = X.shape
    G = len(np.unique(groups))
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    e = y - X @ beta
    xtx_inv = np.linalg.inv(X.T @ X)
    meat = np.zeros((K, K))
    for g in np.unique(groups):
        s = X[groups == g].T @ e[groups == g]
        meat += np.outer(s, s)
    c = G / (G - 1) * (n - 1) / (n - K)
    return res, c * xtx_inv @ meat @ xtx_inv, c


# --------------------------------------------------------------------------- static TWFE
def test_twfe_recovers_homogeneous_effect(panel):
    res = twfe(panel, "y")
    est, se = res.overall.estimate, res.overall.std_error
    assert abs(est - TRUE_EFFECT) < 3 * se, (
        f"TWFE estimate {est:.3f} is more than 3 SE ({se:.3f}) from the true homogeneous effect -5: "
        "with a constant effect TWFE is unbiased, so the regression or the treatment indicator is wrong"
    )
    assert res.overall.ci_lower < TRUE_EFFECT < res.overall.ci_upper, (
        f"95% CI [{res.overall.ci_lower:.3f}, {res.overall.ci_upper:.3f}] misses the true effect -5 on the seeded "
        "panel whose estimate is within 3 SE: the interval construction is wrong"
    )
    assert (res.n_treated, res.n_control, res.n_obs, res.n_dropped_missing) == (24, 36, 720, 0), (
        "counts wrong: the panel has 24 treated LAs (3 cohorts x 8), 36 never treated, 720 rows, none missing; got "
        f"{(res.n_treated, res.n_control, res.n_obs, res.n_dropped_missing)}"
    )


@pytest.mark.parametrize("variant", ["balanced", "unbalanced_with_covariate"])
def test_twfe_equals_statsmodels_lsdv_cluster_cr1(panel, variant):
    df = panel.copy()
    covariates = None
    if variant == "unbalanced_with_covariate":
        # 5 LAs created later (start in period 3) and a few suppressed cells; adjust for x
        late = df["la_code"].isin(df["la_code"].unique()[-5:]) & (df["period"] < df["period"].unique()[3])
        df = df[~late]
        df.loc[df.sample(9, random_state=3).index, "y"] = np.nan
        covariates = ["x"]
    res = twfe(df, "y", covariates=covariates)
    used = df[df["y"].notna()].reset_index(drop=True)
    regs = pd.DataFrame({"treated": treated_indicator(used)})
    if covariates:
        regs["x"] = used["x"]
    sm_res, v_explicit, c = lsdv_cluster(used, regs)

    rel = lambda a, b: abs(a - b) / abs(b)  # noqa: E731
    assert rel(res.overall.estimate, sm_res.params[0]) < 1e-8, (
        f"TWFE point estimate {res.overall.estimate!r} differs from the dummy-variable OLS {sm_res.params[0]!r}: "
        "the within transformation is not the two-way fixed effects regression"
    )
    assert rel(res.overall.std_error, sm_res.bse[0]) < 1e-8, (
        f"clustered SE {res.overall.std_error!r} differs from statsmodels' CR1 {sm_res.bse[0]!r}: the small-sample "
        "correction is not G/(G-1)*(n-1)/(n-K) with K counting the unit and period effects"
    )
    assert rel(res.overall.std_error, np.sqrt(v_explicit[0, 0])) < 1e-8, (
        "clustered SE differs from the hand-computed CR1 sandwich: the documented correction is not what is applied"
    )
    assert rel(res.metadata["small_sample_factor"], c) < 1e-12, (
        f"metadata small_sample_factor {res.metadata['small_sample_factor']} != G/(G-1)*(n-1)/(n-K) = {c}: "
        "the reported correction does not describe the covariance"
    )
    if covariates:
        coef_x = res.coefficients.set_index("term").loc["x"]
        assert rel(coef_x["estimate"], sm_res.params[1]) < 1e-8 and rel(coef_x["std_error"], sm_res.bse[1]) < 1e-8, (
            "covariate coefficient or SE differs from the dummy-variable OLS"
        )
    G = used["la_code"].nunique()
    assert res.metadata["df_t"] == G - 1 and f"t({G - 1})" in res.inference, (
        f"inference must use t(G-1)=t({G - 1}); metadata says df {res.metadata['df_t']}, text {res.inference!r}"
    )
    assert rel(res.overall.p_value, sm_res.pvalues[0]) < 1e-6, (
        f"p-value {res.overall.p_value} differs from statsmodels' t(G-1) p-value {sm_res.pvalues[0]}"
    )
    lo, hi = sm_res.conf_int()[0]
    assert rel(res.overall.ci_lower, lo) < 1e-8 and rel(res.overall.ci_upper, hi) < 1e-8, (
        f"CI {res.overall.ci_lower, res.overall.ci_upper} differs from statsmodels' t(G-1) CI {(lo, hi)}"
    )


def test_twfe_alpha_changes_interval_width(panel):
    r95, r90 = twfe(panel, "y"), twfe(panel, "y", alpha=0.10)
    G = 60
    ratio = (r90.overall.ci_upper - r90.overall.ci_lower) / (r95.overall.ci_upper - r95.overall.ci_lower)
    expected = stats.t.ppf(0.95, G - 1) / stats.t.ppf(0.975, G - 1)
    assert abs(ratio - expected) < 1e-10, f"90%/95% CI width ratio {ratio} != t quantile ratio {expected}: alpha ignored"


def test_twfe_heterogeneous_effects_biased_negative_weights():
    """Early cohort with a big growing effect, late cohort with none: the textbook TWFE failure.

    The target is the ATT averaged over treated cells (the "simple" aggregation of group-time
    effects). TWFE uses the early cohort's already-treated periods as controls for the late cohort,
    so the early cohort's growth is subtracted and some treated cells get negative weight.
    """
    effect = lambda e, g: 2.0 * (e + 1) if g < 5 else 0.0  # noqa: E731
    df = simulate_panel(cohorts={2: 15, 8: 15}, effect=effect, noise_sd=1.0)
    treated = treated_indicator(df).astype(bool)
    true_att = df.loc[treated, "true_effect"].mean()
    res = twfe(df, "y", covariates=["x"])
    bias = res.overall.estimate - true_att
    assert bias < -3 * res.overall.std_error and abs(bias) > 0.5 * abs(true_att), (
        f"expected TWFE to be visibly biased downward under heterogeneous, growing effects (true ATT {true_att:.2f}); "
        f"got estimate {res.overall.estimate:.2f} (SE {res.overall.std_error:.2f}). If this passes silently in future, "
        "the simulation no longer has the forbidden-comparison structure"
    )

    # Noise-free: by Frisch-Waugh-Lovell the estimate is sum_w w_it tau_it over treated cells, with
    # w = residualised D / sum(residualised D * D); some weights are negative.
    clean = simulate_panel(cohorts={2: 15, 8: 15}, effect=effect, noise_sd=0.0, x_coef=0.0)
    d = treated_indicator(clean)
    fe = pd.concat([pd.get_dummies(clean["la_code"], dtype=float), pd.get_dummies(clean["period"], drop_first=True, dtype=float)], axis=1).to_numpy()
    d_tilde = d.to_numpy() - fe @ np.linalg.lstsq(fe, d.to_numpy(), rcond=None)[0]
    w = d_tilde / (d_tilde @ d.to_numpy())
    on = d.to_numpy() == 1
    implied = float(w[on] @ clean["true_effect"].to_numpy()[on])
    est = twfe(clean, "y").overall.estimate
    assert abs(est - implied) < 1e-8 * max(1.0, abs(implied)), (
        f"noise-free TWFE {est} != FWL weighted sum of true effects {implied}: estimator is not the TWFE regression"
    )
    assert abs(w[on].sum() - 1) < 1e-10 and (w[on] < 0).any(), (
        "TWFE weights on treated cells should sum to 1 with some negative (late periods of the early cohort); "
        f"sum {w[on].sum():.6f}, min {w[on].min():.4f}"
    )


# --------------------------------------------------------------------------- event study
def test_event_study_recovers_dynamic_homogeneous_effect():
    df = simulate_panel(effect=lambda e, g: e + 1.0)
    res = event_study_twfe(df, "y")
    es = res.table("event_study").set_index("event_time")
    assert list(es.index) == list(range(-8, 8)), f"full window should be -8..7 for cohorts 4,6,8 of 12 periods, got {list(es.index)}"
    assert es.loc[-1, "reference"] and es.loc[-1, "estimate"] == 0 and np.isnan(es.loc[-1, "std_error"]), (
        "the reference row (event time -1) must be present with estimate 0, missing SE and reference=True"
    )
    for e, row in es.drop(index=-1).iterrows():
        truth = e + 1.0 if e >= 0 else 0.0
        assert abs(row["estimate"] - truth) < 3 * row["std_error"], (
            f"event time {e}: estimate {row['estimate']:.3f} is more than 3 SE ({row['std_error']:.3f}) from the true "
            f"{truth}: the relative-time indicators are misaligned or mis-coded"
        )
    post = es[(es.index >= 0)]
    names = [f"event_time[{e}]" for e in post.index]
    w = np.full(len(names), 1 / len(names))
    se = np.sqrt(w @ res.vcov.loc[names, names].to_numpy() @ w)
    assert abs(res.overall.estimate - post["estimate"].mean()) < 1e-10 and abs(res.overall.std_error - se) < 1e-10, (
        "overall must be the equally weighted mean of the post coefficients with SE sqrt(w'Vw)"
    )


def test_event_study_binning_and_trimming():
    # effect constant from event time 2 on, so the binned lag-2 endpoint is exactly identified
    df = simulate_panel(effect=lambda e, g: float(min(e, 2) + 1))
    binned = event_study_twfe(df, "y", leads=3, lags=2)
    es = binned.table("event_study").set_index("event_time")
    assert list(es.index) == [-3, -2, -1, 0, 1, 2], f"window should be -3..2, got {list(es.index)}"
    rel = df["event_time"]
    assert binned.metadata["binned_observations"] == {-3: int((rel < -3).sum()), 2: int((rel > 2).sum())}, (
        "binned observation counts do not match the treated observations beyond the window"
    )
    assert es.loc[2, "n_obs"] == int((rel >= 2).sum()), "the lag-2 endpoint must pool every event time >= 2"
    assert abs(es.loc[2, "estimate"] - 3.0) < 3 * es.loc[2, "std_error"], (
        f"binned endpoint {es.loc[2, 'estimate']:.3f} should recover the constant effect 3 beyond event time 2"
    )
    trimmed = event_study_twfe(df, "y", leads=3, lags=2, bin_endpoints=False)
    n_out = int(((rel < -3) | (rel > 2)).sum())
    assert trimmed.metadata["n_dropped_outside_window"] == n_out and trimmed.n_obs == len(df) - n_out, (
        f"bin_endpoints=False must drop the {n_out} treated observations outside the window; "
        f"dropped {trimmed.metadata['n_dropped_outside_window']}, n_obs {trimmed.n_obs}"
    )
    with pytest.raises(ValueError, match="ref_period"):
        event_study_twfe(df, "y", leads=3, lags=2, ref_period=-5)


def test_event_study_no_never_treated_full_window_is_collinear():
    df = simulate_panel(n_units=30, cohorts={4: 10, 6: 10, 8: 10})
    with pytest.raises(ValueError, match="never-treated"):
        event_study_twfe(df, "y")
    res = event_study_twfe(df, "y", leads=3, lags=3)  # binning endpoints restores identification
    assert res.n_control == 0 and np.isfinite(res.overall.estimate), (
        "with only not-yet-treated comparisons a binned window should be estimable"
    )


# --------------------------------------------------------------------------- data handling
def test_unbalanced_panel_and_missing_cells(panel):
    df = panel.copy()
    new_las = df["la_code"].unique()[[0, 30, 59]]  # one treated, two never treated LAs created in period 5
    df = df[~(df["la_code"].isin(new_las) & (df["period"] < df["period"].unique()[5]))].reset_index(drop=True)
    missing_idx = df.sample(7, random_state=11).index
    df.loc[missing_idx, "y"] = np.nan
    res = twfe(df, "y")
    assert res.n_dropped_missing == 7 and res.n_obs == len(df) - 7, (
        f"7 NaN outcome cells must be dropped and counted: n_dropped_missing={res.n_dropped_missing}, "
        f"n_obs={res.n_obs} of {len(df)} rows"
    )
    same = twfe(df.dropna(subset=["y"]), "y")
    assert abs(res.overall.estimate - same.overall.estimate) < 1e-12, "dropping NaN cells must equal pre-filtering"
    assert abs(res.overall.estimate - TRUE_EFFECT) < 3 * res.overall.std_error, (
        f"unbalanced panel estimate {res.overall.estimate:.3f} not within 3 SE of -5"
    )
    es = event_study_twfe(df, "y", leads=3, lags=3)
    assert es.n_dropped_missing == 7, "event study must count dropped NaN cells too"


def test_integer_time_and_zero_cohort_match_timestamps(panel):
    ints = simulate_panel(time_kind="int")
    ints["first_treated"] = ints["first_treated"].fillna(0)  # 0 = never treated
    r_int, r_ts = twfe(ints, "y"), twfe(panel, "y")
    assert abs(r_int.overall.estimate - r_ts.overall.estimate) < 1e-10, (
        "integer periods with cohort 0 for never treated must give the same estimate as Timestamps with NaT"
    )
    tidy = event_study_twfe(ints, "y", leads=2, lags=2).tidy()
    assert str(tidy["cohort"].dtype) == "Int64", f"integer time gives Int64 cohort/period in tidy, got {tidy['cohort'].dtype}"


def test_cohort_between_periods_maps_to_next_observed_period(panel):
    shifted = panel.copy()
    # a start date inside a quarter (e.g. 15 May) is first treated in the next quarter start
    shifted["first_treated"] = shifted["first_treated"] - pd.Timedelta(days=45)
    exact = panel.copy()
    r_shift, r_exact = twfe(shifted, "y"), twfe(exact, "y")
    assert abs(r_shift.overall.estimate - r_exact.overall.estimate) < 1e-12, (
        "a cohort date between observed periods must map to the first observed period on or after it"
    )
    cmap = r_shift.metadata["cohort_map"]
    assert not cmap["exact"].any() and any("mapped" in n for n in r_shift.metadata["notes"]), (
        "inexact cohort mapping must be recorded in cohort_map and the notes"
    )


def _no_treated(df):
    out = df.copy()
    out["first_treated"] = pd.NaT
    return out


def _no_comparison(df):
    out = df[df["la_code"].isin(df["la_code"].unique()[:20])].copy()
    out["first_treated"] = out["period"].unique()[5]  # everybody treated at once, nobody left untreated
    return out


def _all_missing(df):
    out = df.copy()
    out["y"] = np.nan
    return out


def _text_outcome(df):
    out = df.copy()
    out["y"] = out["y"].round(1).astype(str)
    out.loc[out.index[:3], "y"] = "c"  # EES suppression symbol
    return out


def _duplicate(df):
    return pd.concat([df, df.iloc[[5, 17]]], ignore_index=True)


def _missing_column(df):
    return df.drop(columns=["first_treated"])


@pytest.mark.parametrize("estimator", [twfe, event_study_twfe], ids=["twfe", "event_study_twfe"])
@pytest.mark.parametrize(
    "corrupt, message",
    [
        (_missing_column, "missing column.*first_treated"),
        (_no_treated, "no treated units"),
        (_no_comparison, "no never-treated or not-yet-treated comparison"),
        (_all_missing, "'y' is missing .* in all"),
        (_text_outcome, "outcome column 'y' must be numeric"),
        (_duplicate, "duplicate unit x time rows"),
    ],
    ids=["missing_column", "no_treated", "no_comparison", "all_missing", "text_outcome", "duplicates"],
)
def test_clear_errors(panel, estimator, corrupt, message):
    with pytest.raises(ValueError, match=message):
        estimator(corrupt(panel), "y")


def test_time_invariant_covariate_is_a_clear_error(panel):
    df = panel.copy()
    df["region"] = df["la_code"].astype(int) % 3
    with pytest.raises(ValueError, match="absorbed"):
        twfe(df, "y", covariates=["region"])


# --------------------------------------------------------------------------- result object
def test_tidy_contract(panel):
    res = event_study_twfe(panel, "y", leads=3, lags=3)
    tidy = res.tidy(programme="ffc")
    assert list(tidy.columns) == list(TIDY_COLUMNS), f"tidy columns must be exactly {TIDY_COLUMNS}, got {list(tidy.columns)}"
    expected = {
        "event_time": "Int64", "n_treated": "Int64", "n_control": "Int64", "estimate": "float64",
        "std_error": "float64", "ci_lower": "float64", "ci_upper": "float64", "p_value": "float64",
    }
    wrong = {c: str(tidy[c].dtype) for c, d in expected.items() if str(tidy[c].dtype) != d}
    assert not wrong, f"tidy dtypes wrong: {wrong}"
    assert pd.api.types.is_datetime64_any_dtype(tidy["cohort"]) and pd.api.types.is_datetime64_any_dtype(tidy["period"]), (
        "cohort/period must carry the input's Timestamp dtype even when missing"
    )
    assert tidy["cohort"].isna().all() and tidy["period"].isna().all(), "TWFE has no cohort/period cells: must be missing"
    for col in ("programme", "outcome", "estimator", "aggregation", "inference"):
        assert pd.api.types.is_string_dtype(tidy[col]), f"{col} must be a text column, got {tidy[col].dtype}"
    assert (tidy["programme"] == "ffc").all() and (tidy["estimator"] == "event_study_twfe").all()
    assert list(tidy["aggregation"]) == ["event_study"] * 7 + ["overall"], "7 event-study rows then the overall row"
    assert tidy["event_time"].iloc[-1] is pd.NA and list(tidy["event_time"].iloc[:7]) == list(range(-3, 4))
    ref = tidy[tidy["event_time"] == -1].iloc[0]
    assert ref["estimate"] == 0 and pd.isna(ref["std_error"]) and pd.isna(ref["p_value"]) and "reference" in ref["inference"], (
        "reference row must have estimate 0, missing SE/p and say it is a normalised reference"
    )
    assert "reference" not in tidy.columns and "reference" in res.estimates.columns

    static = twfe(panel, "y").tidy()
    assert list(static.columns) == list(TIDY_COLUMNS) and len(static) == 1 and static["aggregation"].iloc[0] == "overall", (
        "static TWFE tidy must be exactly one overall row"
    )
    assert static["programme"].isna().all(), "programme must be missing (not invented) when not given"
    assert "cluster-robust" in static["inference"].iloc[0] and "CR1" in static["inference"].iloc[0]


def test_result_is_immutable_and_summary_and_plot(panel):
    res = twfe(panel, "y")
    assert isinstance(res, EstimationResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.n_obs = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        res.metadata["n_clusters"] = 0  # type: ignore[index]
    text = res.summary()
    assert isinstance(text, str) and "twfe" in text and "Static TWFE" in text and "y" in text, (
        "summary() must be a string naming the estimator and outcome"
    )
    assert "720" in text and "cluster-robust" in text, "summary header must show N obs and the inference"
    es = event_study_twfe(panel, "y", leads=2, lags=2)
    assert "event_study_twfe" in es.summary() and "reference" in es.summary()
    for r in (res, es):
        fig = r.plot()
        assert isinstance(fig, Figure), f"plot() of {r.estimator} must return a matplotlib Figure, got {type(fig)}"


# --------------------------------------------------------------------------- figures
def _series():
    a = pd.DataFrame({"event_time": [-2, -1, 0, 1], "estimate": [-1.2, 0.0, -3.1, -4.0],
                      "ci_lower": [-2.0, np.nan, -5.0, -6.0], "ci_upper": [0.8, np.nan, -1.2, -2.0]})
    b = a.assign(estimate=a["estimate"] + 0.2)
    truth = pd.DataFrame({"event_time": [-2, -1, 0, 1], "true_value": [0.0, 0.0, -3.0, -4.0]})
    return {"TWFE": a, "Callaway-Sant'Anna": b}, truth


def test_event_study_figure_and_alt_text():
    series, truth = _series()
    fig = event_study_figure(series, title="CPP rate", ylabel="Effect per 10,000", truth=truth)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert {"TWFE", "Callaway-Sant'Anna", "True effect"} <= set(texts), f"direct labels missing: {texts}"
    assert ax.get_legend() is None, "direct labels replace the legend"
    colours = {matplotlib.colors.to_hex(c.lines[0].get_color()) for c in ax.containers}
    allowed = {c.lower() for c in PALETTE} - {"#3d3d3d"}  # dark grey is reserved for the truth line
    assert colours <= allowed, f"series colours must come from the palette without the truth grey, got {colours}"
    xs = sorted(float(c.lines[0].get_xdata()[2]) for c in ax.containers)
    assert xs[0] < 0 < xs[1], f"overlaid estimators must be offset around event time 0, got x positions {xs}"
    alt = alt_text_event_study(series, title="CPP rate", ylabel="Effect per 10,000", truth=truth)
    for fragment in ("-1.2", "-3.1 (95% CI -5 to -1.2)", "reference", "true effect", "Callaway-Sant'Anna"):
        assert fragment in alt, f"alt text must report {fragment!r}; got: {alt}"


def test_save_figure_is_byte_identical(tmp_path, panel):
    fig = event_study_twfe(panel, "y", leads=2, lags=2).plot()
    first = save_figure(fig, tmp_path / "a" / "es.v1")
    blobs = [p.read_bytes() for p in first]
    second = save_figure(fig, tmp_path / "a" / "es.v1")
    assert [p.name for p in first] == ["es.v1.png", "es.v1.svg"], f"suffixes must be appended: {first}"
    assert blobs == [p.read_bytes() for p in second], "repeated saves differ: a timestamp or random id leaked in"
    fig2 = event_study_twfe(panel, "y", leads=2, lags=2).plot()
    third = save_figure(fig2, tmp_path / "b" / "es.v1")
    assert blobs == [p.read_bytes() for p in third], "re-drawing the same result must give identical files"
    assert b"<dc:date>" not in blobs[1], "SVG must not carry a date"


# --------------------------------------------------------------------------- fast fit = PanelOLS
# twfe/event_study_twfe compute PanelOLS's fit without PanelOLS's pandas machinery (twfe._fit). These
# tests compare it with linearmodels' PanelOLS itself, called here with the documented options.
def _twfe_module():
    import sys

    return sys.modules["csceval.did.twfe"]   # csceval.did.twfe the attribute is the function


def _unbalanced(df: pd.DataFrame) -> pd.DataFrame:
    """5 LAs created in period 3, 2 LAs abolished after period 9, 11 suppressed cells."""
    units = df["la_code"].unique()
    periods = df["period"].unique()
    late = df["la_code"].isin(units[-5:]) & (df["period"] < periods[3])
    gone = df["la_code"].isin(units[[2, len(units) // 2 + 1]]) & (df["period"] > periods[9])
    out = df[~late & ~gone].copy()
    out.loc[out.sample(11, random_state=5).index, "y"] = np.nan
    return out


def _panelols_reference(df: pd.DataFrame, regressors: pd.DataFrame):
    from linearmodels.panel import PanelOLS

    idx = pd.MultiIndex.from_arrays([df["la_code"].to_numpy(), df["period"].to_numpy()])
    model = PanelOLS(pd.Series(df["y"].to_numpy(), idx), regressors.set_axis(idx), entity_effects=True, time_effects=True)
    return model.fit(cov_type="clustered", cluster_entity=True, group_debias=True, debiased=True, auto_df=False,
                     count_effects=True)


@pytest.mark.parametrize("layout", ["balanced", "unbalanced", "more_periods_than_units"])
def test_fast_fit_equals_linearmodels_panelols(panel, layout, monkeypatch):
    if layout == "balanced":
        df = panel
    elif layout == "unbalanced":
        df = _unbalanced(panel)
    else:  # T > N: the demeaning swaps the roles of units and periods
        df = _unbalanced(simulate_panel(n_units=12, n_periods=30, cohorts={10: 3, 18: 3}))
    mod = _twfe_module()

    def no_panelols(*args, **kwargs):
        raise AssertionError("the fit went to PanelOLS although no regressor is near absorbed")

    monkeypatch.setattr(mod, "_fit_panelols", no_panelols)
    used = df[df["y"].notna()].reset_index(drop=True)
    cases = [
        (twfe(df, "y", covariates=["x"]), pd.DataFrame({"treated": treated_indicator(used), "x": used["x"]})),
    ]
    es = event_study_twfe(df, "y", leads=3, lags=2, covariates=["x"])
    rel = used["event_time"].clip(-3, 2)
    cols = {f"event_time[{e}]": (rel == e).astype(float) for e in (-3, -2, 0, 1, 2)}
    cases.append((es, pd.DataFrame({**cols, "x": used["x"]})))
    for res, regs in cases:
        ref = _panelols_reference(used, regs)
        names = list(regs.columns)
        ours = res.coefficients.set_index("term").loc[names]
        np.testing.assert_allclose(ours["estimate"], ref.params[names], rtol=1e-10, atol=1e-12, err_msg=(
            f"{layout}: coefficients differ from PanelOLS with entity and time effects: the two-way demeaning is not "
            "PanelOLS's exact within transformation"))
        np.testing.assert_allclose(res.vcov.loc[names, names], ref.cov.loc[names, names], rtol=1e-10, atol=1e-16,
                                   err_msg=(f"{layout}: clustered covariance differs from PanelOLS's: the effects are "
                                            "not counted as PanelOLS counts them (count_effects) or the CR1 factor differs"))
        n_effects = used["la_code"].nunique() + used["period"].nunique() - 1
        assert res.metadata["n_effects"] == n_effects and res.n_obs == int(ref.nobs), (
            f"{layout}: n_effects {res.metadata['n_effects']} / n_obs {res.n_obs} differ from PanelOLS's N + T - 1 = "
            f"{n_effects} / {ref.nobs}")


def test_two_way_within_equals_dummy_regression_residuals():
    """The closed-form within transformation equals the residuals of an explicit dummy regression."""
    rng = np.random.default_rng(3)
    for n_units, n_periods in ((25, 8), (6, 20)):
        u = np.repeat(np.arange(n_units), n_periods)
        t = np.tile(np.arange(n_periods), n_units)
        keep = rng.random(len(u)) > 0.2          # unbalanced, but connected
        keep[::n_periods] = keep[:n_periods] = True
        u, t = u[keep], t[keep]
        M = rng.normal(size=(len(u), 3))
        D = np.hstack([np.eye(n_units)[u], np.eye(n_periods)[t][:, 1:]])
        expected = M - D @ np.linalg.lstsq(D, M, rcond=None)[0]
        got = _two_way_within(u, t, M)
        np.testing.assert_allclose(got, expected, atol=1e-12, err_msg=(
            f"{n_units} units x {n_periods} periods, unbalanced: within transformation is not the residual on unit and "
            "period dummies"))


def test_near_absorbed_regressor_and_disconnected_panel_go_to_panelols(panel, monkeypatch):
    """Where the shortcut could decide differently from PanelOLS, PanelOLS itself is fitted."""
    mod = _twfe_module()
    calls = []
    original = mod._fit_panelols

    def spy(*args, **kwargs):
        calls.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(mod, "_fit_panelols", spy)
    df = panel.copy()
    df["region"] = df["la_code"].astype(int) % 3
    with pytest.raises(ValueError, match="absorbed"):
        twfe(df, "y", covariates=["region"])
    assert calls == [["treated", "region"]], f"an absorbed covariate must be judged by PanelOLS; calls {calls}"

    # two groups of LAs observed in disjoint periods: the unit and period effects are not identified
    units, periods = df["la_code"].unique(), df["period"].unique()
    split = df[(df["la_code"].isin(units[::2]) & (df["period"] < periods[6]))
               | (~df["la_code"].isin(units[::2]) & (df["period"] >= periods[6]))]
    u = pd.factorize(split["la_code"])[0]
    t = pd.factorize(split["period"], sort=True)[0]
    assert _two_way_effects(u, t, np.ones((len(u), 1))) is None, (
        "a disconnected unit-period graph must be detected (the period effects' normal equations are singular)")
    calls.clear()
    try:
        twfe(split, "y")
    except ValueError:
        pass
    assert calls, "a disconnected panel must be fitted (or rejected) by PanelOLS itself"
