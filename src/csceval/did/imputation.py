r"""Imputation estimator of Borusyak, Jaravel & Spiess (2024), as R ``didimputation::did_imputation``.

Untreated potential outcomes are imputed from unit and period fixed effects (plus covariates) fitted
on the untreated observations; each treated observation's effect is :math:`\hat\tau_{it} = y_{it} -
\hat y_{it}(0)`; estimands are weighted averages of the :math:`\hat\tau_{it}`. Standard errors are
BJS's conservative clustered variance (their Theorem 3 / equation 8 with the cohort x event-time
averaging of equation 10), computed as didimputation does. The pre-trend test is BJS's Test 1: a
regression on the untreated observations with lead indicators added to the fixed-effects model.
"""

from __future__ import annotations


from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, stats

from csceval.did._panel import _G, _Y, prepare_panel, single_threaded_blas, warn_caller
from csceval.did._results import EstimationResult, OverallEstimate
from csceval.did.two_stage import (
    _check_alpha,
    _cluster_sums,
    _common_metadata,
    _fe_dummies,
    _fit_first_stage,
    _imputation_sample,
    _t_table,
    _unit_counts,
)

__all__ = ["imputation"]


@dataclass(frozen=True)
class _ImputationFit:
    estimate: np.ndarray      # one per target
    se: np.ndarray
    adj: np.ndarray           # y - yhat(0), all rows
    v: np.ndarray             # (n, m) BJS weights v*_it
    n_clusters: int


def _imputation_core(
    y: np.ndarray,
    unit_codes: np.ndarray,
    time_codes: np.ndarray,
    treated: np.ndarray,
    cell_codes: np.ndarray,
    targets: np.ndarray,
    cluster_codes: np.ndarray,
    covariates: np.ndarray | None = None,
    covariate_names: Sequence[str] = (),
    variance_rows: np.ndarray | None = None,
) -> _ImputationFit:
    r"""BJS imputation estimates and their conservative clustered standard errors.

    Parameters
    ----------
    targets : (n, m) array
        Treatment weights :math:`w_{it}` of each estimand (columns), zero on untreated rows; each
        column is normalised here to sum to 1 over treated rows.
    cell_codes : (n,) int array
        Cohort x event-time cell of each treated row (untreated rows: anything).
    variance_rows : bool array, optional
        Rows entering the variance sum (default all, as BJS and didimputation 0.5). didimputation 0.3
        summed only over units with a finite event time (leaving out never-treated units); pass that
        mask to reproduce it.

    Notes
    -----
    With :math:`Z` the first-stage design and :math:`Z_0, Z_1` its untreated and treated rows,

    .. math::

        \hat\tau_w = \sum_{D_{it}=1} w_{it}\hat\tau_{it},\qquad
        v^*_{it} = \begin{cases} w_{it} & D_{it}=1\\
            -\big[Z_0(Z_0'Z_0)^{-1}Z_1'w_1\big]_{it} & D_{it}=0\end{cases}

    .. math::

        \widehat{\mathrm{Var}}(\hat\tau_w) = \sum_g\Big(\sum_{(i,t)\in g} v^*_{it}\tilde\varepsilon_{it}\Big)^2,
        \quad \tilde\varepsilon_{it} = \begin{cases}\hat\tau_{it} - \bar\tau_{c(it)} & D_{it}=1\\
            y_{it} - \hat y_{it}(0) & D_{it}=0\end{cases},\quad
        \bar\tau_c = \frac{\sum_{c} v^{*2}_{it}\hat\tau_{it}}{\sum_{c} v^{*2}_{it}},

    :math:`c` the cohort x event-time cell (BJS eq. 10 with their "leave-in" cell averages).
    """
    untreated = ~treated
    fs = _fit_first_stage(y, unit_codes, time_codes, untreated, covariates, covariate_names)
    adj = y - fs.fitted
    W = np.asarray(targets, dtype=float).copy()
    if W.ndim == 1:
        W = W[:, None]
    W[untreated] = 0.0
    sums = W.sum(axis=0)
    if np.any(sums <= 0):
        raise ValueError("an estimand has no treated observations")
    W = W / sums
    est = W[treated].T @ adj[treated]
    Z = fs.Z
    r = np.asarray(Z[treated].T @ W[treated])
    s = fs.solve(r).reshape(Z.shape[1], -1)
    v = np.asarray(Z @ s)
    v[treated] = W[treated]
    v[untreated] = -v[untreated]
    m = W.shape[1]
    se = np.empty(m)
    n_cells = int(cell_codes[treated].max()) + 1 if treated.any() else 0
    rows = np.ones(len(y), dtype=bool) if variance_rows is None else np.asarray(variance_rows, dtype=bool)
    n_clusters = int(cluster_codes.max()) + 1
    cc = cell_codes[treated].astype(int)
    for j in range(m):
        vj = v[:, j]
        num = np.bincount(cc, weights=vj[treated] ** 2 * adj[treated], minlength=n_cells)
        den = np.bincount(cc, weights=vj[treated] ** 2, minlength=n_cells)
        with np.errstate(invalid="ignore", divide="ignore"):
            tau_bar = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        eps = adj.copy()
        eps[treated] = adj[treated] - tau_bar[cc]
        contrib = (vj * eps * rows)[:, None]
        S = _cluster_sums(contrib, cluster_codes, n_clusters)
        se[j] = float(np.sqrt((S**2).sum()))
    return _ImputationFit(estimate=est, se=se, adj=adj, v=v, n_clusters=int(len(np.unique(cluster_codes))))


def _fixest_crv1(Xt: np.ndarray, resid: np.ndarray, cluster_codes: np.ndarray, n_obs: int, k: int,
                 n_nonnested_fe: int) -> tuple[np.ndarray, np.ndarray, float]:
    r"""fixest's default clustered covariance (CRV1, ``ssc(adj=TRUE, fixef.K="nested", cluster.adj=TRUE)``).

    ``Xt`` are the regressors after the fixed effects are partialled out. Factor
    :math:`\frac{G}{G-1}\frac{n-1}{n-K}` with :math:`K = k +` ``n_nonnested_fe``; for unit and
    period effects with clusters = units fixest counts :math:`K = k + T` (the :math:`T` period
    levels; the unit effects, nested in the clusters, are not counted), as pyfixest reproduces.
    """
    bread = np.linalg.inv(Xt.T @ Xt)
    G = int(len(np.unique(cluster_codes)))
    S = _cluster_sums(Xt * resid[:, None], cluster_codes, int(cluster_codes.max()) + 1)
    meat = S.T @ S
    K = k + n_nonnested_fe
    factor = G / (G - 1) * (n_obs - 1) / (n_obs - K)
    return factor * bread @ meat @ bread, bread, factor


def _pretrend_test(data: pd.DataFrame, leads: list[int], covariates: Sequence[str], alpha: float) -> dict[str, Any]:
    r"""BJS Test 1: add lead indicators to the Y(0) model on the untreated rows; joint Wald test.

    Fits :math:`y_{it} = \alpha_i + \lambda_t + X_{it}'\delta + \sum_{k} \gamma_k \mathbf
    1\{t - g_i = -k\} + \varepsilon_{it}` on untreated rows, as ``feols(y ~ i(event_time, keep =
    leads) | id + t, data[untreated])`` in didimputation (fixest default SE: CRV1 clustered by unit,
    period effects counted, unit effects nested). Leads collinear with the fixed effects are dropped
    (farthest first).
    """
    d0 = data[~data["_treat"]].reset_index(drop=True)
    u = pd.factorize(d0["_u"])[0]
    t = pd.factorize(d0["_tc"], sort=True)[0]
    y = d0[_Y].to_numpy()
    rel = d0["_rel"].to_numpy()
    lead_cols, kept = [], []
    for e in sorted(leads, reverse=True):  # nearest (-1) first
        col = (np.nan_to_num(rel, nan=1e9) == e).astype(float)
        if col.sum() > 0:
            lead_cols.append(col)
            kept.append(e)
    if not kept:
        return {"leads": (), "dropped": tuple(leads), "rows": []}
    X = np.column_stack(lead_cols + [d0[c].to_numpy() for c in covariates]) if covariates else np.column_stack(lead_cols)
    n_units = int(u.max()) + 1
    n_times = int(t.max()) + 1
    D = _fe_dummies(u, t, n_units, n_times, 0)
    DtD = (D.T @ D).tocsc()
    from scipy.sparse.linalg import splu

    lu = splu(DtD)

    def partial(M: np.ndarray) -> np.ndarray:
        coef = lu.solve(np.asarray(D.T @ M))
        return M - np.asarray(D @ coef.reshape(D.shape[1], -1)).reshape(M.shape)

    Xt = partial(X)
    yt = partial(y[:, None]).ravel()
    # drop collinear leads greedily (keep the nearest ones)
    n_lead = len(kept)
    keep_idx: list[int] = []
    basis = np.zeros((Xt.shape[0], 0))
    for j in range(Xt.shape[1]):
        col = Xt[:, j]
        if basis.shape[1]:
            col = col - basis @ np.linalg.lstsq(basis, col, rcond=None)[0]
        if np.linalg.norm(col) > 1e-8 * max(1.0, np.linalg.norm(X[:, j])):
            keep_idx.append(j)
            basis = np.column_stack([basis, Xt[:, j]])
        elif j >= n_lead:
            raise ValueError(
                f"covariate {covariates[j - n_lead]!r} is collinear with the unit and period effects (or the leads) "
                "on the untreated observations"
            )
    dropped = [kept[j] for j in range(n_lead) if j not in keep_idx]
    lead_idx = [j for j in keep_idx if j < n_lead]
    Xt = Xt[:, keep_idx]
    beta = np.linalg.lstsq(Xt, yt, rcond=None)[0]
    resid = yt - Xt @ beta
    V, _, factor = _fixest_crv1(Xt, resid, u, len(y), Xt.shape[1], n_times)
    G = n_units
    pos = list(range(len(lead_idx)))
    b = beta[pos]
    Vl = V[np.ix_(pos, pos)]
    tab = _t_table(b, np.sqrt(np.diag(Vl)), G - 1, alpha)
    q = len(pos)
    wald = np.nan
    if q and np.linalg.matrix_rank(Vl) == q:
        wald = float(b @ np.linalg.solve(Vl, b))
    elif q:
        # a clustered covariance has rank <= G - 1 (and less when clusters carry no lead variation): with
        # more leads than that the joint test is undefined; the per-lead rows still stand
        warn_caller(
            f"the pre-trend Wald statistic is not computed: the clustered covariance of the {q} leads is singular "
            f"(rank {np.linalg.matrix_rank(Vl)}, {G} clusters)")
    f_stat = wald / q if q else np.nan
    rows = []
    for i, j in enumerate(lead_idx):
        e = kept[j]
        rows.append({
            "event_time": e, **{k: float(v[i]) for k, v in tab.items()},
            "n_obs": int((np.nan_to_num(rel, nan=1e9) == e).sum()),
        })
    return {
        "leads": tuple(kept[j] for j in lead_idx),
        "dropped": tuple(dropped) + tuple(e for e in leads if e not in kept),
        "rows": rows,
        "wald_chi2": wald,
        "f_stat": f_stat,
        "df1": q,
        "df2": G - 1,
        "p_value_f": float(stats.f.sf(f_stat, q, G - 1)) if q else np.nan,
        "p_value_chi2": float(stats.chi2.sf(wald, q)) if q else np.nan,
        "small_sample_factor": factor,
        "vcov": Vl,
    }


def _parse_pretrends(pretrends: Any, available: list[int]) -> list[int]:
    if pretrends is None or pretrends is True:
        return sorted(available)
    if pretrends is False:
        return []
    if isinstance(pretrends, (int, np.integer)):
        if pretrends < 0:
            raise ValueError(f"pretrends must be a non-negative number of leads, a list of negative event times, "
                             f"True/None (all) or False (none); got {pretrends!r}")
        return [e for e in sorted(available) if e >= -int(pretrends)]
    try:
        leads = sorted({int(e) for e in pretrends})
    except TypeError as exc:
        raise ValueError(f"pretrends must be None, a bool, an int or a sequence of negative integers, got {pretrends!r}") from exc
    bad = [e for e in leads if e >= 0]
    if bad:
        raise ValueError(f"pretrends are negative event times (leads); got non-negative {bad}")
    missing = [e for e in leads if e not in available]
    if missing:
        raise ValueError(f"pretrends {missing} are not observed event times; the untreated observations have leads "
                         f"{sorted(available)}")
    return leads


@single_threaded_blas
def imputation(
    df: pd.DataFrame,
    outcome: str,
    unit: str = "la_code",
    time: str = "period",
    cohort: str = "first_treated",
    horizons: Sequence[int] | None = None,
    pretrends: Any = None,
    covariates: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> EstimationResult:
    r"""Imputation difference-in-differences (Borusyak, Jaravel & Spiess 2024), as ``did_imputation``.

    1. Fit :math:`y_{it} = \alpha_i + \lambda_t + X_{it}'\delta + \varepsilon_{it}` on the untreated
       observations (:math:`D_{it} = \mathbf 1\{t \ge g_i\} = 0`).
    2. Impute :math:`\hat y_{it}(0) = \hat\alpha_i + \hat\lambda_t + X_{it}'\hat\delta` and set
       :math:`\hat\tau_{it} = y_{it} - \hat y_{it}(0)` for every treated observation.
    3. Average:

    .. math::

        \hat\tau = \frac{1}{N_1}\sum_{D_{it}=1}\hat\tau_{it}, \qquad
        \hat\tau_h = \frac{1}{N_{1h}}\sum_{D_{it}=1,\ t-g_i=h}\hat\tau_{it},

    the ATT over all treated observations (overall row) and by horizon (event-study rows,
    :math:`h \ge 0`).

    Parameters
    ----------
    df, outcome, unit, time, cohort, covariates, alpha
        As in :func:`csceval.did.twfe`; covariates are time-varying and enter the imputation model.
    horizons : sequence of int, optional
        Horizons :math:`h \ge 0` to report (``None``: every observed horizon).
    pretrends : None, bool, int or sequence of int
        Leads for BJS's pre-trend test: ``None``/``True`` all leads observed among not-yet-treated
        observations, ``False`` none, an int ``k`` leads ``-1..-k``, or a list of negative event
        times. Leads collinear with the fixed effects are dropped, farthest first, and listed in
        ``metadata["pretrend_test"]["dropped"]``. With every lead included the leads and the
        treated units' effects are collinear (shift all of them by a constant), so the farthest lead
        is dropped and its observations are the reference of the test, as with the reference period
        of an event study.

    Returns
    -------
    EstimationResult
        ``estimator="imputation"``. ``estimates``: pre-trend rows (negative event times: the lead
        coefficients :math:`\hat\gamma_k` of the test regression, with its own fixest-style CRV1 SEs)
        and horizon rows (aggregation ``"event_study"``, column ``n_obs``), then the overall row.
        ``metadata["pretrend_test"]`` holds the joint test: Wald :math:`\chi^2`, :math:`F =
        \chi^2/q` with its p-value under :math:`F(q, G-1)` (as ``fixest::wald``), and the
        :math:`\chi^2(q)` p-value.

    Raises
    ------
    ValueError
        As :func:`csceval.did.twfe`; also if no observation is untreated, the untreated
        observations do not connect all units and periods, a covariate is collinear, or
        ``horizons``/``pretrends`` name event times that are not observed.

    Warns
    -----
    UserWarning
        If treated observations cannot be imputed (see :func:`csceval.did.two_stage`).

    Notes
    -----
    Standard errors are BJS's conservative variance (Theorem 3, eq. 8 and 10), clustered by unit:

    .. math::

        \widehat{\mathrm{Var}}(\hat\tau_w) = \sum_i \Big(\sum_t v^*_{it}\tilde\varepsilon_{it}\Big)^2,

    with :math:`v^*_{it} = w_{it}` for treated and :math:`v^*_{it} = -[Z_0(Z_0'Z_0)^{-1}Z_1'w_1]_{it}`
    for untreated observations, and :math:`\tilde\varepsilon_{it}` the untreated residuals and, for
    treated observations, :math:`\hat\tau_{it}` minus its :math:`v^{*2}`-weighted cohort x horizon
    mean (didimputation's "leave-in" averages; the Stata ``leaveout`` refinement for small cells
    is not implemented). Every unit enters the sum, as in BJS, the Stata ``did_imputation`` and R
    ``didimputation`` 0.5 (version 0.3 left out the never-treated units' terms). Confidence
    intervals and p-values use :math:`t(G-1)`; didimputation prints :math:`\pm 1.96` SE intervals.
    """
    alpha = _check_alpha(alpha)
    panel = prepare_panel(df, outcome, unit, time, cohort, covariates)
    sample = _imputation_sample(panel, "imputation")
    data = sample.data
    y = data[_Y].to_numpy()
    u = data["_u"].to_numpy()
    tc = data["_tc"].to_numpy()
    treat = data["_treat"].to_numpy()
    rel = data["_rel"].to_numpy()
    X = data[list(panel.covariates)].to_numpy() if panel.covariates else None
    G = int(u.max()) + 1
    df_t = G - 1

    rel_t = np.where(treat, rel, np.nan)
    observed_h = sorted({int(h) for h in rel_t[treat]})
    if horizons is None:
        hs = observed_h
    else:
        try:
            hs = sorted({int(h) for h in horizons})
        except TypeError as exc:
            raise ValueError(f"horizons must be a sequence of non-negative integers or None, got {horizons!r}") from exc
        bad = [h for h in hs if h < 0]
        if bad:
            raise ValueError(f"horizons are event times >= 0; use pretrends for leads (got {bad})")
        missing = [h for h in hs if h not in observed_h]
        if missing:
            raise ValueError(f"horizons {missing} have no treated observations; observed horizons are {observed_h}")

    targets = [treat.astype(float)] + [(treat & (rel_t == h)).astype(float) for h in hs]
    cells = pd.factorize(pd.Series(list(zip(data[_G].fillna(-1).to_numpy(), np.nan_to_num(rel_t, nan=-1e9)))))[0]
    fit = _imputation_core(y, u, tc, treat, cells, np.column_stack(targets), u, X, panel.covariates)
    tab = _t_table(fit.estimate, fit.se, df_t, alpha)

    rows: list[dict[str, Any]] = []
    leads_available = sorted({int(e) for e in rel[(~treat) & ~np.isnan(rel)]})
    leads = _parse_pretrends(pretrends, leads_available)
    pre = _pretrend_test(data, leads, panel.covariates, alpha) if leads else None
    if pre is not None:
        for r in sorted(pre["rows"], key=lambda row: row["event_time"]):
            rows.append({
                "aggregation": "event_study", "cohort": None, "period": None, "event_time": r["event_time"],
                "estimate": r["estimate"], "std_error": r["std_error"], "ci_lower": r["ci_lower"],
                "ci_upper": r["ci_upper"], "p_value": r["p_value"], "t_stat": r["t_stat"], "n_obs": r["n_obs"],
                "reference": False,
                "inference": f"pre-trend coefficient (BJS test 1: leads in the untreated-only FE regression), fixest "
                f"CRV1 by {unit}, t(G-1)",
            })
    for j, h in enumerate(hs, start=1):
        rows.append({
            "aggregation": "event_study", "cohort": None, "period": None, "event_time": h,
            **{k: float(v[j]) for k, v in tab.items()}, "n_obs": int((rel_t == h).sum()), "reference": False,
            "inference": None,
        })
    rows.append({
        "aggregation": "overall", "cohort": None, "period": None, "event_time": pd.NA,
        **{k: float(v[0]) for k, v in tab.items()}, "n_obs": int(treat.sum()), "reference": False, "inference": None,
    })
    estimates = pd.DataFrame(rows)
    estimates["reference"] = estimates["reference"].astype(bool)
    overall = OverallEstimate(float(tab["estimate"][0]), float(tab["std_error"][0]), float(tab["ci_lower"][0]),
                              float(tab["ci_upper"][0]), float(tab["p_value"][0]))
    n_treated, n_control = _unit_counts(data)
    meta = _common_metadata(panel)
    pre_meta = None
    if pre is not None:
        pre_meta = {k: pre[k] for k in ("leads", "dropped", "wald_chi2", "f_stat", "df1", "df2", "p_value_f",
                                        "p_value_chi2", "small_sample_factor")}
    meta.update({
        "n_clusters": G,
        "df_t": df_t,
        "horizons": tuple(hs),
        "pretrends": tuple(leads),
        "pretrend_test": pre_meta,
        "n_treated_obs": int(treat.sum()),
        "n_untreated_obs": int((~treat).sum()),
        "n_dropped_unimputable": sample.n_dropped_unimputable,
        "dropped_units": sample.dropped_units,
        "dropped_periods": sample.dropped_periods,
        "overall_definition": "mean of tau_it = y_it - yhat_it(0) over all treated observations",
        "notes": tuple(panel.notes) + tuple(sample.notes) + (
            (f"pre-trend leads {list(pre['dropped'])} dropped (collinear with the unit and period effects or "
             "unobserved)",) if pre is not None and pre["dropped"] else ()
        ),
    })
    return EstimationResult(
        estimator="imputation",
        outcome=outcome,
        estimates=estimates,
        overall=overall,
        inference=f"BJS conservative clustered variance by {unit} (G={G}), t(G-1)=t({df_t})",
        n_treated=n_treated,
        n_control=n_control,
        n_obs=len(data),
        n_dropped_missing=panel.n_dropped_missing,
        alpha=alpha,
        n_units=G,
        label="Imputation DiD (BJS)",
        time_dtype=panel.time_dtype,
        metadata=meta,
    )
