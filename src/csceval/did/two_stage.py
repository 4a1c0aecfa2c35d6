r"""Two-stage difference-in-differences (Gardner 2021), as R ``did2s`` (Butts & Gardner 2022).

The estimator imputes untreated potential outcomes from a two-way fixed effects model fitted on the
untreated observations only, then regresses the residualised outcome on treatment indicators. Its
covariance is the GMM (sandwich) covariance that corrects for the first stage having been estimated,
exactly as ``did2s::did2s`` reports it.

This module also holds the sparse unit + period fixed-effects machinery (design matrix, untreated-
sample first stage, imputability and connectedness checks) that :mod:`csceval.did.imputation` and
:mod:`csceval.did.sun_abraham` reuse.

Data conventions are those of :mod:`csceval.did.twfe` (see ``csceval.did._panel``): periods are
indexed ``0 .. T-1`` on the observed period values, a cohort is the index of its first treated
period, ``0``/NaN/NaT means never treated, and a unit first treated after the last observed period is
a comparison unit. Event time is :math:`e_{it} = t - g_i` in period-index units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.sparse import csgraph
from scipy.sparse.linalg import splu

from csceval.did._panel import _G, _T, _UNIT, _Y, PreparedPanel, prepare_panel, single_threaded_blas, warn_caller
from csceval.did._results import EstimationResult, OverallEstimate

__all__ = ["two_stage"]


# =============================================================================================
# Shared sparse fixed-effects machinery (used by imputation.py and sun_abraham.py as well)
# =============================================================================================
def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    return alpha


def _check_window_arg(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")
    return int(value)


def _fe_dummies(unit_codes: np.ndarray, time_codes: np.ndarray, n_units: int, n_times: int,
                base_time: int) -> sparse.csr_matrix:
    """Sparse [unit dummies (all levels) | period dummies (all but ``base_time``)]."""
    n = len(unit_codes)
    rows = np.arange(n)
    unit_part = sparse.csr_matrix((np.ones(n), (rows, unit_codes)), shape=(n, n_units))
    keep = time_codes != base_time
    tcol = np.where(time_codes > base_time, time_codes - 1, time_codes)
    time_part = sparse.csr_matrix(
        (np.ones(int(keep.sum())), (rows[keep], tcol[keep])), shape=(n, max(n_times - 1, 0))
    )
    return sparse.hstack([unit_part, time_part], format="csr")


def _n_components(unit_codes: np.ndarray, time_codes: np.ndarray, n_units: int, n_times: int) -> int:
    """Connected components of the unit-period bipartite graph (FE identified up to one constant iff 1)."""
    n = len(unit_codes)
    adj = sparse.csr_matrix(
        (np.ones(n), (unit_codes, n_units + time_codes)), shape=(n_units + n_times, n_units + n_times)
    )
    n_comp, _ = csgraph.connected_components(adj, directed=False)
    return int(n_comp)


@dataclass(frozen=True)
class _FirstStage:
    """Unit + period (+ covariate) model for Y(0), fitted on the untreated rows.

    ``Z`` is the full design (all rows of the estimation sample), ``untreated`` the boolean mask of
    the rows used for fitting, ``coef`` the coefficients, ``fitted`` :math:`Z\\hat\\gamma` (all rows),
    ``solve`` applies :math:`(Z_0'W_0Z_0)^{-1}` to a (p,) or (p, m) array.
    """

    Z: sparse.csr_matrix
    untreated: np.ndarray
    coef: np.ndarray
    fitted: np.ndarray
    solve: Any
    n_fe: int
    covariate_coef: np.ndarray


def _fit_first_stage(
    y: np.ndarray,
    unit_codes: np.ndarray,
    time_codes: np.ndarray,
    untreated: np.ndarray,
    covariates: np.ndarray | None = None,
    covariate_names: Sequence[str] = (),
    weights: np.ndarray | None = None,
) -> _FirstStage:
    """Fit :math:`Y_{it}(0) = \\alpha_i + \\lambda_t + X_{it}'\\delta` by (weighted) least squares on
    the untreated rows.

    Every unit and period in ``unit_codes``/``time_codes`` (codes ``0..N-1``, ``0..T-1``) must have an
    untreated row and the untreated rows must connect all units and periods (checked by the callers
    via :func:`_imputable_rows`). Raises ``ValueError`` if covariates are collinear with each other or
    with the fixed effects on the untreated rows.
    """
    n_units = int(unit_codes.max()) + 1
    n_times = int(time_codes.max()) + 1
    base_time = int(time_codes[untreated].min())
    D = _fe_dummies(unit_codes, time_codes, n_units, n_times, base_time)
    n_fe = D.shape[1]
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    sw0 = np.sqrt(w[untreated])
    D0 = sparse.diags(sw0) @ D[untreated]
    DtD = (D0.T @ D0).tocsc()
    lu_d = splu(DtD)
    if covariates is not None and covariates.shape[1] > 0:
        X = np.asarray(covariates, dtype=float)
        X0 = X[untreated] * sw0[:, None]
        # Schur complement of the covariate block: X0'X0 - X0'D0 (D0'D0)^-1 D0'X0 (FWL)
        DtX = np.asarray((D0.T @ X0))
        schur = X0.T @ X0 - DtX.T @ lu_d.solve(DtX)
        scale = np.maximum(np.diag(X0.T @ X0), 1e-300)
        norm = schur / np.sqrt(np.outer(scale, scale))
        eig = np.linalg.eigvalsh((norm + norm.T) / 2)
        if eig.min() < 1e-10:
            partialled = np.diag(schur) / scale
            bad = [str(covariate_names[j]) if j < len(covariate_names) else f"#{j}"
                   for j in np.where(partialled < 1e-8)[0]]
            detail = f" (absorbed by the unit and period effects: {bad})" if bad else ""
            raise ValueError(
                "covariates are collinear with each other or with the unit and period effects on the untreated "
                f"observations{detail}; drop or combine them"
            )
        Z = sparse.hstack([D, sparse.csr_matrix(X)], format="csr")
    else:
        Z = D.tocsr()
    Z0 = sparse.diags(sw0) @ Z[untreated]
    A = (Z0.T @ Z0).tocsc()
    lu = splu(A)
    coef = lu.solve(np.asarray(Z0.T @ (y[untreated] * sw0)).ravel())
    fitted = np.asarray(Z @ coef).ravel()
    return _FirstStage(
        Z=Z, untreated=untreated, coef=coef, fitted=fitted, solve=lu.solve, n_fe=n_fe,
        covariate_coef=coef[n_fe:],
    )


def _imputable_rows(unit_codes: np.ndarray, time_codes: np.ndarray, untreated: np.ndarray) -> np.ndarray:
    """Rows whose unit and period both have an untreated row (so :math:`\\hat Y(0)` exists)."""
    units_ok = np.zeros(int(unit_codes.max()) + 1, dtype=bool)
    units_ok[unit_codes[untreated]] = True
    times_ok = np.zeros(int(time_codes.max()) + 1, dtype=bool)
    times_ok[time_codes[untreated]] = True
    return units_ok[unit_codes] & times_ok[time_codes]


@dataclass
class _Sample:
    """Estimation sample for the imputation-type estimators (two-stage, BJS imputation)."""

    data: pd.DataFrame          # rows kept, with _u (unit code), _tc (period code), _treat, _rel
    n_dropped_unimputable: int
    dropped_units: tuple
    dropped_periods: tuple
    notes: list


def _imputation_sample(panel: PreparedPanel, estimator: str) -> _Sample:
    """Treated = at or after the unit's cohort. Keep the rows for which :math:`\\hat Y(0)` is identified.

    Treated rows of a unit without untreated rows (treated in the first observed period, or with its
    untreated rows missing) or in a period in which no row is untreated cannot be imputed: they are
    dropped, counted and reported. Raises ``ValueError`` if nothing is left, or if the untreated rows
    split into unconnected groups of units and periods.
    """
    data = panel.data.copy()
    treated = (data[_G].notna() & (data[_T] >= data[_G])).to_numpy()
    if not treated.any():
        raise ValueError(
            f"no treated units: no row with a non-missing {panel.outcome!r} is at or after its unit's cohort "
            f"({panel.cohort!r}); check the cohort column (0/NaN/NaT = never treated) and the period range"
        )
    if treated.all():
        raise ValueError(
            "no untreated observations: every row is at or after its unit's cohort, so untreated outcomes "
            f"cannot be imputed ({estimator} needs never-treated or not-yet-treated observations)"
        )
    u = pd.factorize(data[_UNIT])[0]
    t = data[_T].to_numpy().astype(int)
    ok = _imputable_rows(u, t, ~treated)
    notes: list[str] = []
    dropped_units: tuple = ()
    dropped_periods: tuple = ()
    n_drop = int((~ok).sum())
    if n_drop:
        units_all = pd.Series(data[_UNIT].to_numpy())
        untreated_units = set(units_all[~treated])
        dropped_units = tuple(sorted(set(units_all[~ok]) - untreated_units))
        times_untreated = set(t[~treated])
        dropped_periods = tuple(panel.times[p] for p in sorted(set(t[~ok]) - times_untreated))
        msg = (
            f"{n_drop} treated observation(s) cannot be imputed and are dropped: "
            + (f"unit(s) {list(dropped_units)[:10]} have no untreated observation (e.g. treated from the first "
               "period)" if dropped_units else "")
            + ("; " if dropped_units and dropped_periods else "")
            + (f"in period(s) {[str(p) for p in dropped_periods[:10]]} every unit is treated, so the period "
               "effect is not identified" if dropped_periods else "")
        )
        notes.append(msg)
        warn_caller(msg)
        data = data[ok].reset_index(drop=True)
        treated = treated[ok]
        if not treated.any():
            raise ValueError(f"no treated observation can be imputed: {msg}")
    data["_u"] = pd.factorize(data[_UNIT])[0]
    data["_tc"] = pd.factorize(data[_T], sort=True)[0]
    data["_treat"] = treated
    data["_rel"] = (data[_T] - data[_G]).to_numpy()  # NaN for comparison units
    u = data["_u"].to_numpy()
    tc = data["_tc"].to_numpy()
    n_comp = _n_components(u[~treated], tc[~treated], int(u.max()) + 1, int(tc.max()) + 1)
    if n_comp > 1:
        raise ValueError(
            f"the untreated observations split into {n_comp} unconnected groups of units and periods, so the unit "
            "and period effects (and the imputed untreated outcomes) are not identified; add never-treated units "
            "or restrict the periods"
        )
    return _Sample(data=data, n_dropped_unimputable=n_drop, dropped_units=dropped_units,
                   dropped_periods=dropped_periods, notes=notes)


def _cluster_sums(scores: np.ndarray, cluster_codes: np.ndarray, n_clusters: int) -> np.ndarray:
    """Sum the rows of ``scores`` (n, k) within clusters -> (G, k)."""
    out = np.zeros((n_clusters, scores.shape[1]))
    np.add.at(out, cluster_codes, scores)
    return out


def _t_table(estimate: np.ndarray, se: np.ndarray, df_t: int, alpha: float) -> dict[str, np.ndarray]:
    estimate = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    crit = stats.t.ppf(1 - alpha / 2, df_t)
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = estimate / se
    return {
        "estimate": estimate,
        "std_error": se,
        "t_stat": tstat,
        "p_value": 2 * stats.t.sf(np.abs(tstat), df_t),
        "ci_lower": estimate - crit * se,
        "ci_upper": estimate + crit * se,
    }


def _unit_counts(data: pd.DataFrame) -> tuple[int, int]:
    treated_units = int(data.loc[data[_G].notna(), _UNIT].nunique())
    return treated_units, int(data[_UNIT].nunique()) - treated_units


def _common_metadata(panel: PreparedPanel) -> dict[str, Any]:
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
    }


def _reference_row(e: int, n_obs: int, text: str) -> dict[str, Any]:
    return {
        "aggregation": "event_study", "cohort": None, "period": None, "event_time": e,
        "estimate": 0.0, "std_error": np.nan, "ci_lower": np.nan, "ci_upper": np.nan, "p_value": np.nan,
        "t_stat": np.nan, "reference": True, "n_obs": n_obs, "inference": text,
    }


# =============================================================================================
# Two-stage core (GMM covariance of did2s)
# =============================================================================================
@dataclass(frozen=True)
class _TwoStageFit:
    coef: np.ndarray
    vcov: np.ndarray
    adj: np.ndarray
    first_stage: _FirstStage
    n_clusters: int


def _two_stage_core(
    y: np.ndarray,
    unit_codes: np.ndarray,
    time_codes: np.ndarray,
    untreated: np.ndarray,
    X2: np.ndarray,
    cluster_codes: np.ndarray,
    covariates: np.ndarray | None = None,
    covariate_names: Sequence[str] = (),
    weights: np.ndarray | None = None,
) -> _TwoStageFit:
    r"""Gardner's two-stage estimator with the did2s GMM covariance.

    Stage 1: :math:`\hat\gamma = \arg\min \sum_{D_{it}=0} w_{it}(y_{it} - z_{it}'\gamma)^2` with
    :math:`z_{it}` the unit and period dummies (and covariates); :math:`\tilde y_{it} = y_{it} -
    z_{it}'\hat\gamma` for all rows. Stage 2: weighted OLS of :math:`\tilde y` on ``X2`` (all rows).

    Covariance (did2s ``make_V``; no small-sample factor), with :math:`\sqrt{w}`-scaled rows,
    :math:`Z_0` = :math:`Z` with treated rows set to zero, :math:`\hat u_1 = \tilde y`,
    :math:`\hat u_2` the stage-2 residuals:

    .. math::

        \hat V = (X_2'X_2)^{-1}\Big[\sum_g s_g s_g'\Big](X_2'X_2)^{-1},\qquad
        s_g = X_{2g}'\hat u_{2g} - X_2'Z\,(Z_0'Z_0)^{-1} Z_{0g}'\hat u_{1g}.
    """
    n = len(y)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    fs = _fit_first_stage(y, unit_codes, time_codes, untreated, covariates, covariate_names, w)
    adj = y - fs.fitted
    X2 = np.asarray(X2, dtype=float)
    sw = np.sqrt(w)
    X2w = X2 * sw[:, None]
    xtx = X2w.T @ X2w
    if np.linalg.matrix_rank(xtx) < xtx.shape[0]:
        raise ValueError("the second-stage indicators are collinear (an indicator without observations?)")
    xtx_inv = np.linalg.inv(xtx)
    coef = xtx_inv @ (X2w.T @ (adj * sw))
    u2w = (adj - X2 @ coef) * sw
    u1w = adj * sw * untreated
    Zw = sparse.diags(sw) @ fs.Z
    # B = (Z0'Z0)^{-1} Z'X2  (p, k2);  row i of Z0 B = contribution of untreated row i
    B = fs.solve(np.asarray(Zw.T @ X2w))
    B = B.reshape(fs.Z.shape[1], -1)
    F = np.asarray(Zw @ B)
    scores = X2w * u2w[:, None] - F * u1w[:, None]
    n_clusters = int(cluster_codes.max()) + 1
    S = _cluster_sums(scores, cluster_codes, n_clusters)
    meat = S.T @ S
    vcov = xtx_inv @ meat @ xtx_inv
    return _TwoStageFit(coef=coef, vcov=vcov, adj=adj, first_stage=fs, n_clusters=int(len(np.unique(cluster_codes))))


# =============================================================================================
# Public estimator
# =============================================================================================
@single_threaded_blas
def two_stage(
    df: pd.DataFrame,
    outcome: str,
    unit: str = "la_code",
    time: str = "period",
    cohort: str = "first_treated",
    event_study: bool = True,
    ref_period: int | None = None,
    leads: int | None = None,
    lags: int | None = None,
    covariates: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> EstimationResult:
    r"""Two-stage difference-in-differences (Gardner 2021), as R ``did2s``.

    **Stage 1** fits untreated potential outcomes on the untreated observations
    (:math:`D_{it} = \mathbf 1\{t \ge g_i\} = 0`: never-treated units and not-yet-treated periods),

    .. math::

        y_{it} = \alpha_i + \lambda_t + X_{it}'\delta + \varepsilon_{it}, \qquad D_{it} = 0,

    and residualises every observation, :math:`\tilde y_{it} = y_{it} - \hat\alpha_i - \hat\lambda_t
    - X_{it}'\hat\delta`. **Stage 2** regresses :math:`\tilde y_{it}` (all observations) on the
    treatment indicators, without intercept:

    .. math::

        \text{overall:}\quad \tilde y_{it} = \tau D_{it} + u_{it}, \qquad
        \text{event study:}\quad \tilde y_{it} = \sum_{e \in W,\, e \ne r} \tau_e
            \mathbf 1\{t - g_i = e\} + u_{it}.

    :math:`\hat\tau` is the average of :math:`\tilde y` over treated observations (the ATT over all
    treated unit-periods, equal to the imputation estimator's point estimate) and :math:`\hat\tau_e`
    its average at event time :math:`e`; for :math:`e < 0` it is a pre-trend check (mean residual of
    not-yet-treated observations, 0 in expectation under parallel trends and no anticipation).

    Parameters
    ----------
    df, outcome, unit, time, cohort, covariates, alpha
        As in :func:`csceval.did.twfe`. Covariates enter the first stage only (time-varying; a
        covariate absorbed by the fixed effects on the untreated rows is a ``ValueError``).
    event_study : bool
        If True (default) report event-time rows (aggregation ``"event_study"``) as well as the
        overall row; if False only the overall row.
    ref_period : int, optional
        Event time left out of the second stage and reported as a normalised reference row (0, no
        SE), e.g. ``-1`` as in ``i(rel_year, ref = c(-1, Inf))``. ``None`` (default): no
        reference, every event time in the window is estimated.
    leads, lags : int, optional
        Window :math:`W = [-L, K]` of event times with indicators. ``None`` = all observed. Rows
        outside the window get no indicator (no binning); this does not change the estimates for
        event times inside the window because the indicators partition the rows without intercept.

    Returns
    -------
    EstimationResult
        ``estimator="two_stage"``. ``estimates`` holds the event-time rows (with ``n_obs`` and a
        ``reference`` flag) and the overall row :math:`\hat\tau`; ``coefficients``/``vcov`` hold the
        event-study second stage (or the overall one if ``event_study=False``).

    Raises
    ------
    ValueError
        As :func:`csceval.did.twfe`; also if no observation is untreated, the untreated
        observations do not connect all units and periods, a covariate is collinear, or the window
        is invalid.

    Warns
    -----
    UserWarning
        If treated observations cannot be imputed (a unit treated from the first observed period,
        or a period in which every unit is treated); they are dropped and counted in
        ``metadata["n_dropped_unimputable"]``.

    Notes
    -----
    Standard errors are the did2s GMM sandwich (Gardner 2021; Butts & Gardner 2022), clustered by
    ``unit``:

    .. math::

        \hat V = (X_2'X_2)^{-1}\Big[\sum_g s_g s_g'\Big](X_2'X_2)^{-1},\quad
        s_g = X_{2g}'\hat u_{2g} - X_2'Z(Z_0'Z_0)^{-1}Z_{0g}'\tilde y_{g},

    with :math:`Z` the first-stage design (unit and period dummies, covariates), :math:`Z_0` that
    design with treated rows set to 0 and :math:`\hat u_2` the second-stage residuals. As in did2s
    there is no small-sample factor. Confidence intervals and p-values use :math:`t(G-1)` (did2s
    via fixest prints normal/large-df intervals; the SEs are identical).
    """
    alpha = _check_alpha(alpha)
    leads = _check_window_arg("leads", leads)
    lags = _check_window_arg("lags", lags)
    if ref_period is not None and (isinstance(ref_period, bool) or not isinstance(ref_period, (int, np.integer))):
        raise ValueError(f"ref_period must be an integer event time or None, got {ref_period!r}")
    panel = prepare_panel(df, outcome, unit, time, cohort, covariates)
    sample = _imputation_sample(panel, "two_stage")
    data = sample.data
    y = data[_Y].to_numpy()
    u = data["_u"].to_numpy()
    tc = data["_tc"].to_numpy()
    treat = data["_treat"].to_numpy()
    X = data[list(panel.covariates)].to_numpy() if panel.covariates else None
    cl = u
    G = int(u.max()) + 1
    df_t = G - 1

    overall_fit = _two_stage_core(y, u, tc, ~treat, treat.astype(float)[:, None], cl, X, panel.covariates)
    ov = _t_table(overall_fit.coef, np.sqrt(np.diag(overall_fit.vcov)), df_t, alpha)
    overall = OverallEstimate(float(ov["estimate"][0]), float(ov["std_error"][0]), float(ov["ci_lower"][0]),
                              float(ov["ci_upper"][0]), float(ov["p_value"][0]))
    rows: list[dict[str, Any]] = []
    coef_table = pd.DataFrame({"term": ["treated"], **{k: v for k, v in ov.items()}})
    vcov = pd.DataFrame(overall_fit.vcov, index=["treated"], columns=["treated"])
    window: tuple[int, int] | None = None
    rel = data["_rel"].to_numpy()
    has_rel = ~np.isnan(rel)
    if event_study:
        rel_obs = rel[has_rel].astype(int)
        lo = -leads if leads is not None else int(rel_obs.min())
        hi = lags if lags is not None else int(rel_obs.max())
        if ref_period is not None and not lo <= ref_period <= hi:
            raise ValueError(f"ref_period={ref_period} is outside the event window [{lo}, {hi}] set by leads/lags")
        window = (lo, hi)
        counts = {e: int((rel_obs == e).sum()) for e in range(lo, hi + 1)}
        estimated = [e for e in range(lo, hi + 1) if counts[e] > 0 and e != ref_period]
        if not estimated:
            raise ValueError(f"no observations at any event time in the window [{lo}, {hi}]")
        X2 = np.column_stack([(has_rel & (np.nan_to_num(rel, nan=-1e9) == e)).astype(float) for e in estimated])
        es_fit = _two_stage_core(y, u, tc, ~treat, X2, cl, X, panel.covariates)
        tab = _t_table(es_fit.coef, np.sqrt(np.diag(es_fit.vcov)), df_t, alpha)
        names = [f"event_time[{e}]" for e in estimated]
        coef_table = pd.DataFrame({"term": names, **tab})
        vcov = pd.DataFrame(es_fit.vcov, index=names, columns=names)
        for e in range(lo, hi + 1):
            if e == ref_period:
                rows.append(_reference_row(e, counts[e], "reference period: left out of the second stage, normalised to 0"))
                continue
            if counts[e] == 0:
                continue
            j = estimated.index(e)
            rows.append({
                "aggregation": "event_study", "cohort": None, "period": None, "event_time": e,
                **{k: float(v[j]) for k, v in tab.items()}, "reference": False, "n_obs": counts[e], "inference": None,
            })
    rows.append({
        "aggregation": "overall", "cohort": None, "period": None, "event_time": pd.NA,
        **{k: float(v[0]) for k, v in ov.items()}, "reference": False, "n_obs": int(treat.sum()), "inference": None,
    })
    estimates = pd.DataFrame(rows)
    estimates["reference"] = estimates["reference"].astype(bool)
    n_treated, n_control = _unit_counts(data)
    meta = _common_metadata(panel)
    meta.update({
        "n_clusters": G,
        "df_t": df_t,
        "window": window,
        "leads": leads,
        "lags": lags,
        "ref_period": ref_period,
        "event_study": bool(event_study),
        "n_treated_obs": int(treat.sum()),
        "n_untreated_obs": int((~treat).sum()),
        "n_dropped_unimputable": sample.n_dropped_unimputable,
        "dropped_units": sample.dropped_units,
        "dropped_periods": sample.dropped_periods,
        "first_stage_covariate_coef": dict(zip(panel.covariates, overall_fit.first_stage.covariate_coef.tolist())),
        "small_sample_factor": 1.0,
        "overall_definition": "second-stage coefficient on D_it = 1{t >= g_i}: the mean residualised outcome over all "
        "treated observations",
        "notes": tuple(panel.notes) + tuple(sample.notes),
    })
    return EstimationResult(
        estimator="two_stage",
        outcome=outcome,
        estimates=estimates,
        overall=overall,
        inference=f"did2s GMM sandwich (first stage accounted for), clustered by {unit} (G={G}), "
        f"no small-sample factor, t(G-1)=t({df_t})",
        n_treated=n_treated,
        n_control=n_control,
        n_obs=len(data),
        n_dropped_missing=panel.n_dropped_missing,
        alpha=alpha,
        n_units=G,
        label="Two-stage DiD (Gardner)",
        coefficients=coef_table,
        vcov=vcov,
        time_dtype=panel.time_dtype,
        metadata=meta,
    )
