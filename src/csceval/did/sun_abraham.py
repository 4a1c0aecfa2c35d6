r"""Interaction-weighted event study of Sun & Abraham (2021), as ``fixest::sunab``.

A saturated regression of the outcome on cohort x relative-period indicators with unit and period
fixed effects estimates the cohort-specific average treatment effects :math:`CATT_{g,e}`; they are
aggregated to event times (and to an overall ATT) with weights equal to each cohort's share of the
observations at that relative period, and the covariance of the aggregates follows by the delta
method, :math:`W \hat V W'` — exactly what ``fixest::aggregate`` / ``summary(..., agg = "ATT")`` do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, sparse
from scipy.sparse.linalg import splu

from csceval.did._panel import _G, _T, _UNIT, _Y, prepare_panel, single_threaded_blas, warn_caller
from csceval.did._results import EstimationResult, OverallEstimate
from csceval.did._within import _dense, _indicator, _two_way_effects
from csceval.did.two_stage import (
    _check_alpha,
    _check_window_arg,
    _common_metadata,
    _fe_dummies,
    _reference_row,
    _t_table,
    _unit_counts,
)

__all__ = ["sun_abraham"]

_CONTROL_COHORTS = ("never_treated", "last_treated")


def _partial_out(unit_codes: np.ndarray, time_codes: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Residuals of the columns of ``M`` on unit and period dummies (within transformation)."""
    D = _fe_dummies(unit_codes, time_codes, int(unit_codes.max()) + 1, int(time_codes.max()) + 1, 0)
    lu = splu((D.T @ D).tocsc())
    coef = lu.solve(np.asarray(D.T @ M)).reshape(D.shape[1], -1)
    return M - np.asarray(D @ coef).reshape(M.shape)


def _cell_indicators(g_arr: np.ndarray, rel_arr: np.ndarray, cell_g: np.ndarray, cell_e: np.ndarray) -> sparse.csr_matrix:
    """Sparse n x cells matrix: 1 where a row's (cohort, relative period) is the column's cell.

    Each row is in at most one cell, so a lookup table over (cohort, relative period) finds its column
    in one pass, instead of one comparison of every row per cell.
    """
    n, m = len(g_arr), len(cell_g)
    if m == 0:
        return sparse.csr_matrix((n, 0))
    e_lo, e_hi, g_hi = int(cell_e.min()), int(cell_e.max()), int(cell_g.max())
    lookup = np.full((e_hi - e_lo + 1, g_hi + 1), -1, dtype=np.int64)
    lookup[cell_e - e_lo, cell_g] = np.arange(m)
    inside = (g_arr >= 0) & (g_arr <= g_hi) & (rel_arr >= e_lo) & (rel_arr <= e_hi)
    col = np.full(n, -1, dtype=np.int64)
    col[inside] = lookup[rel_arr[inside] - e_lo, g_arr[inside]]
    rows = np.flatnonzero(col >= 0)
    return sparse.csr_matrix((np.ones(len(rows)), (rows, col[rows])), shape=(n, m))


def _independent_columns(Xt: np.ndarray) -> np.ndarray:
    """Columns kept by a pivoted QR: those not collinear with the fixed effects or each other (fixest drops them)."""
    _, r, piv = linalg.qr(Xt, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    tol = max(Xt.shape) * np.finfo(float).eps * (diag[0] if len(diag) else 0.0) * 1e3
    rank = int((diag > tol).sum())
    return np.sort(piv[:rank])


@dataclass(frozen=True)
class _SparseWithin:
    """The regression on ``X`` with unit and period effects, without forming the demeaned ``X``.

    The demeaned regressors are ``Xt = X - psi[a] - gamma[b]`` (:func:`_two_way_effects`). Since the
    cohort x period indicators are sparse (one 1 per row at most), every product the fit needs is
    formed from ``X``, its effects and the residuals in one pass over the rows: ``Xt'Xt = X'Xt =
    X'X - (X'A) psi - (X'B) gamma`` (the annihilator is symmetric and idempotent), ``Xt'yt = X'yt`` and
    the unit sums of the scores ``Xt * e``, ``U'(e X) - (U' e A) psi - (U' e B) gamma``. The n x k
    dense ``Xt`` of the saturated regression (hundreds of columns on a large panel) is never built.
    """

    X: sparse.csr_matrix
    a: np.ndarray
    b: np.ndarray
    psi: np.ndarray
    gamma: np.ndarray
    yt: np.ndarray
    gram: np.ndarray
    xty: np.ndarray

    def resid(self, beta: np.ndarray) -> np.ndarray:
        return self.yt - self.X @ beta + (self.psi @ beta)[self.a] + (self.gamma @ beta)[self.b]

    def score_sums(self, resid: np.ndarray, units: np.ndarray, n_units: int) -> np.ndarray:
        Ue = _indicator(units, n_units).T @ sparse.diags(resid)
        # sparse (units x levels) tables times the dense effects: no dense units x units product
        return (_dense(Ue @ self.X) - np.asarray((Ue @ _indicator(self.a, len(self.psi))) @ self.psi)
                - np.asarray((Ue @ _indicator(self.b, len(self.gamma))) @ self.gamma))


def _sparse_within_if_full_rank(u: np.ndarray, tc: np.ndarray, Xcells: sparse.csr_matrix, Xcov: np.ndarray,
                                y: np.ndarray) -> _SparseWithin | None:
    """The fit's cross-products (:class:`_SparseWithin`) when no regressor can be collinear; else None.

    :func:`_independent_columns` keeps every column when the smallest singular value of ``Xt`` is
    above its tolerance (every diagonal element of a QR factor, in any column order, is at least the
    smallest singular value; the largest is the largest column norm). That is checked here on the
    eigenvalues of ``Xt'Xt``, with margins (10 times the tolerance; eigenvalues resolved well above
    their rounding error), so the pivoted QR of the dense n x k ``Xt``, the slowest step, only runs
    when a column may have to be dropped (None: the caller takes that path).
    """
    X = sparse.hstack([Xcells, sparse.csr_matrix(Xcov)], format="csr") if Xcov.shape[1] else Xcells.tocsr()
    k = X.shape[1]
    effects = _two_way_effects(u, tc, X) if k else None
    if effects is None:
        return None
    a, b, psi, gamma = effects
    _, _, psi_y, gamma_y = _two_way_effects(u, tc, y[:, None])
    yt = y - psi_y[a, 0] - gamma_y[b, 0]
    gram = (_dense(X.T @ X) - np.asarray((X.T @ _indicator(a, len(psi))) @ psi)
            - np.asarray((X.T @ _indicator(b, len(gamma))) @ gamma))
    gram = (gram + gram.T) / 2
    xty = np.asarray(X.T @ yt).ravel()
    eig = np.linalg.eigvalsh(gram)
    tol = max(len(y), k) * np.finfo(float).eps * float(np.sqrt(np.max(np.diag(gram)))) * 1e3
    resolved = eig[0] > 1e4 * k * np.finfo(float).eps * eig[-1]
    if not (resolved and np.sqrt(max(eig[0], 0.0)) > 10 * tol):
        return None
    return _SparseWithin(X, a, b, psi, gamma, yt, gram, xty)


@single_threaded_blas
def sun_abraham(
    df: pd.DataFrame,
    outcome: str,
    unit: str = "la_code",
    time: str = "period",
    cohort: str = "first_treated",
    control_cohort: str = "never_treated",
    ref_period: int = -1,
    leads: int | None = None,
    lags: int | None = None,
    covariates: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> EstimationResult:
    r"""Sun & Abraham (2021) interaction-weighted (IW) event study, as ``fixest::sunab``.

    Fits the saturated regression

    .. math::

        y_{it} = \alpha_i + \lambda_t + \sum_{g \notin C}\ \sum_{e \ne r}
            \delta_{g,e}\,\mathbf 1\{g_i = g\}\,\mathbf 1\{t - g = e\} + X_{it}'\gamma + \varepsilon_{it},

    where :math:`C` is the control cohort (no indicators) and :math:`r` the reference relative
    period. :math:`\hat\delta_{g,e}` estimates :math:`CATT_{g,e}`. The IW estimate at event time
    :math:`e` and the overall ATT are

    .. math::

        \hat\nu_e = \sum_{g} \frac{n_{g,e}}{\sum_{g'} n_{g',e}}\,\hat\delta_{g,e}, \qquad
        \widehat{ATT} = \sum_{g,\,e \ge 0} \frac{n_{g,e}}{\sum_{g',\,e' \ge 0} n_{g',e'}}\,\hat\delta_{g,e},

    with :math:`n_{g,e}` the number of observations of cohort :math:`g` at relative period
    :math:`e` in the estimation sample (fixest takes the sample cohort shares as the population
    shares), and covariance :math:`W\hat VW'` for the weight matrix :math:`W`.

    Parameters
    ----------
    df, outcome, unit, time, cohort, covariates, alpha
        As in :func:`csceval.did.twfe`. Covariates enter the regression linearly (as
        ``y ~ x + sunab(cohort, period) | unit + period``).
    control_cohort : {"never_treated", "last_treated"}
        ``"never_treated"`` (default; fixest's default ``ref.c``): never-treated units (and units
        first treated after the last observed period) are the control cohort. ``"last_treated"``
        (Sun & Abraham's choice without never-treated units): the latest treated cohort is the
        control; all observations from its first treated period on are dropped (they would be
        treated controls); never-treated units, if any, stay as additional controls.
    ref_period : int
        Relative period without indicators (default ``-1``; fixest ``ref.p``); reported as a
        reference row with estimate 0.
    leads, lags : int, optional
        Window :math:`[-L, K]` of event times reported as ``event_study`` rows (``None``: all).
        The regression stays fully saturated (every cohort x relative period has its indicator,
        as fixest does without binning), so the window does not change any estimate; the overall
        ATT always aggregates every post-treatment cell.

    Returns
    -------
    EstimationResult
        ``estimator="sun_abraham"``: one ``event_study`` row per event time in the window
        (columns ``n_obs`` = :math:`\sum_g n_{g,e}` and ``reference``), and the overall ATT.
        ``coefficients``/``vcov`` hold the cohort x period coefficients
        (``cohort[g]:event_time[e]``) and covariates; ``metadata["cell_weights"]`` the
        aggregation weights.

    Raises
    ------
    ValueError
        As :func:`csceval.did.twfe`; also without never-treated units when
        ``control_cohort="never_treated"`` (use ``"last_treated"``), with fewer than two treated
        cohorts for ``"last_treated"`` and no never-treated units, for an invalid window or control
        option, and for covariates absorbed by the fixed effects.

    Warns
    -----
    UserWarning
        When always-treated units (first treated in the first observed period; fixest excludes
        them) are dropped, and when cohort x period indicators collinear with the fixed effects are
        dropped (as fixest removes collinear variables).

    Notes
    -----
    Standard errors are fixest's default for ``feols(..., cluster = ~unit)``: CRV1 with
    :math:`\frac{G}{G-1}\frac{n-1}{n-K}`, :math:`K = k + T` (regressors plus period effects; the
    unit effects are nested in the clusters and not counted), and :math:`t(G-1)` for p-values and
    intervals. This differs from :func:`csceval.did.twfe` (linearmodels CR1 counting the unit
    effects): the ratio of the two factors is :math:`(n-k-T)/(n-k-N-T+1)`.

    Units whose cohort is after the last observed period are comparison units here (fixest would
    give them negative relative-period indicators).
    """
    alpha = _check_alpha(alpha)
    leads = _check_window_arg("leads", leads)
    lags = _check_window_arg("lags", lags)
    if control_cohort not in _CONTROL_COHORTS:
        raise ValueError(f"control_cohort must be one of {_CONTROL_COHORTS}, got {control_cohort!r}")
    if isinstance(ref_period, bool) or not isinstance(ref_period, (int, np.integer)):
        raise ValueError(f"ref_period must be an integer event time, got {ref_period!r}")
    ref_period = int(ref_period)
    panel = prepare_panel(df, outcome, unit, time, cohort, covariates)
    data = panel.data.copy()
    notes = list(panel.notes)

    always = data[_G].notna() & (data[_G] <= 0)
    if always.any():
        units = sorted(data.loc[always, _UNIT].unique())
        msg = (f"{len(units)} always-treated unit(s) (first treated in the first observed period, no pre-period) "
               f"excluded, as fixest sunab does: {units[:10]}")
        warn_caller(msg)
        notes.append(msg)
        data = data[~always].reset_index(drop=True)
    if not data[_G].notna().any():
        raise ValueError(
            f"no treated units: every unit's cohort ({cohort!r}) is 0/missing, after the last observed period, or "
            "in the first period (always treated)"
        )
    never = data[_G].isna()
    control_g: float | None = None
    n_dropped_after_control = 0
    if control_cohort == "never_treated":
        if not never.any():
            raise ValueError(
                "no never-treated units (cohort 0/missing or after the last period): the saturated cohort x period "
                "indicators are collinear with the period effects; use control_cohort='last_treated'"
            )
    else:
        cohorts = sorted(data.loc[data[_G].notna(), _G].unique())
        control_g = float(cohorts[-1])
        if len(cohorts) < 2 and not never.any():
            raise ValueError(
                "control_cohort='last_treated' needs at least two treated cohorts when there are no never-treated "
                "units (the last cohort is the control)"
            )
        late = data[_T] >= control_g
        n_dropped_after_control = int(late.sum())
        notes.append(
            f"control cohort = last treated cohort ({panel.times[int(control_g)]}); {n_dropped_after_control} "
            f"observation(s) from that period on dropped"
        )
        data = data[~late].reset_index(drop=True)

    is_ctrl = data[_G].isna() | (data[_G] == control_g if control_g is not None else False)
    rel = (data[_T] - data[_G]).where(~is_ctrl)
    if not ((rel >= 0).any()):
        raise ValueError("no treated observations remain in the estimation sample")
    cells = (
        pd.DataFrame({"g": data.loc[rel.notna(), _G].astype(int), "e": rel[rel.notna()].astype(int)})
        .value_counts()
        .rename("n_obs")
        .reset_index()
        .sort_values(["e", "g"])
    )
    cells = cells[cells["e"] != ref_period].reset_index(drop=True)
    g_arr = data[_G].fillna(-1).astype(int).to_numpy()
    rel_arr = rel.fillna(-10**9).astype(int).to_numpy()
    Xcells = _cell_indicators(g_arr, rel_arr, cells["g"].to_numpy(), cells["e"].to_numpy())
    names = [f"cohort[{panel.times[g]}]:event_time[{e}]" for g, e in zip(cells["g"], cells["e"])]
    cov_names = list(panel.covariates)
    Xcov = np.column_stack([data[c].to_numpy(dtype=float) for c in cov_names]) if cov_names else np.empty((len(data), 0))

    u = pd.factorize(data[_UNIT])[0]
    tc = pd.factorize(data[_T], sort=True)[0]
    y = data[_Y].to_numpy()
    fast = _sparse_within_if_full_rank(u, tc, Xcells, Xcov, y)
    if fast is not None:
        k_all = fast.X.shape[1]
        keep = np.arange(k_all)
    else:
        X = np.hstack([Xcells.toarray(), Xcov])
        Xt = _partial_out(u, tc, X)
        yt = _partial_out(u, tc, y[:, None]).ravel()
        keep = _independent_columns(Xt)
        k_all = X.shape[1]
    dropped = [j for j in range(k_all) if j not in set(keep)]
    dropped_cov = [cov_names[j - len(names)] for j in dropped if j >= len(names)]
    if dropped_cov:
        raise ValueError(
            f"covariate(s) {dropped_cov} are collinear with the unit and period effects or the cohort x period "
            "indicators; drop them"
        )
    dropped_cells = [names[j] for j in dropped]
    if dropped_cells:
        msg = f"cohort x period indicator(s) collinear with the fixed effects dropped: {dropped_cells}"
        warn_caller(msg)
        notes.append(msg)
    if fast is None:
        Xt = Xt[:, keep]
        gram, xty = Xt.T @ Xt, Xt.T @ yt
    else:
        gram, xty = fast.gram, fast.xty
    kept_names = [names[j] if j < len(names) else cov_names[j - len(names)] for j in keep]
    cell_keep = [j for j in keep if j < len(names)]
    cells_used = cells.iloc[cell_keep].reset_index(drop=True)

    bread = np.linalg.inv(gram)
    beta = bread @ xty
    resid = yt - Xt @ beta if fast is None else fast.resid(beta)
    n = len(y)
    G = int(u.max()) + 1
    T_levels = int(tc.max()) + 1
    k = len(keep)
    K = k + T_levels
    factor = G / (G - 1) * (n - 1) / (n - K)
    S = np.asarray(_indicator(u, G).T @ (Xt * resid[:, None])) if fast is None else fast.score_sums(resid, u, G)
    V = factor * bread @ (S.T @ S) @ bread
    df_t = G - 1
    ncell = len(cell_keep)
    b_cells = beta[:ncell]
    V_cells = V[:ncell, :ncell]

    # aggregation weights (fixest: sample counts of each cohort x period indicator)
    counts = cells_used["n_obs"].to_numpy(float)
    ev = cells_used["e"].to_numpy()
    all_e = sorted(set(ev.tolist()) | {ref_period})
    lo = -leads if leads is not None else min(all_e)
    hi = lags if lags is not None else max(all_e)
    shown = [e for e in all_e if lo <= e <= hi]
    W_rows, row_e = [], []
    for e in shown:
        if e == ref_period:
            continue
        w = np.where(ev == e, counts, 0.0)
        if w.sum() > 0:
            W_rows.append(w / w.sum())
            row_e.append(e)
    post = np.where(ev >= 0, counts, 0.0)
    if post.sum() <= 0:
        raise ValueError("no post-treatment cohort x period coefficient could be estimated")
    w_att = post / post.sum()
    rows: list[dict[str, Any]] = []
    if W_rows:
        Wm = np.vstack(W_rows)
        est_e = Wm @ b_cells
        se_e = np.sqrt(np.einsum("ij,jk,ik->i", Wm, V_cells, Wm))
        tab = _t_table(est_e, se_e, df_t, alpha)
    ref_n = int(((rel_arr == ref_period)).sum())
    for e in shown:
        if e == ref_period:
            rows.append(_reference_row(e, ref_n, "reference relative period: no indicators, normalised to 0"))
            continue
        if e not in row_e:
            continue
        i = row_e.index(e)
        rows.append({
            "aggregation": "event_study", "cohort": None, "period": None, "event_time": e,
            **{key: float(v[i]) for key, v in tab.items()}, "reference": False,
            "n_obs": int(counts[ev == e].sum()), "inference": None,
        })
    att = float(w_att @ b_cells)
    att_se = float(np.sqrt(w_att @ V_cells @ w_att))
    ot = _t_table(np.array([att]), np.array([att_se]), df_t, alpha)
    rows.append({
        "aggregation": "overall", "cohort": None, "period": None, "event_time": pd.NA,
        **{key: float(v[0]) for key, v in ot.items()}, "reference": False, "n_obs": int(post.sum()),
        "inference": None,
    })
    overall = OverallEstimate(att, att_se, float(ot["ci_lower"][0]), float(ot["ci_upper"][0]), float(ot["p_value"][0]))
    estimates = pd.DataFrame(rows)
    estimates["reference"] = estimates["reference"].astype(bool)

    ctab = _t_table(beta, np.sqrt(np.diag(V)), df_t, alpha)
    coefficients = pd.DataFrame({"term": kept_names, **ctab})
    vcov = pd.DataFrame(V, index=kept_names, columns=kept_names)
    cell_weights = cells_used.assign(
        cohort=[panel.times[g] for g in cells_used["g"]],
        weight_event_time=[c / counts[ev == e].sum() for c, e in zip(counts, ev)],
        weight_att=w_att,
        estimate=b_cells,
        std_error=np.sqrt(np.diag(V_cells)),
    ).rename(columns={"e": "event_time", "g": "cohort_index"})
    n_treated, n_control = _unit_counts(data.assign(**{_G: data[_G].where(~is_ctrl)}))
    meta = _common_metadata(panel)
    meta.update({
        "control_cohort": control_cohort,
        "control_cohort_period": None if control_g is None else panel.times[int(control_g)],
        "ref_period": ref_period,
        "window": (lo, hi),
        "leads": leads,
        "lags": lags,
        "n_clusters": G,
        "df_t": df_t,
        "small_sample_factor": factor,
        "n_parameters_K": K,
        "cell_weights": cell_weights,
        "dropped_cells": tuple(dropped_cells),
        "n_dropped_after_control_cohort": n_dropped_after_control,
        "overall_definition": "fixest agg='ATT': cohort x period coefficients with relative period >= 0, weighted "
        "by their number of observations",
        "notes": tuple(notes),
    })
    return EstimationResult(
        estimator="sun_abraham",
        outcome=outcome,
        estimates=estimates,
        overall=overall,
        inference=f"cluster-robust by {unit} (G={G}), fixest CRV1 [G/(G-1)*(n-1)/(n-K), K = k + T, unit effects "
        f"nested; factor {factor:.4f}], delta method for the aggregates, t(G-1)=t({df_t})",
        n_treated=n_treated,
        n_control=n_control,
        n_obs=n,
        n_dropped_missing=panel.n_dropped_missing,
        alpha=alpha,
        n_units=G,
        label="Sun-Abraham IW",
        coefficients=coefficients,
        vcov=vcov,
        time_dtype=panel.time_dtype,
        metadata=meta,
    )
