r"""Two-way fixed effects (TWFE) difference-in-differences: static and event-study.

These are the textbook regressions. They are kept as transparent benchmarks, not as the headline
estimators: with staggered adoption and effects that differ across cohorts or grow over time, the
static TWFE coefficient is a weighted average of cohort-period effects with weights that can be
negative (Goodman-Bacon 2021; de Chaisemartin & D'Haultfoeuille 2020), and event-study coefficients
can be contaminated by effects at other event times (Sun & Abraham 2021). Use
``callaway_santanna``, ``sun_abraham`` or ``imputation`` for the headline numbers.

Data conventions
----------------
The input is a long DataFrame, one row per unit x period:

* ``unit``: unit identifier (string LA code);
* ``time``: period, either pandas Timestamps (start date of the period) or integers;
* ``outcome``: numeric; rows where it (or a covariate) is missing, e.g. a suppressed EES cell, are
  dropped and counted in ``n_dropped_missing``;
* ``cohort``: first treated period, in the units of ``time``; ``0``, NaN or NaT means never treated.
  Cohort must be constant within a unit.

Periods are counted on the sorted unique ``time`` values of the *input* (before rows with a
missing outcome are dropped, so a suppressed cell does not shift event time): they are mapped to
``0 .. T-1``. A cohort is mapped to the index of the first observed time ``>= cohort``; a cohort
that is not itself an observed time value is therefore first treated in the next observed period
(e.g. a July start in annual data indexed by 1 April is first treated in the following April). A
cohort before the first observed period maps to 0 (the unit is treated throughout: "always
treated"); a cohort after the last observed period means the unit is untreated throughout the window
and is used as a comparison unit (reported in ``metadata["n_treated_after_window"]``).

Inference
---------
Both estimators are the fit of :class:`linearmodels.panel.PanelOLS` with entity and time effects and
the cluster-robust covariance clustered by unit,
``cov_type="clustered", cluster_entity=True, group_debias=True, debiased=True, auto_df=False,
count_effects=True``. For speed it is computed as PanelOLS computes it but without its pandas
overhead: PanelOLS's exact two-way demeaning done with sparse products, the normal equations of
the demeaned data, and linearmodels' own clustered covariance estimator (the one PanelOLS calls)
with the unit and period effects counted; panels with a regressor near absorbed or collinear, or a
disconnected unit-period graph, go to PanelOLS itself (see ``_fit``). The resulting covariance is
the CR1 estimator

.. math::

    \hat V = c \, (\tilde X'\tilde X)^{-1}
        \Big(\sum_{g=1}^{G} \tilde X_g'\hat e_g \hat e_g'\tilde X_g\Big)
        (\tilde X'\tilde X)^{-1},
    \qquad c = \frac{G}{G-1}\,\frac{n-1}{n-K},

where :math:`\tilde X` are the regressors after the unit and period effects are removed, :math:`G`
the number of units (clusters), :math:`n` the number of observations and
:math:`K = k + N + T - 1` the number of parameters of the equivalent dummy-variable regression
(:math:`k` regressors, :math:`N` unit and :math:`T - 1` period effects). linearmodels builds
:math:`c` as ``group_debias`` :math:`\frac{G}{G-1}\frac{n-1}{n}` times ``debiased`` with the effects
counted :math:`\frac{n}{n-(N+T-1)-k}`. This is exactly ``statsmodels`` OLS with unit and period
dummies and ``cov_type="cluster"`` (Stata ``regress ... i.unit i.period, vce(cluster unit)``). It is
more conservative than ``fixest``/``reghdfe``, which do not count the unit effects nested in the
clusters (their factor is :math:`\frac{G}{G-1}\frac{n-1}{n-k-T+1}`).

Confidence intervals and p-values use the :math:`t` distribution with :math:`G-1` degrees of freedom
(not linearmodels' residual degrees of freedom). With 3-10 treated LAs cluster-robust inference is
not reliable whatever the correction; report a few-treated-robust alternative
(``csceval.inference``) alongside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, stats

from csceval.did._panel import (
    _G, _T, _TIME, _TREATED, _UNIT, _Y, PreparedPanel, _show, prepare_panel, single_threaded_blas, warn_caller,
)
from csceval.did._results import EstimationResult, OverallEstimate
from csceval.did._within import _two_way_within

__all__ = ["PreparedPanel", "event_study_twfe", "prepare_panel", "twfe"]



def _check_treated_and_comparison(data: pd.DataFrame, treated: pd.Series, panel: PreparedPanel) -> None:
    """Treated observations must exist, and some period must also have an untreated observation."""
    if not treated.any():
        raise ValueError(
            f"no treated units: no row with a non-missing {panel.outcome!r} is at or after its unit's cohort "
            f"({panel.cohort!r}); check the cohort column (0/NaN/NaT = never treated) and the period range"
        )
    by_period = pd.DataFrame({"t": data[_T], "d": treated.astype(bool)}).groupby("t")["d"].agg(["any", "all"])
    if not (by_period["any"] & ~by_period["all"]).any():
        raise ValueError(
            "no never-treated or not-yet-treated comparison observations: in every period in which a unit is "
            f"treated, all units with a non-missing {panel.outcome!r} are treated, so the treatment effect cannot be "
            "separated from the period effects"
        )


# ---------------------------------------------------------------------------------------------
# Fitting and inference
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Fit:
    params: pd.Series
    cov: pd.DataFrame
    n_obs: int
    n_clusters: int
    n_effects: int
    small_sample_factor: float
    df_t: int


# A regressor counts as nearly absorbed by the effects, or nearly collinear with the regressors before it,
# when less than this share of its norm (before the effects are removed) is left after removing the
# effects and those regressors. Ten times linearmodels' own threshold (1e-5): every fit that
# linearmodels would reject goes to PanelOLS itself, which raises its own error.
_NEAR_ABSORBED = 1e-4
def _cholesky_if_clearly_full_rank(X_within: np.ndarray, X: np.ndarray) -> np.ndarray | None:
    """Upper Cholesky factor of ``X_within'X_within``, or None if a regressor is near absorbed or collinear.

    linearmodels rejects a regressor (its full-column-rank check, ``AbsorbingEffectError``) when less
    than 1e-5 of its original norm is left after removing the effects and the regressors before it.
    Those shares are the diagonal of this Cholesky factor divided by the original column norms.
    """
    norms = np.linalg.norm(X, axis=0)
    if not (norms > 0).all():
        return None
    try:
        chol = linalg.cholesky(X_within.T @ X_within, lower=False)
    except linalg.LinAlgError:
        return None
    return chol if bool(np.all(np.abs(np.diag(chol)) / norms > _NEAR_ABSORBED)) else None


def _fit(data: pd.DataFrame, X: np.ndarray, names: list[str], unit: str) -> _Fit:
    """TWFE fit of ``data[_Y]`` on the columns of ``X`` (named ``names``) with unit and period effects.

    The same fit as linearmodels' ``PanelOLS(..., entity_effects=True, time_effects=True)`` with
    :data:`_PANELOLS_FIT_OPTIONS`, computed without PanelOLS's pandas machinery, which took nearly all
    of the time: the data are demeaned exactly (:func:`_two_way_within`, PanelOLS's algorithm), the
    coefficients solve the normal equations of the demeaned data, and the covariance is linearmodels'
    own clustered estimator (the one PanelOLS calls) on the demeaned data with the ``N + T - 1``
    effects counted in ``extra_df``, as PanelOLS counts them with ``count_effects=True``. Coefficients
    and covariance agree with PanelOLS to rounding (tests/test_did_twfe.py). Where PanelOLS could
    decide differently (a regressor near absorbed or collinear, a disconnected unit-period graph) the
    fit goes to PanelOLS itself (:func:`_fit_panelols`), which raises its errors as before.
    """
    unit_codes = pd.factorize(data[_UNIT])[0]
    time_codes = pd.factorize(data[_T], sort=True)[0]
    y = data[_Y].to_numpy(dtype=float)
    within = _two_way_within(unit_codes, time_codes, np.column_stack([y, X]))
    chol = None if within is None else _cholesky_if_clearly_full_rank(within[:, 1:], X)
    if chol is None:
        frame = data[[_UNIT, _T, _Y]].copy()
        for j, name in enumerate(names):
            frame[name] = X[:, j]
        return _fit_panelols(frame, names, unit)
    from linearmodels.panel.covariance import ClusteredCovariance

    x_w, y_w = within[:, 1:], within[:, :1]
    beta = linalg.cho_solve((chol, False), x_w.T @ y_w)
    g, n_periods, n, k = int(unit_codes.max()) + 1, int(time_codes.max()) + 1, len(y), len(names)
    n_effects = g + n_periods - 1
    cov = ClusteredCovariance(y_w, x_w, beta, unit_codes, time_codes, debiased=True, extra_df=int(n_effects),
                              clusters=unit_codes, group_debias=True).cov
    return _Fit(
        params=pd.Series(beta[:, 0], index=names, name="parameter"),
        cov=pd.DataFrame(cov, index=names, columns=names),
        n_obs=n,
        n_clusters=g,
        n_effects=n_effects,
        small_sample_factor=float(g / (g - 1) * (n - 1) / (n - n_effects - k)),
        df_t=g - 1,
    )


#: PanelOLS.fit options of the TWFE family (module docstring): CR1 clustered by unit, effects counted
_PANELOLS_FIT_OPTIONS = {
    "cov_type": "clustered",
    "cluster_entity": True,
    "group_debias": True,
    "debiased": True,
    "auto_df": False,
    "count_effects": True,
}


def _fit_panelols(data: pd.DataFrame, exog_cols: list[str], unit: str) -> _Fit:
    """The fit by linearmodels' PanelOLS with entity and time effects (see :func:`_fit`)."""
    # imported here: linearmodels takes most of a second to import, which every workflow job importing
    # csceval.did (for any estimator) would otherwise pay
    from linearmodels.panel import PanelOLS
    from linearmodels.panel.utility import AbsorbingEffectError

    frame = data.set_index([_UNIT, _T])
    try:
        model = PanelOLS(frame[_Y], frame[exog_cols], entity_effects=True, time_effects=True)
    except ValueError as exc:
        if "full column rank" not in str(exc):
            raise
        raise ValueError(
            f"the regressors {exog_cols} are collinear (not of full column rank): a covariate duplicates another, "
            "or the treatment indicator, up to scale; drop one of them"
        ) from exc
    try:
        res = model.fit(**_PANELOLS_FIT_OPTIONS)
    except AbsorbingEffectError as exc:
        raise ValueError(
            "a regressor is absorbed by the unit and period effects or collinear with other regressors "
            f"(time-invariant covariate, or event-time indicators that the effects span): {exc}"
        ) from exc
    n = int(res.nobs)
    g = int(frame.index.get_level_values(0).nunique())
    n_periods = int(frame.index.get_level_values(1).nunique())
    n_effects = g + n_periods - 1
    k = len(exog_cols)
    factor = g / (g - 1) * (n - 1) / (n - n_effects - k)
    return _Fit(
        params=res.params.astype(float),
        cov=res.cov.astype(float),
        n_obs=n,
        n_clusters=g,
        n_effects=n_effects,
        small_sample_factor=float(factor),
        df_t=g - 1,
    )


def _t_inference(estimate: np.ndarray, se: np.ndarray, df_t: int, alpha: float) -> dict[str, np.ndarray]:
    estimate = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    crit = stats.t.ppf(1 - alpha / 2, df_t)
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = estimate / se
    return {
        "std_error": se,
        "t_stat": tstat,
        "p_value": 2 * stats.t.sf(np.abs(tstat), df_t),
        "ci_lower": estimate - crit * se,
        "ci_upper": estimate + crit * se,
    }


def _coefficient_table(fit: _Fit, alpha: float) -> pd.DataFrame:
    se = np.sqrt(np.diag(fit.cov.to_numpy()))
    inf = _t_inference(fit.params.to_numpy(), se, fit.df_t, alpha)
    table = pd.DataFrame({"term": fit.params.index, "estimate": fit.params.to_numpy()})
    for key in ("std_error", "t_stat", "p_value", "ci_lower", "ci_upper"):
        table[key] = inf[key]
    return table


def _inference_text(unit: str, fit: _Fit) -> str:
    return (
        f"cluster-robust by {unit} (G={fit.n_clusters}), CR1 "
        f"[G/(G-1)*(n-1)/(n-K), K incl. unit and period effects; factor {fit.small_sample_factor:.4f}], "
        f"t(G-1)=t({fit.df_t})"
    )


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    return alpha


def _common_metadata(panel: PreparedPanel, fit: _Fit) -> dict[str, Any]:
    return {
        "unit": panel.unit,
        "time": panel.time,
        "cohort": panel.cohort,
        "covariates": panel.covariates,
        "n_periods": len(panel.times),
        "periods": tuple(panel.times),
        "cohort_map": panel.cohort_map,
        "n_never_treated": panel.n_never_treated,
        "n_treated_after_window": panel.n_treated_after_window,
        "n_dropped_missing_outcome": panel.n_dropped_missing_outcome,
        "n_dropped_missing_covariates": panel.n_dropped_missing_covariates,
        "n_clusters": fit.n_clusters,
        "df_t": fit.df_t,
        "small_sample_factor": fit.small_sample_factor,
        "n_effects": fit.n_effects,
        "notes": panel.notes,
    }


def _unit_counts(data: pd.DataFrame) -> tuple[int, int]:
    treated_units = data.loc[data[_G].notna(), _UNIT].nunique()
    return int(treated_units), int(data[_UNIT].nunique() - treated_units)


# ---------------------------------------------------------------------------------------------
# Public estimators
# ---------------------------------------------------------------------------------------------
@single_threaded_blas
def twfe(
    df: pd.DataFrame,
    outcome: str,
    unit: str = "la_code",
    time: str = "period",
    cohort: str = "first_treated",
    covariates: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> EstimationResult:
    r"""Static two-way fixed effects difference-in-differences.

    Fits

    .. math::

        y_{it} = \alpha_i + \lambda_t + \beta D_{it} + X_{it}'\gamma + \varepsilon_{it},
        \qquad D_{it} = \mathbf{1}\{t \ge g_i\},

    where :math:`g_i` is unit *i*'s first treated period (:math:`D_{it} = 0` for never-treated
    units), by within estimation (the fit of :class:`linearmodels.panel.PanelOLS` with entity and time
    effects; see the module docstring).

    Parameters
    ----------
    df : DataFrame
        Long panel, one row per unit x period (may be unbalanced).
    outcome : str
        Numeric outcome column; rows where it is missing are dropped and counted.
    unit, time, cohort : str
        Columns of the unit identifier, the period (Timestamps or integers) and the first treated
        period (0, NaN or NaT = never treated).
    covariates : sequence of str, optional
        Time-varying numeric covariates :math:`X_{it}`; rows with a missing covariate are dropped.
    alpha : float
        Confidence intervals have level :math:`1-\alpha`.

    Returns
    -------
    EstimationResult
        ``estimator="twfe"``; ``estimates`` and ``overall`` hold :math:`\hat\beta` (aggregation
        ``"overall"``), ``coefficients``/``vcov`` all regression coefficients. ``n_treated`` counts
        units first treated within the observed periods (including units treated throughout),
        ``n_control`` the others (never treated, or first treated after the last period).

    Raises
    ------
    ValueError
        For missing columns, a non-numeric or all-missing outcome, duplicate unit x time rows, no
        treated observations, no never-treated or not-yet-treated comparison observations, or a
        covariate absorbed by the fixed effects.

    Notes
    -----
    Standard errors are cluster-robust by unit with the CR1 factor
    :math:`\frac{G}{G-1}\frac{n-1}{n-K}`, :math:`K` counting the unit and period effects;
    confidence intervals and p-values use :math:`t(G-1)`. See the module docstring.

    With staggered adoption and heterogeneous or dynamic effects, :math:`\hat\beta` is a weighted
    average of cohort-period effects with possibly negative weights (Goodman-Bacon 2021); it is a
    benchmark, not the headline estimate.
    """
    alpha = _check_alpha(alpha)
    panel = prepare_panel(df, outcome, unit, time, cohort, covariates)
    data = panel.data.copy()
    treated = (data[_G].notna() & (data[_T] >= data[_G])).astype(float)
    _check_treated_and_comparison(data, treated.astype(bool), panel)
    exog = [_TREATED, *panel.covariates]
    X = np.column_stack([treated.to_numpy()] + [data[c].to_numpy(dtype=float) for c in panel.covariates])
    fit = _fit(data, X, exog, unit)
    coefs = _coefficient_table(fit, alpha)
    row = coefs.iloc[0]
    n_treated, n_control = _unit_counts(data)
    estimates = pd.DataFrame(
        [
            {
                "aggregation": "overall",
                "cohort": None,
                "period": None,
                "event_time": pd.NA,
                "estimate": row["estimate"],
                "std_error": row["std_error"],
                "ci_lower": row["ci_lower"],
                "ci_upper": row["ci_upper"],
                "p_value": row["p_value"],
                "t_stat": row["t_stat"],
                "term": _TREATED,
                "n_treated_obs": int(treated.sum()),
            }
        ]
    )
    overall = OverallEstimate(
        float(row["estimate"]), float(row["std_error"]), float(row["ci_lower"]), float(row["ci_upper"]), float(row["p_value"])
    )
    meta = _common_metadata(panel, fit)
    meta["n_treated_obs"] = int(treated.sum())
    return EstimationResult(
        estimator="twfe",
        outcome=outcome,
        estimates=estimates,
        overall=overall,
        inference=_inference_text(unit, fit),
        n_treated=n_treated,
        n_control=n_control,
        n_obs=fit.n_obs,
        n_dropped_missing=panel.n_dropped_missing,
        alpha=alpha,
        n_units=fit.n_clusters,
        label="Static TWFE",
        coefficients=coefs,
        vcov=fit.cov,
        time_dtype=panel.time_dtype,
        metadata=meta,
    )


def _event_col(e: int) -> str:
    return f"event_time[{e}]"


@single_threaded_blas
def event_study_twfe(
    df: pd.DataFrame,
    outcome: str,
    unit: str = "la_code",
    time: str = "period",
    cohort: str = "first_treated",
    leads: int | None = None,
    lags: int | None = None,
    ref_period: int = -1,
    bin_endpoints: bool = True,
    covariates: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> EstimationResult:
    r"""Dynamic (event-study) two-way fixed effects regression.

    Fits

    .. math::

        y_{it} = \alpha_i + \lambda_t + \sum_{e=-L,\, e \ne r}^{K} \beta_e \,
            \mathbf{1}\{\tilde e_{it} = e\} + X_{it}'\gamma + \varepsilon_{it},

    where :math:`e_{it} = t - g_i` is the event time of a unit first treated in period
    :math:`g_i` (periods counted on the observed period index), :math:`r` the omitted reference
    period, :math:`L` = ``leads``, :math:`K` = ``lags``, and :math:`\tilde e_{it}` is
    :math:`e_{it}` binned into :math:`[-L, K]` (``bin_endpoints=True``:
    :math:`\tilde e = \min(\max(e, -L), K)`). Never-treated units (and units first treated after
    the last period) have all indicators equal to 0.

    Parameters
    ----------
    df, outcome, unit, time, cohort, covariates, alpha
        As in :func:`twfe`.
    leads, lags : int, optional
        Event window :math:`-L .. K` (e.g. ``leads=4, lags=3`` gives event times -4..3). ``None``
        uses the full range observed among treated units (no binning or trimming on that side).
    ref_period : int
        Omitted event time, normalised to 0 (default -1). Must lie in the window.
    bin_endpoints : bool
        If True (default), event times beyond the window are pooled into the endpoint indicators
        (:math:`-L` collects all :math:`e \le -L`, :math:`K` all :math:`e \ge K`), so the endpoint
        coefficients are averages over those event times. If False, the treated units'
        observations outside the window are dropped from the regression (counted in
        ``metadata["n_dropped_outside_window"]``); comparison units keep all their periods.

    Returns
    -------
    EstimationResult
        ``estimator="event_study_twfe"``. ``estimates`` has one row per event time in the window
        (aggregation ``"event_study"``), including the reference row (estimate 0, missing standard
        error, ``reference=True``), plus the column ``n_obs`` (treated observations behind each
        indicator). ``overall`` is the equally weighted average of the post-period coefficients
        (event time :math:`\ge 0`, excluding the reference if it is there),

        .. math::

            \bar\beta = \frac{1}{|P|}\sum_{e \in P} \hat\beta_e, \qquad
            \widehat{\mathrm{Var}}(\bar\beta) = w'\hat V w,\; w_e = 1/|P|,

        with :math:`\hat V` the cluster-robust covariance of the coefficients. It weights event
        times equally, not observations, and is therefore not the same as :func:`twfe`.

    Raises
    ------
    ValueError
        As :func:`twfe`; also for an invalid window or reference period, and when the indicators
        are collinear with the unit and period effects (e.g. a full window with no never-treated
        units: bin or trim with ``leads``/``lags``).

    Warns
    -----
    UserWarning
        If an event time in the window has no observations; its indicator is left out and it has
        no row in ``estimates``.

    Notes
    -----
    Inference as in :func:`twfe`: CR1 cluster-robust by unit, :math:`t(G-1)`. With staggered
    adoption and cohort-specific dynamics, :math:`\hat\beta_e` can mix in effects from other
    event times (Sun & Abraham 2021); use ``sun_abraham`` or ``callaway_santanna`` as headline.
    """
    alpha = _check_alpha(alpha)
    for name, value in (("leads", leads), ("lags", lags)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0):
            raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")
    if isinstance(ref_period, bool) or not isinstance(ref_period, (int, np.integer)):
        raise ValueError(f"ref_period must be an integer event time, got {ref_period!r}")
    ref_period = int(ref_period)
    panel = prepare_panel(df, outcome, unit, time, cohort, covariates)
    data = panel.data.copy()
    is_treated_unit = data[_G].notna()
    rel = (data[_T] - data[_G]).where(is_treated_unit)
    if not is_treated_unit.any():
        raise ValueError(
            f"no treated units: every unit's cohort ({cohort!r}) is 0/missing or after the last observed period"
        )
    lo = int(-leads) if leads is not None else int(min(rel.min(), ref_period))
    hi = int(lags) if lags is not None else int(max(rel.max(), ref_period))
    if not lo <= ref_period <= hi:
        raise ValueError(f"ref_period={ref_period} is outside the event window [{lo}, {hi}] set by leads/lags")
    if lo == hi:
        raise ValueError(f"the event window [{lo}, {hi}] holds only the reference period: nothing to estimate")

    outside = is_treated_unit & ((rel < lo) | (rel > hi))
    binned_low = int((is_treated_unit & (rel < lo)).sum())
    binned_high = int((is_treated_unit & (rel > hi)).sum())
    n_dropped_outside = 0
    if bin_endpoints:
        rel_w = rel.clip(lower=lo, upper=hi)
    else:
        n_dropped_outside = int(outside.sum())
        keep = ~outside
        data, rel, is_treated_unit = data[keep].reset_index(drop=True), rel[keep].reset_index(drop=True), is_treated_unit[keep].reset_index(drop=True)
        rel_w = rel
        binned_low = binned_high = 0

    treated_now = is_treated_unit & (rel >= 0)
    _check_treated_and_comparison(data, treated_now, panel)

    window = list(range(lo, hi + 1))
    counts = {e: int((rel_w == e).sum()) for e in window}
    empty = [e for e in window if counts[e] == 0 and e != ref_period]
    if empty:
        warn_caller(
            f"event time(s) {empty} have no observations in the window [{lo}, {hi}]; their indicators are left out")
    estimated = [e for e in window if e != ref_period and e not in empty]
    if not estimated:
        raise ValueError("no event-time indicator has observations: nothing to estimate")
    exog = [_event_col(e) for e in estimated] + list(panel.covariates)
    X = np.column_stack(
        [(rel_w.to_numpy()[:, None] == np.array(estimated, dtype=float)[None, :]).astype(float)]
        + [data[c].to_numpy(dtype=float)[:, None] for c in panel.covariates]
    )
    try:
        fit = _fit(data, X, exog, unit)
    except ValueError as exc:
        if panel.n_never_treated + panel.n_treated_after_window == 0:
            raise ValueError(
                f"{exc}. There are no never-treated units: the full set of relative-time indicators is collinear with "
                "the unit and period effects; restrict the window with leads/lags (binning endpoints) or add "
                "never-treated units"
            ) from exc
        raise
    coefs = _coefficient_table(fit, alpha).set_index("term")

    rows = []
    for e in window:
        if e in empty:
            continue
        if e == ref_period:
            rows.append(
                {
                    "aggregation": "event_study", "cohort": None, "period": None, "event_time": e,
                    "estimate": 0.0, "std_error": np.nan, "ci_lower": np.nan, "ci_upper": np.nan,
                    "p_value": np.nan, "t_stat": np.nan, "reference": True, "n_obs": counts[e],
                    "inference": "reference period: normalised to 0, not estimated",
                }
            )
            continue
        c = coefs.loc[_event_col(e)]
        rows.append(
            {
                "aggregation": "event_study", "cohort": None, "period": None, "event_time": e,
                "estimate": c["estimate"], "std_error": c["std_error"], "ci_lower": c["ci_lower"],
                "ci_upper": c["ci_upper"], "p_value": c["p_value"], "t_stat": c["t_stat"],
                "reference": False, "n_obs": counts[e], "inference": None,
            }
        )
    estimates = pd.DataFrame(rows)
    estimates["reference"] = estimates["reference"].astype(bool)

    post = [e for e in estimated if e >= 0]
    overall = None
    if post:
        names = [_event_col(e) for e in post]
        w = np.full(len(post), 1.0 / len(post))
        est = float(w @ fit.params[names].to_numpy())
        se = float(np.sqrt(w @ fit.cov.loc[names, names].to_numpy() @ w))
        inf = _t_inference(np.array([est]), np.array([se]), fit.df_t, alpha)
        overall = OverallEstimate(est, se, float(inf["ci_lower"][0]), float(inf["ci_upper"][0]), float(inf["p_value"][0]))

    n_treated, n_control = _unit_counts(data)
    meta = _common_metadata(panel, fit)
    meta.update(
        {
            "window": (lo, hi),
            "leads": leads,
            "lags": lags,
            "ref_period": ref_period,
            "bin_endpoints": bool(bin_endpoints),
            "binned_observations": {lo: binned_low, hi: binned_high},
            "n_dropped_outside_window": n_dropped_outside,
            "empty_event_times": tuple(empty),
            "overall_event_times": tuple(post),
            "overall_definition": "equally weighted average of the post-period (event_time >= 0) coefficients; "
            "SE from the coefficient covariance",
        }
    )
    notes = list(panel.notes)
    binned = [f"{binned_low} observation(s) with event time < {lo} pooled into the {lo} indicator"] if binned_low else []
    if binned_high:
        binned.append(f"{binned_high} observation(s) with event time > {hi} pooled into the {hi} indicator")
    if bin_endpoints and binned:
        notes.append("endpoints binned: " + "; ".join(binned))
    if n_dropped_outside:
        notes.append(f"{n_dropped_outside} treated observation(s) outside the window [{lo}, {hi}] dropped")
    if post:
        notes.append(f"overall = equally weighted average of event times {post[0]}..{post[-1]} coefficients")
    meta["notes"] = tuple(notes)
    return EstimationResult(
        estimator="event_study_twfe",
        outcome=outcome,
        estimates=estimates,
        overall=overall,
        inference=_inference_text(unit, fit),
        n_treated=n_treated,
        n_control=n_control,
        n_obs=fit.n_obs,
        n_dropped_missing=panel.n_dropped_missing,
        alpha=alpha,
        n_units=fit.n_clusters,
        label="TWFE event study",
        coefficients=coefs.reset_index(),
        vcov=fit.cov,
        time_dtype=panel.time_dtype,
        metadata=meta,
    )
