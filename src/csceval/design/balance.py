r"""Balance of treated LAs and a comparison pool before treatment, and tests of parallel pre-trends.

Pre-period features
-------------------
:func:`pre_period_features` summarises each LA's pre-period (by default every period before the
programme's earliest first treated period): for each outcome, the **level** (mean over the
pre-periods with a value) and the linear **trend** (OLS slope of the value on the period's position
in the pre-period, per period; needs two or more values), and the covariates: **log child
population** (mean over the pre-periods of the log of the panel's rate denominator, the ONS 0-17
estimate), the LA's **ONS region** (package reference table; ``"Unknown"`` for codes it does not
hold) and any numeric columns of a user covariate table (e.g. a deprivation proxy such as the IDACI
score). The same features drive :func:`csceval.design.pools.matched_pool`.

Standardised mean difference
----------------------------
For a feature :math:`x`, treated LAs :math:`T` and comparison LAs :math:`C` with weights :math:`w`
(1, or the matching weights of a matched pool: each treated LA's matches share weight 1),

.. math::

    \mathrm{SMD} = \frac{\bar x_T - \bar x_C^{(w)}}{\sqrt{(s_T^2 + s_{C,0}^2)/2}},

the **pooled-SD** definition (Austin 2009; Stuart 2010) where :math:`s_T^2` and :math:`s_{C,0}^2` are
the (unweighted, ``ddof=1``) variances of the treated LAs and of the **eligible pool before
matching**. The denominator is the same before and after matching, so a change in SMD is a change
in the mean difference only (the MatchIt/cobalt convention). For region indicators the variances
are :math:`p(1-p)`. The **variance ratio** is :math:`s_T^2 / s_C^{2(w)}` within each sample (weighted
variance with reliability weights, :math:`\sum w (x-\bar x)^2 / (\sum w - \sum w^2/\sum w)`); it is
not reported for binary indicators. Rules of thumb: :math:`|\mathrm{SMD}| \le 0.1` balanced,
0.1-0.25 moderate imbalance, :math:`> 0.25` large (Stuart 2010); variance ratios within 0.5-2.

Pre-trend tests
---------------
:func:`parallel_trends_pretest` fits :func:`csceval.did.event_study_twfe` and tests jointly that the
pre-period event-time coefficients (reference period -1 excluded) are zero with the cluster-robust
covariance :math:`\hat V`: :math:`W = \hat\beta_{pre}'\hat V_{pre}^{-1}\hat\beta_{pre}`, reported as
:math:`\chi^2_k` and as :math:`F = W/k` on :math:`(k, G-1)` degrees of freedom. It also fits a
**linear differential pre-trend** on the pre-treatment observations only,

.. math:: y_{it} = \alpha_i + \lambda_t + \delta\,\mathbf{1}\{i \text{ treated}\}\,t + \varepsilon_{it},

with the same CR1 cluster-robust standard error and :math:`t(G-1)` inference as
:mod:`csceval.did.twfe`; :math:`\delta` is the treated LAs' extra change per period before
treatment. With few treated LAs these cluster-robust tests over-reject (see
:mod:`csceval.inference`); a non-rejection is weak evidence of parallel trends and a rejection
with 3-10 treated LAs should be read with the size experiment in mind.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from csceval.reference import local_authorities

__all__ = [
    "balance_table",
    "parallel_trends_pretest",
    "pre_period_features",
    "pre_trend_figure",
    "pre_trend_means",
    "resolve_pre_periods",
    "standardised_difference",
]

BALANCE_COLUMNS = [
    "variable", "kind", "outcome", "sample", "n_treated", "n_comparison", "mean_treated", "mean_comparison",
    "sd_treated", "sd_comparison", "sd_pooled", "smd", "variance_ratio", "imbalance",
]


# ------------------------------------------------------------------------------------- features
def resolve_pre_periods(panel: pd.DataFrame, timing: pd.DataFrame | None, pre_periods=None) -> pd.DatetimeIndex:
    """The pre-period: ``pre_periods`` if given, else every panel period before the earliest
    ``first_treated`` of the treated LAs in ``timing`` (all periods if none is treated)."""
    periods = pd.DatetimeIndex(sorted(pd.to_datetime(panel["period"]).unique()))
    if pre_periods is not None:
        chosen = pd.DatetimeIndex(sorted(pd.to_datetime(pd.Index(list(pre_periods))).unique()))
        missing = chosen.difference(periods)
        if len(missing):
            raise ValueError(f"pre-period(s) {[str(p.date()) for p in missing]} are not periods of the panel")
        return chosen
    if timing is None:
        return periods
    starts = pd.to_datetime(timing.loc[timing["role"].eq("treated"), "first_treated"]).dropna()
    if starts.empty:
        return periods
    pre = periods[periods < starts.min()]
    if len(pre) == 0:
        raise ValueError(f"no panel period before the first treated period {starts.min().date()}")
    return pre


def _ols_slope(values: np.ndarray, positions: np.ndarray) -> float:
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return np.nan
    x, y = positions[ok], values[ok]
    x = x - x.mean()
    den = (x**2).sum()
    return float((x * (y - y.mean())).sum() / den) if den > 0 else np.nan


def pre_period_features(
    panel: pd.DataFrame,
    outcomes: Sequence[str],
    pre_periods: Iterable,
    covariates: pd.DataFrame | None = None,
    la_codes: Iterable[str] | None = None,
    trends: bool = True,
) -> pd.DataFrame:
    """One row per LA (index ``la_code``, sorted) with the pre-period features.

    Columns ``<outcome>_level``, ``<outcome>_trend`` (if ``trends``), ``log_child_population``,
    ``region`` (str) and the numeric columns of ``covariates`` (a table with ``la_code``; a
    ``region`` column there overrides the reference region). Features that cannot be computed are
    NaN (e.g. a trend from fewer than two pre-period values).
    """
    pre = pd.DatetimeIndex(sorted(pd.to_datetime(pd.Index(list(pre_periods))).unique()))
    position = pd.Series(np.arange(len(pre), dtype=float), index=pre)
    data = panel[panel["period"].isin(pre)].copy()
    data["la_code"] = data["la_code"].astype(str)
    unknown = sorted(set(outcomes) - set(panel["outcome"].unique()))
    if unknown:
        raise ValueError(f"outcome(s) {unknown} are not in the panel")
    codes = sorted(set(panel["la_code"].astype(str)) if la_codes is None else set(map(str, la_codes)))
    out = pd.DataFrame(index=pd.Index(codes, name="la_code"))
    for outcome in outcomes:
        rows = data[data["outcome"].eq(outcome)]
        wide = rows.pivot_table(index="la_code", columns="period", values="value", aggfunc="first").reindex(index=codes, columns=pre)
        out[f"{outcome}_level"] = wide.mean(axis=1, skipna=True)
        if trends:
            pos = position.reindex(wide.columns).to_numpy()
            out[f"{outcome}_trend"] = [_ols_slope(v, pos) for v in wide.to_numpy(float)]
    pop = data[data["denominator"] > 0].sort_values(["la_code", "period", "outcome"]).drop_duplicates(["la_code", "period"])
    log_pop = np.log(pop.set_index("la_code")["denominator"].astype(float)).groupby(level=0).mean()
    out["log_child_population"] = log_pop.reindex(codes)
    la = local_authorities()
    out["region"] = pd.Series(dict(zip(la["la_code"], la["ons_region_name"]))).reindex(codes).fillna("Unknown").astype(str)
    if covariates is not None:
        if "la_code" not in covariates.columns:
            raise ValueError("the covariate table needs an la_code column")
        cov = covariates.set_index(covariates["la_code"].astype(str)).drop(columns="la_code")
        if cov.index.duplicated().any():
            raise ValueError(f"the covariate table has more than one row for LA(s) {sorted(set(cov.index[cov.index.duplicated()]))}")
        if "region" in cov.columns:
            out["region"] = cov["region"].reindex(codes).fillna(out["region"]).astype(str)
        for column in cov.select_dtypes("number").columns:
            out[column] = cov[column].reindex(codes).astype(float)
    return out


def feature_kind(column: str, outcomes: Sequence[str]) -> tuple[str, str]:
    """(kind, outcome) of a feature column: level / trend of an outcome, or covariate."""
    for outcome in outcomes:
        if column == f"{outcome}_level":
            return "level", outcome
        if column == f"{outcome}_trend":
            return "trend", outcome
    return "covariate", ""


# ------------------------------------------------------------------------------------------ SMD
def _wmean_var(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(x) & (w > 0)
    x, w = x[ok], w[ok]
    if w.sum() == 0:
        return np.nan, np.nan
    m = float((w * x).sum() / w.sum())
    den = w.sum() - (w**2).sum() / w.sum()
    v = float((w * (x - m) ** 2).sum() / den) if den > 0 else np.nan
    return m, v


def standardised_difference(treated, comparison, comparison_weights=None, reference_comparison=None,
                            binary: bool = False) -> dict[str, float]:
    """SMD and variance ratio of one feature (see the module docstring for the definitions).

    Parameters
    ----------
    treated, comparison : values of the treated LAs and of the comparison sample.
    comparison_weights : weights of the comparison values (default 1).
    reference_comparison : comparison values before matching, whose variance enters the pooled SD
        (default: ``comparison`` itself, unweighted).
    binary : the feature is a 0/1 indicator (variances p(1-p); no variance ratio).
    """
    t = np.asarray(treated, float)
    c = np.asarray(comparison, float)
    w = np.ones_like(c) if comparison_weights is None else np.asarray(comparison_weights, float)
    ref = c if reference_comparison is None else np.asarray(reference_comparison, float)
    mt, vt = _wmean_var(t, np.ones_like(t))
    mc, vc = _wmean_var(c, w)
    _, vref = _wmean_var(ref, np.ones_like(ref))
    if binary:
        p_t = mt
        p_ref = float(np.nanmean(ref)) if np.isfinite(ref).any() else np.nan
        vt_p, vref_p = p_t * (1 - p_t), p_ref * (1 - p_ref)
        sd_pooled = np.sqrt((vt_p + vref_p) / 2)
        ratio = np.nan
        sd_t, sd_c = np.sqrt(vt_p), np.sqrt(mc * (1 - mc)) if np.isfinite(mc) else np.nan
    else:
        sd_pooled = np.sqrt((vt + vref) / 2) if np.isfinite(vt) and np.isfinite(vref) else np.nan
        ratio = vt / vc if np.isfinite(vt) and np.isfinite(vc) and vc > 0 else np.nan
        sd_t, sd_c = np.sqrt(vt) if np.isfinite(vt) else np.nan, np.sqrt(vc) if np.isfinite(vc) else np.nan
    diff = mt - mc
    tol = 1e-9 * max(1.0, abs(mt) if np.isfinite(mt) else 0.0, abs(mc) if np.isfinite(mc) else 0.0)
    if np.isfinite(sd_pooled) and sd_pooled > tol:
        smd = diff / sd_pooled
    else:  # no variation (up to rounding): equal means are balanced, different ones not comparable
        smd = 0.0 if np.isfinite(diff) and abs(diff) <= tol else np.nan
        ratio = np.nan if not binary else ratio
    return {"mean_treated": mt, "mean_comparison": mc, "sd_treated": float(sd_t), "sd_comparison": float(sd_c),
            "sd_pooled": float(sd_pooled), "smd": float(smd), "variance_ratio": float(ratio)}


def _imbalance(smd: float) -> str:
    if not np.isfinite(smd):
        return "not computable"
    a = abs(smd)
    return "balanced (|SMD| <= 0.1)" if a <= 0.1 else "moderate (0.1 < |SMD| <= 0.25)" if a <= 0.25 else "large (|SMD| > 0.25)"


def _pool_weights(pool: pd.DataFrame) -> pd.Series:
    """Comparison weights of a pool's included LAs: 1, or for a matched pool 1 / (matches of the
    treated LA it was matched to), so each treated LA's matches share weight 1."""
    inc = pool[pool["included"].astype(bool)]
    codes = inc["la_code"].astype(str)
    if "matched_to" in inc.columns and inc["matched_to"].notna().any():
        per_treated = inc.groupby("matched_to")["la_code"].transform("count")
        return pd.Series((1.0 / per_treated).to_numpy(), index=codes.to_numpy())
    return pd.Series(1.0, index=codes.to_numpy())


def balance_table(
    panel: pd.DataFrame,
    timing: pd.DataFrame,
    pool: pd.DataFrame | None,
    outcomes: Sequence[str],
    covariates: pd.DataFrame | None = None,
    pre_periods=None,
    *,
    trends: bool = True,
    regions: bool = True,
) -> pd.DataFrame:
    """Balance of the treated LAs against the eligible pool (before) and ``pool`` (after).

    Parameters
    ----------
    panel : tidy panel.
    timing : :func:`csceval.design.treatment_timing` table (roles).
    pool : a comparison pool from :mod:`csceval.design.pools` (``la_code``, ``pool``, ``included``;
        a matched pool's ``matched_to`` gives the matching weights). ``None`` or the eligible pool:
        only the "before" rows.
    outcomes : outcomes whose pre-period level and trend are compared.
    covariates : optional LA covariate table (``la_code`` + numeric columns, e.g. a deprivation
        proxy; optional ``region``).
    pre_periods : pre-period start dates (default: :func:`resolve_pre_periods`).
    trends, regions : include the outcome trends / one row per ONS region indicator.

    Returns
    -------
    DataFrame with columns ``variable, kind (level|trend|covariate|region), outcome, sample, n_treated,
    n_comparison, mean_treated, mean_comparison, sd_treated, sd_comparison, sd_pooled, smd,
    variance_ratio, imbalance``; ``sample`` is ``"before: eligible pool"`` or ``"after: <pool>"``.
    Treated LAs or comparison LAs with a missing feature are left out of that feature's row (the
    counts say how many were used).
    """
    pre = resolve_pre_periods(panel, timing, pre_periods)
    features = pre_period_features(panel, outcomes, pre, covariates, trends=trends)
    treated = sorted(set(timing.loc[timing["role"].eq("treated"), "la_code"].astype(str)) & set(features.index))
    eligible = sorted(set(timing.loc[timing["role"].eq("comparison"), "la_code"].astype(str)) & set(features.index))
    if not treated:
        raise ValueError("no treated LA of the timing table has data in the panel")
    samples: list[tuple[str, pd.Series]] = [("before: eligible pool", pd.Series(1.0, index=eligible))]
    if pool is not None:
        name = str(pool["pool"].iloc[0]) if "pool" in pool.columns and len(pool) else "pool"
        w = _pool_weights(pool)
        bad = sorted(set(w.index) & set(timing.loc[timing["role"].ne("comparison"), "la_code"].astype(str)))
        if bad:
            raise ValueError(f"pool {name!r} includes treated or excluded LA(s) {bad}")
        w = w[w.index.isin(features.index)]
        if name != "eligible":
            samples.append((f"after: {name}", w))
    numeric = [c for c in features.columns if c != "region"]
    rows = []
    for column in numeric:
        kind, outcome = feature_kind(column, outcomes)
        t = features.loc[treated, column].to_numpy(float)
        ref = features.loc[eligible, column].to_numpy(float)
        for label, w in samples:
            c = features.loc[w.index, column].to_numpy(float)
            res = standardised_difference(t, c, w.to_numpy(float), ref)
            rows.append(dict(variable=column, kind=kind, outcome=outcome, sample=label,
                             n_treated=int(np.isfinite(t).sum()), n_comparison=int(np.isfinite(c).sum()), **res))
    if regions:
        for region in sorted(features["region"].unique()):
            ind = (features["region"] == region).astype(float)
            t = ind.loc[treated].to_numpy()
            ref = ind.loc[eligible].to_numpy()
            for label, w in samples:
                res = standardised_difference(t, ind.loc[w.index].to_numpy(), w.to_numpy(float), ref, binary=True)
                rows.append(dict(variable=f"region: {region}", kind="region", outcome="", sample=label,
                                 n_treated=len(t), n_comparison=len(w), **res))
    table = pd.DataFrame(rows)
    table["imbalance"] = table["smd"].map(_imbalance)
    return table[BALANCE_COLUMNS]


# ----------------------------------------------------------------------------------- pre-trends
def _pre_coefficients(res) -> tuple[np.ndarray, np.ndarray, list[int]]:
    est = res.estimates
    pre = est[(est["event_time"].astype(float) < -1) & ~est["reference"].astype(bool) & est["std_error"].notna()]
    names = [f"event_time[{int(e)}]" for e in pre["event_time"]]
    V = res.vcov.loc[names, names].to_numpy(float) if names else np.zeros((0, 0))
    return pre["estimate"].to_numpy(float), V, [int(e) for e in pre["event_time"]]


def _wald(res) -> float:
    b, V, _ = _pre_coefficients(res)
    return float(b @ np.linalg.pinv(V) @ b) if len(b) else np.nan


def _pretest_one(df: pd.DataFrame, value: str, unit: str, time: str, cohort: str, leads, lags,
                 n_permutations: int, seed: int | None) -> dict:
    from linearmodels.panel import PanelOLS

    from csceval.did import event_study_twfe

    res = event_study_twfe(df, value, unit=unit, time=time, cohort=cohort, leads=leads, lags=lags, ref_period=-1)
    b, V, events = _pre_coefficients(res)
    g = int(res.metadata["n_clusters"])
    out: dict = dict(n_treated=res.n_treated, n_control=res.n_control, n_clusters=g,
                     pre_event_times=", ".join(map(str, events)), n_pre_coefficients=len(b))
    notes = []
    if len(b):
        W = float(b @ np.linalg.pinv(V) @ b)
        k = len(b)
        out.update(wald_chi2=W, df=k, p_chi2=float(stats.chi2.sf(W, k)), f_stat=W / k, df_denom=g - 1,
                   p_f=float(stats.f.sf(W / k, k, g - 1)))
        if k >= res.n_treated:
            notes.append(f"{k} pre-period coefficients from {res.n_treated} treated LAs: the cluster-robust covariance "
                         "is (near) singular and the Wald test is not valid; bin leads (leads=) or use the "
                         "randomization p-value")
    else:
        out.update(wald_chi2=np.nan, df=0, p_chi2=np.nan, f_stat=np.nan, df_denom=g - 1, p_f=np.nan)
        notes.append("no pre-period coefficient besides the reference period")
    out["p_wald_randomization"] = np.nan
    if n_permutations and len(b):
        from csceval.inference import randomization_inference

        ri = randomization_inference(df, event_study_twfe, unit=unit, time=time, cohort=cohort, outcome=value,
                                     leads=leads, lags=lags, ref_period=-1, statistic=_wald,
                                     n_permutations=n_permutations, seed=seed, confidence_set=False, method="generic")
        out["p_wald_randomization"] = float(ri.p_value)

    # linear differential pre-trend on pre-treatment observations
    d = df[[unit, time, cohort, value]].dropna(subset=[value]).copy()
    times = pd.Index(sorted(d[time].unique()))
    d["_t"] = times.get_indexer(d[time]).astype(np.int64)
    is_treated = d[cohort].notna() & ~(d[cohort].astype(str).isin(["0", "0.0"]))
    pre_rows = ~is_treated | (d[time] < d[cohort].where(is_treated, d[time]))
    d = d[pre_rows.to_numpy()]
    d["_trend"] = is_treated[pre_rows].astype(float).to_numpy() * d["_t"].to_numpy()
    slope = dict(slope=np.nan, slope_se=np.nan, slope_p=np.nan)
    if (d["_trend"] != 0).any():
        frame = d.set_index([unit, "_t"])
        fit = PanelOLS(frame[value].astype(float), frame[["_trend"]], entity_effects=True, time_effects=True).fit(
            cov_type="clustered", cluster_entity=True, group_debias=True, debiased=True, auto_df=False, count_effects=True)
        gg = int(frame.index.get_level_values(0).nunique())
        est_s, se_s = float(fit.params["_trend"]), float(fit.std_errors["_trend"])
        slope = dict(slope=est_s, slope_se=se_s, slope_p=float(2 * stats.t.sf(abs(est_s / se_s), gg - 1)))
    out.update(slope)
    out["inference"] = (f"cluster-robust by {unit} (CR1, G={g}); Wald on the pre-period event-study coefficients "
                        f"(reference -1); slope: t(G-1) on pre-treatment rows; both over-reject with few treated LAs"
                        + (f"; randomization p-value of the Wald statistic over {n_permutations} re-assignments of the "
                           "adoption pattern" if n_permutations else ""))
    out["note"] = "; ".join(notes)
    return out


def parallel_trends_pretest(
    sample: pd.DataFrame,
    *,
    value: str = "value",
    unit: str = "la_code",
    time: str = "period",
    cohort: str = "first_treated",
    leads: int | None = None,
    lags: int | None = None,
    n_permutations: int = 0,
    seed: int | None = 1,
) -> pd.DataFrame:
    """Joint test of zero pre-period event-study coefficients and a linear differential pre-trend.

    Parameters
    ----------
    sample : estimation sample (:func:`csceval.design.estimation_sample`), one or several outcomes
        (an ``outcome`` column splits it).
    value, unit, time, cohort : column names.
    leads, lags : event window of :func:`csceval.did.event_study_twfe` (default: the full observed
        range; with ``leads`` the earliest lead bins all earlier event times). Keep the number of
        pre-period coefficients below the number of treated LAs (e.g. the config's event window).
    n_permutations : if > 0, also a randomization p-value of the Wald statistic: the adoption
        pattern is re-assigned at random over all units ``n_permutations`` times
        (:func:`csceval.inference.randomization_inference`, generic path: one event study per draw,
        so this takes seconds per draw-hundred). Its size is exact under the sharp null of no
        differential pre-trend, which the cluster-robust tests' is not with few treated LAs.
    seed : seed of the permutations.

    Returns
    -------
    DataFrame, one row per outcome: ``outcome, n_treated, n_control, n_clusters, pre_event_times,
    n_pre_coefficients, wald_chi2, df, p_chi2, f_stat, df_denom, p_f, p_wald_randomization, slope,
    slope_se, slope_p, inference, note``. ``slope`` is the treated LAs' differential change per
    period before treatment.
    """
    groups = sample.groupby("outcome", sort=True) if "outcome" in sample.columns else [("", sample)]
    rows = []
    for outcome, df in groups:
        rows.append({"outcome": outcome, **_pretest_one(df, value, unit, time, cohort, leads, lags, n_permutations, seed)})
    return pd.DataFrame(rows)


def pre_trend_means(panel: pd.DataFrame, timing: pd.DataFrame, outcome: str, pool: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean outcome by period of the treated LAs and of the comparison LAs (``pool``'s included LAs,
    weighted as in :func:`balance_table`, or the eligible pool): columns ``period, group, mean,
    n_las``; ``group`` is ``"Treated LAs"`` or ``"Comparison LAs"``."""
    rows = panel[panel["outcome"].eq(outcome)].copy()
    rows["la_code"] = rows["la_code"].astype(str)
    treated = set(timing.loc[timing["role"].eq("treated"), "la_code"].astype(str))
    weights = _pool_weights(pool) if pool is not None else pd.Series(1.0, index=sorted(timing.loc[timing["role"].eq("comparison"), "la_code"].astype(str)))
    out = []
    for label, codes, w in (("Treated LAs", sorted(treated), None), ("Comparison LAs", list(weights.index), weights)):
        sub = rows[rows["la_code"].isin(codes) & rows["value"].notna()].copy()
        sub["_w"] = 1.0 if w is None else sub["la_code"].map(w).to_numpy()
        agg = sub.groupby("period").apply(lambda g: pd.Series({"mean": np.average(g["value"], weights=g["_w"]), "n_las": g["la_code"].nunique()}),
                                          include_groups=False)
        agg = agg.reset_index().assign(group=label)
        out.append(agg)
    table = pd.concat(out, ignore_index=True)
    table["n_las"] = table["n_las"].astype(int)
    return table[["period", "group", "mean", "n_las"]]


def pre_trend_figure(panel: pd.DataFrame, timing: pd.DataFrame, outcome: str, pool: pd.DataFrame | None = None, **kwargs):
    """Treated vs comparison mean paths of one outcome in the house style, each wave's start marked.

    Data from :func:`pre_trend_means`; drawn by :func:`csceval.report.design_figures.mean_paths_figure`
    (``kwargs``: ``title``, ``ylabel``). Alt text: :func:`csceval.report.design_figures.alt_text_mean_paths`.
    """
    from csceval.report.design_figures import mean_paths_figure

    return mean_paths_figure(pre_trend_means(panel, timing, outcome, pool), timing=timing, outcome=outcome, **kwargs)
