r"""Synthetic control (Abadie & Gardeazabal 2003; Abadie, Diamond & Hainmueller 2010, 2015).

For each treated unit :math:`j` a synthetic control is a convex combination of *donor* units
(never-treated units) that reproduces :math:`j`'s pre-treatment predictors.

Algorithm (as R ``Synth::synth``)
---------------------------------
1. **Predictors** :math:`X` (:math:`K` rows, one column per unit). ``predictors=None``: the outcome in
   each period of ``predictor_periods`` (default: every pre-treatment period of the treated unit).
   Otherwise a list of columns, each averaged over ``predictor_periods`` (default: all pre periods),
   or a dict ``{label: (column, periods)}`` for Synth's "special predictors" (e.g. the outcome in 1975).
   Every predictor row is divided by its standard deviation across the treated unit and the donors
   (Synth's rescaling).
2. **Donor weights** for a diagonal predictor-weight matrix :math:`V` (:math:`v_k \ge 0`,
   :math:`\sum v_k = 1`): :math:`W(V) = \arg\min_{W \ge 0, \sum W = 1} (X_1 - X_0W)'V(X_1 - X_0W)`,
   a quadratic programme solved exactly by an active-set method (non-negative least squares for the
   support, then the equality-constrained KKT system on the support, checked for optimality).
   When several :math:`W` fit equally well (e.g. more donors than predictors and an exact fit), the
   solution is not unique; ours is the one NNLS reaches (deterministic) and the fit is what matters.
3. **Predictor weights** :math:`V` (``v_method``):

   * ``"nested"`` (Synth's default): minimise the pre-period outcome MSPE
     :math:`L(V) = \frac1{T_0}\|Z_1 - Z_0W(V)\|^2` over :math:`V = |v|/\sum|v|`, by Nelder-Mead
     (scipy, ``xatol = fatol = 1e-10``, at most 400K evaluations) from two deterministic starts —
     equal weights and the regression-based start below — keeping the better (ties: equal start),
     as Synth does with ``optimx`` from ``SV1`` and ``SV2``. When the predictors are exactly the
     outcome in every pre-period, :math:`L` is minimised by equal weights (the inner problem then *is*
     the outer one), so no search is run.
   * ``"regression"``: Synth's second starting value: regress the pre-period outcomes of all units
     (treated and donors, one regression per period) on the scaled predictors with an intercept;
     :math:`v_k \propto \sum_t \hat\beta_{kt}^2`.
   * ``"equal"``: :math:`v_k = 1/K`.
4. Synthetic path :math:`\hat Y^N_{jt} = \sum_d W_d Y_{dt}` for every period; gap
   :math:`Y_{jt} - \hat Y^N_{jt}`; RMSPE before and after the start; their ratio.

Several treated units (an average of separately fitted synthetic controls, as is standard, e.g.
Cavallo et al. 2013; Abadie 2021): each treated unit gets its own synthetic control from the
donors (never-treated units), at its own start date; gaps are averaged over treated units by event
time (time since that unit's start) with equal weights, and the overall estimate is the average over
treated units of each unit's mean post-period gap. Aggregated units (a Regional Care Cooperative) are
simply units of the input.

Inference
---------
**Placebo in space** (Abadie et al. 2010): every donor in turn is treated as if it had started when
the treated unit did and fitted from the other donors (never from a treated unit), with the same
predictors and ``v_method``. The statistic is the ratio of post- to pre-period RMSPE. With one treated
unit the p-value is :math:`(1 + \#\{\text{placebo ratio} \ge \text{treated ratio}\})/(1 + N_{placebo})`.
With :math:`J` treated units the statistic is the mean of their ratios and its permutation
distribution is the mean ratio over assignments of :math:`J` distinct donors, one per treated unit
(each at that unit's start date) — all assignments when there are at most 20,000, otherwise 20,000
drawn with ``seed`` (Cavallo et al. 2013) — with the observed assignment counted once. Placebos whose
pre-period RMSPE exceeds ``rmspe_cutoff`` times the treated unit's are dropped (ADH 2010 use 20, 5 and
2); ``None`` keeps all. Confidence intervals are not computed (they would need test inversion over
effect sizes, which is not implemented), so they are left empty.

**Placebo in time**: ``placebo_in_time`` = a period in the pre-period (or an integer: that many periods
before each unit's start). The model is refitted on pre-period data only, pretending treatment began
then; a credible design shows no "effect" (reported in ``result.placebo_in_time``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import optimize

from csceval.did._panel import warn_caller
from csceval.did._results import EstimationResult, OverallEstimate

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["SyntheticControlResult", "solve_donor_weights", "synthetic_control"]

_V_METHODS = ("nested", "regression", "equal")
_MAX_ASSIGNMENTS = 20_000


# =============================================================================================
# The inner problem: donor weights for given V
# =============================================================================================
def solve_donor_weights(X1: np.ndarray, X0: np.ndarray, v: np.ndarray) -> np.ndarray:
    r"""Exact solution of :math:`\min_{W \ge 0, 1'W = 1} (X_1 - X_0W)'\mathrm{diag}(v)(X_1 - X_0W)`.

    ``X1`` (K,), ``X0`` (K, J), ``v`` (K,) non-negative. NNLS on the problem augmented with a heavily
    weighted row :math:`1'W = 1` finds the support; the KKT system restricted to the support gives the
    exact solution, accepted if feasible and optimal (else the renormalised NNLS solution is kept).
    """
    X1 = np.asarray(X1, float)
    X0 = np.asarray(X0, float)
    sv = np.sqrt(np.asarray(v, float))
    A = sv[:, None] * X0
    b = sv * X1
    J = X0.shape[1]
    if J == 1:
        return np.ones(1)
    big = 1e3 * (1.0 + np.abs(A).max() + np.abs(b).max())
    Aa = np.vstack([A, np.full((1, J), big)])
    ba = np.concatenate([b, [big]])
    w, _ = optimize.nnls(Aa, ba, maxiter=50 * J)
    w = np.clip(w, 0.0, None)
    if w.sum() <= 0:
        w = np.full(J, 1.0 / J)
    w = w / w.sum()
    # polish: equality-constrained least squares on the support
    S = np.flatnonzero(w > 1e-12)
    if S.size:
        P = A[:, S].T @ A[:, S]
        q = A[:, S].T @ b
        kkt = np.block([[P, np.ones((S.size, 1))], [np.ones((1, S.size)), np.zeros((1, 1))]])
        rhs = np.concatenate([q, [1.0]])
        sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
        ws = sol[:-1]
        if np.all(ws >= -1e-12):
            cand = np.zeros(J)
            cand[S] = np.clip(ws, 0.0, None)
            cand /= cand.sum()
            if _loss_w(cand, A, b) <= _loss_w(w, A, b) + 1e-14 * (1.0 + b @ b):
                w = cand
    return w


def _loss_w(w: np.ndarray, A: np.ndarray, b: np.ndarray) -> float:
    r = b - A @ w
    return float(r @ r)


# =============================================================================================
# One synthetic control fit
# =============================================================================================
@dataclass
class _Fit:
    weights: np.ndarray  # (J,)
    v: np.ndarray  # (K,)
    synthetic: np.ndarray  # (T,) over all periods used
    gap: np.ndarray  # (T,)
    pre_rmspe: float
    post_rmspe: float
    loss_v: float
    outside_hull: tuple[str, ...] = ()


def _scale_rows(X1: np.ndarray, X0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    allx = np.column_stack([X0, X1])
    sd = allx.std(axis=1, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)
    return X1 / sd, X0 / sd[:, None]


def _regression_v(X1s: np.ndarray, X0s: np.ndarray, Z1: np.ndarray, Z0: np.ndarray) -> np.ndarray | None:
    Xall = np.column_stack([X1s, X0s]).T  # units x K
    Xall = np.column_stack([np.ones(Xall.shape[0]), Xall])
    Zall = np.column_stack([Z1, Z0]).T  # units x T0
    try:
        beta = np.linalg.solve(Xall.T @ Xall, Xall.T @ Zall)
    except np.linalg.LinAlgError:
        return None
    beta = beta[1:]
    v = np.sum(beta**2, axis=1)
    if not np.all(np.isfinite(v)) or v.sum() <= 0:
        return None
    return v / v.sum()


def _fit_one(y1: np.ndarray, Y0: np.ndarray, X1: np.ndarray, X0: np.ndarray, pre: np.ndarray,
             v_method: str, outcome_lags_only: bool, predictor_names: Sequence[str]) -> _Fit:
    """Fit one synthetic control. ``y1`` (T,), ``Y0`` (T, J) outcome paths; ``pre`` boolean (T,)."""
    X1s, X0s = _scale_rows(X1, X0)
    Z1, Z0 = y1[pre], Y0[pre]
    K = X1.size

    def loss_of(v: np.ndarray) -> tuple[float, np.ndarray]:
        w = solve_donor_weights(X1s, X0s, v)
        r = Z1 - Z0 @ w
        return float(r @ r) / Z1.size, w

    v_eq = np.full(K, 1.0 / K)
    if v_method == "nested" and outcome_lags_only:
        # predictors = every pre-period outcome: weighting each scaled row by its variance undoes the
        # scaling, so W(V) minimises the pre-period MSPE itself, the outer criterion: V is optimal.
        sd2 = (X1 / np.where(X1s != 0, X1s, 1.0)) ** 2 if np.all(X1s != 0) else None
        if sd2 is None:
            allx = np.column_stack([X0, X1])
            sd2 = allx.var(axis=1, ddof=1)
        sd2 = np.where(sd2 > 0, sd2, 1.0)
        v = sd2 / sd2.sum()
    elif v_method == "equal":
        v = v_eq
    elif v_method == "regression":
        v = _regression_v(X1s, X0s, Z1, Z0)
        if v is None:
            v = v_eq
    else:
        starts = [v_eq]
        v_reg = _regression_v(X1s, X0s, Z1, Z0)
        if v_reg is not None:
            starts.append(v_reg)
        best_v, best_loss = v_eq, loss_of(v_eq)[0]
        for start in starts:
            res = optimize.minimize(
                lambda p: loss_of(np.abs(p) / max(np.abs(p).sum(), 1e-300))[0], start, method="Nelder-Mead",
                options={"xatol": 1e-10, "fatol": 1e-10, "maxfev": 400 * K, "maxiter": 400 * K})
            cand = np.abs(res.x) / max(np.abs(res.x).sum(), 1e-300)
            lc = loss_of(cand)[0]
            if lc < best_loss - 1e-12 * (1.0 + best_loss):
                best_v, best_loss = cand, lc
        v = best_v
    loss, w = loss_of(v)
    synth = Y0 @ w
    gap = y1 - synth
    post = ~pre
    pre_rmspe = float(np.sqrt(np.mean(gap[pre] ** 2)))
    post_rmspe = float(np.sqrt(np.nanmean(gap[post] ** 2))) if np.isfinite(gap[post]).any() else float("nan")
    outside = tuple(name for name, x1, x0 in zip(predictor_names, X1, X0) if x1 > x0.max() or x1 < x0.min())
    return _Fit(w, v, synth, gap, pre_rmspe, post_rmspe, loss, outside)


# =============================================================================================
# Data preparation
# =============================================================================================
@dataclass(frozen=True)
class _Design:
    wide: pd.DataFrame  # unit x time outcome
    covs: dict[str, pd.DataFrame]  # covariate -> unit x time
    times: pd.Index
    treated_units: tuple[Any, ...]
    starts: dict[Any, int]  # treated unit -> index of first treated period
    donors: tuple[Any, ...]
    notes: tuple[str, ...]


def _prepare(df: pd.DataFrame, outcome: str, unit: str, time: str, treated: str,
             covariates: Sequence[str]) -> _Design:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    cols = {"outcome": outcome, "unit": unit, "time": time, "treated": treated}
    missing = [f"{r}={c!r}" for r, c in cols.items() if c not in df.columns]
    missing += [f"predictor={c!r}" for c in covariates if c not in df.columns]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}; the data has columns {list(map(str, df.columns))}")
    for c in [outcome, *covariates]:
        if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]):
            raise ValueError(f"column {c!r} must be numeric, got dtype {df[c].dtype}")
    for c in (unit, time, treated):
        if df[c].isna().any():
            raise ValueError(f"column {c!r} has {int(df[c].isna().sum())} missing value(s)")
    d = pd.to_numeric(df[treated], errors="coerce")
    if not d.isin([0, 1]).all():
        raise ValueError(f"treated column {treated!r} must be 0/1 (unit x period indicator)")
    if df.duplicated([unit, time]).any():
        ex = df.loc[df.duplicated([unit, time], keep=False), [unit, time]].head(3).values.tolist()
        raise ValueError(f"duplicate unit x time rows, e.g. {ex}; the panel must have one row per unit and period")
    wide = df.pivot(index=unit, columns=time, values=outcome).sort_index(axis=0).sort_index(axis=1)
    covs = {c: df.pivot(index=unit, columns=time, values=c).reindex(index=wide.index, columns=wide.columns)
            for c in covariates}
    W = df.assign(_d=d).pivot(index=unit, columns=time, values="_d").reindex(index=wide.index, columns=wide.columns)
    times = wide.columns
    is_tr = (W.fillna(0) > 0).any(axis=1)
    if not is_tr.any():
        raise ValueError(f"no treated unit: {treated!r} is 0 in every row")
    starts = {}
    for u in wide.index[is_tr.to_numpy()]:
        row = W.loc[u].fillna(0).to_numpy()
        first = int(np.argmax(row > 0))
        if np.any(row[first:] == 0) and np.any(W.loc[u].notna().to_numpy()[first:] & (row[first:] == 0)):
            raise ValueError(f"treatment switches off for unit {u!r}: {treated!r} must stay 1 once it is 1")
        if first < 1:
            raise ValueError(f"treated unit {u!r} is treated from the first period {times[0]!r}: no pre-period to fit")
        pre_vals = wide.loc[u].iloc[:first]
        if pre_vals.isna().any():
            bad = [times[i] for i in np.flatnonzero(pre_vals.isna().to_numpy())][:5]
            raise ValueError(
                f"treated unit {u!r} has missing {outcome!r} in pre-treatment period(s) {bad}: a synthetic control "
                "needs the treated unit's whole pre-period path (impute or shorten the window first)")
        starts[u] = first
    notes = []
    donors_all = [u for u in wide.index[~is_tr.to_numpy()]]
    complete = [u for u in donors_all if wide.loc[u].notna().all() and all(covs[c].loc[u].notna().all() for c in covariates)]
    dropped = sorted(set(donors_all) - set(complete))
    if dropped:
        notes.append(f"{len(dropped)} donor unit(s) dropped for missing outcome/predictor values: {dropped[:10]}")
    if len(complete) < 2:
        raise ValueError(
            f"too few donors: {len(complete)} never-treated unit(s) with a complete {outcome!r} series "
            "(at least 2 are needed, and many more for placebo inference)")
    return _Design(wide=wide, covs=covs, times=times, treated_units=tuple(starts), starts=starts,
                   donors=tuple(complete), notes=tuple(notes))


def _predictor_matrix(design: _Design, units: Sequence[Any], start: int, predictors: Any,
                      predictor_periods: Sequence[Any] | None, outcome_name: str) -> tuple[np.ndarray, list[str], bool]:
    """Predictor rows (K x units) for a fit whose treatment starts at period index ``start``."""
    times = design.times
    pre_times = list(times[:start])

    def pick(periods: Sequence[Any] | None) -> list[Any]:
        if periods is None:
            return pre_times
        chosen = [p for p in periods if p in pre_times]
        if not chosen:
            raise ValueError(f"none of the predictor periods {list(periods)[:5]} lies in the pre-period "
                             f"(before {times[start]!r})")
        return chosen

    rows: list[np.ndarray] = []
    names: list[str] = []
    if predictors is None:
        periods = pick(predictor_periods)
        for p in periods:
            rows.append(design.wide.loc[list(units), p].to_numpy(float))
            names.append(f"{outcome_name} {p}")
        lags_only = len(periods) == len(pre_times)
        return np.vstack(rows), names, lags_only
    items: list[tuple[str, str, Sequence[Any] | None]]
    if isinstance(predictors, Mapping):
        items = [(str(label), spec[0], spec[1]) for label, spec in predictors.items()]
    else:
        items = [(str(c), c, predictor_periods) for c in predictors]
    for label, col, periods in items:
        per = pick(periods)
        src = design.wide if col == outcome_name else design.covs[col]
        vals = src.loc[list(units), per].to_numpy(float)
        if np.isnan(vals).all(axis=1).any():
            raise ValueError(f"predictor {label!r} is missing in all its periods for some unit")
        rows.append(np.nanmean(vals, axis=1))
        names.append(label)
    return np.vstack(rows), names, False


# =============================================================================================
# Result
# =============================================================================================
@dataclass(frozen=True, eq=False)
class SyntheticControlResult(EstimationResult):
    """:class:`~csceval.did.EstimationResult` of :func:`synthetic_control` with weights, paths and placebos.

    Extra attributes
    ----------------
    weights : DataFrame
        ``treated_unit``, ``donor``, ``weight`` (W; zero weights included).
    predictor_weights : DataFrame
        ``treated_unit``, ``predictor``, ``v``, ``treated_value``, ``synthetic_value``, ``donor_mean``.
    paths : DataFrame
        ``treated_unit``, ``period``, ``event_time``, ``treated``, ``synthetic``, ``gap``.
    rmspe : DataFrame
        One row per treated unit and per placebo: ``unit``, ``role`` (``treated``/``placebo``),
        ``treated_unit`` (whose start date), ``pre_rmspe``, ``post_rmspe``, ``ratio``, ``kept``,
        ``rank`` and ``p_value`` (per treated unit).
    placebos : DataFrame
        Placebo gap paths: ``placebo_unit``, ``treated_unit``, ``period``, ``event_time``, ``gap``, ``kept``.
    placebo_in_time : DataFrame or None
        Per treated unit: ``fake_start``, ``pre_rmspe``, ``post_rmspe``, ``ratio``, ``mean_gap`` (between
        the fake and the real start) and the real start.
    """

    weights: pd.DataFrame | None = field(default=None, repr=False)
    predictor_weights: pd.DataFrame | None = field(default=None, repr=False)
    paths: pd.DataFrame | None = field(default=None, repr=False)
    rmspe: pd.DataFrame | None = field(default=None, repr=False)
    placebos: pd.DataFrame | None = field(default=None, repr=False)
    placebo_in_time: pd.DataFrame | None = field(default=None, repr=False)

    def plot(self, kind: str = "paths", **kwargs: Any) -> Figure:
        """``kind="paths"`` (treated vs synthetic), ``"gaps"`` (with placebo spaghetti), ``"weights"``
        (donor weights) or ``"event_study"`` (average gap by event time)."""
        from csceval.report import synth_figures as sf

        if kind == "paths":
            return sf.sc_paths_figure(self, **kwargs)
        if kind == "gaps":
            return sf.placebo_gaps_figure(self, **kwargs)
        if kind == "weights":
            return sf.donor_weights_figure(self.weights, **kwargs)
        if kind == "event_study":
            return super().plot(**kwargs)
        raise ValueError(f"kind must be 'paths', 'gaps', 'weights' or 'event_study', got {kind!r}")


# =============================================================================================
# Public function
# =============================================================================================
def _perm_p_value(obs_ratios: np.ndarray, placebo_ratios: list[np.ndarray], seed: int) -> tuple[float, int]:
    """p-value of the mean ratio over treated units against assignments of distinct placebo donors.

    ``placebo_ratios[j]`` holds the ratios (NaN = dropped) of every donor as a placebo at treated unit
    j's start date, in a common donor order.
    """
    J = len(obs_ratios)
    stat = float(np.mean(obs_ratios))
    R = np.vstack(placebo_ratios)  # J x D
    D = R.shape[1]
    if J == 1:
        vals = R[0][np.isfinite(R[0])]
        return (1 + int(np.sum(vals >= stat - 1e-12 * abs(stat)))) / (1 + vals.size), int(vals.size)
    n_total = 1
    for i in range(J):
        n_total *= D - i
    if n_total <= _MAX_ASSIGNMENTS:
        combos = np.array(list(itertools.permutations(range(D), J)), dtype=np.int64)
    else:
        rng = np.random.default_rng(seed)
        combos = np.array([rng.choice(D, size=J, replace=False) for _ in range(_MAX_ASSIGNMENTS)], dtype=np.int64)
    means = R[np.arange(J)[None, :], combos].mean(axis=1)
    means = means[np.isfinite(means)]
    return (1 + int(np.sum(means >= stat - 1e-12 * abs(stat)))) / (1 + means.size), int(means.size)


def synthetic_control(
    df: pd.DataFrame,
    outcome: str,
    unit: str = "la_code",
    time: str = "period",
    treated: str = "treated",
    predictors: Sequence[str] | Mapping[str, tuple[str, Sequence[Any]]] | None = None,
    predictor_periods: Sequence[Any] | None = None,
    v_method: str = "nested",
    placebo_in_space: bool = True,
    placebo_in_time: Any = None,
    alpha: float = 0.05,
    seed: int = 1,
    rmspe_cutoff: float | None = None,
) -> SyntheticControlResult:
    """Synthetic control estimates with placebo-in-space permutation inference (see module docstring).

    Parameters
    ----------
    df : DataFrame
        Long panel, one row per unit x period. Donors with a missing value are dropped (noted); a
        treated unit with a missing pre-period outcome is an error.
    outcome, unit, time : str
        Column names.
    treated : str
        0/1 column, 1 in the periods a unit is treated. Units never treated are the donors. Treated
        units may start at different periods (each gets its own fit).
    predictors : list of str, dict, or None
        ``None``: the outcome in each of ``predictor_periods`` (default all pre periods). A list of
        columns: each averaged over ``predictor_periods`` (default all pre periods). A dict
        ``{label: (column, periods)}``: Synth's special predictors (``column`` may be the outcome).
    predictor_periods : sequence of time values, optional
        See ``predictors``. Periods not before a unit's start are ignored.
    v_method : {"nested", "regression", "equal"}
        How predictor weights V are chosen (module docstring).
    placebo_in_space : bool
        Refit with every donor as a placebo treated unit and report the permutation p-value.
    placebo_in_time : time value, int or None
        Fake start date (a period value, or an int = periods before each unit's start) for the
        in-time placebo; ``None`` = not run.
    alpha : float
        Stored for reporting (no confidence interval is computed).
    seed : int
        Seed for the random placebo assignments (only when there are more than 20,000).
    rmspe_cutoff : float, optional
        Drop placebos whose pre-RMSPE exceeds this multiple of the treated unit's.
    """
    if v_method not in _V_METHODS:
        raise ValueError(f"v_method must be one of {_V_METHODS}, got {v_method!r}")
    if rmspe_cutoff is not None and not rmspe_cutoff > 0:
        raise ValueError(f"rmspe_cutoff must be positive, got {rmspe_cutoff}")
    covariates: list[str] = []
    if predictors is not None:
        specs = [spec[0] for spec in predictors.values()] if isinstance(predictors, Mapping) else list(predictors)
        covariates = sorted({c for c in specs if c != outcome})
    design = _prepare(df, outcome, unit, time, treated, covariates)
    times = design.times
    donors = list(design.donors)
    D = len(donors)
    Yd = design.wide.loc[donors].to_numpy(float).T  # T x D
    notes = list(design.notes)

    fits: dict[Any, _Fit] = {}
    pred_names: dict[Any, list[str]] = {}
    X_store: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
    for u, start in design.starts.items():
        X, names, lags_only = _predictor_matrix(design, [u, *donors], start, predictors, predictor_periods, outcome)
        pre = np.arange(len(times)) < start
        y1 = design.wide.loc[u].to_numpy(float)
        post_ok = ~np.isnan(y1)
        fit = _fit_one(np.where(post_ok, y1, np.nan), Yd, X[:, 0], X[:, 1:], pre, v_method, lags_only, names)
        fits[u], pred_names[u], X_store[u] = fit, names, (X[:, 0], X[:, 1:])
        if fit.outside_hull:
            msg = (f"treated unit {u!r} lies outside the range of the donors for predictor(s) "
                   f"{list(fit.outside_hull)[:5]}: no convex combination can match it there; pre-period RMSPE "
                   f"= {fit.pre_rmspe:.4g} (outcome SD across donors {np.nanstd(Yd[pre]):.4g})")
            warn_caller(msg)
            notes.append(msg)

    # placebo in space
    placebo_rows: list[dict[str, Any]] = []
    rmspe_rows: list[dict[str, Any]] = []
    placebo_ratios: list[np.ndarray] = []
    for u, start in design.starts.items():
        fit = fits[u]
        ratio_u = fit.post_rmspe / fit.pre_rmspe if fit.pre_rmspe > 0 else np.inf
        rmspe_rows.append({"unit": u, "role": "treated", "treated_unit": u, "pre_rmspe": fit.pre_rmspe,
                           "post_rmspe": fit.post_rmspe, "ratio": ratio_u, "kept": True})
        if not placebo_in_space:
            continue
        pre = np.arange(len(times)) < start
        ratios = np.full(D, np.nan)
        X, names, lags_only = _predictor_matrix(design, donors, start, predictors, predictor_periods, outcome)
        for j, dnr in enumerate(donors):
            others = [i for i in range(D) if i != j]
            pf = _fit_one(Yd[:, j], Yd[:, others], X[:, j], X[:, others], pre, v_method, lags_only, names)
            r = pf.post_rmspe / pf.pre_rmspe if pf.pre_rmspe > 0 else np.inf
            kept = rmspe_cutoff is None or pf.pre_rmspe <= rmspe_cutoff * fit.pre_rmspe
            if kept:
                ratios[j] = r
            rmspe_rows.append({"unit": dnr, "role": "placebo", "treated_unit": u, "pre_rmspe": pf.pre_rmspe,
                               "post_rmspe": pf.post_rmspe, "ratio": r, "kept": kept})
            for t_i, t in enumerate(times):
                placebo_rows.append({"placebo_unit": dnr, "treated_unit": u, "period": t,
                                     "event_time": t_i - start, "gap": pf.gap[t_i], "kept": kept})
        placebo_ratios.append(ratios)
    rmspe = pd.DataFrame(rmspe_rows)
    p_value = None
    n_placebo = 0
    if placebo_in_space:
        for u, ratios in zip(design.starts, placebo_ratios):
            mask = (rmspe["role"] == "treated") & (rmspe["unit"] == u)
            obs = float(rmspe.loc[mask, "ratio"].iloc[0])
            vals = ratios[np.isfinite(ratios)]
            rmspe.loc[mask, "rank"] = 1 + int(np.sum(vals > obs))
            rmspe.loc[mask, "p_value"] = (1 + int(np.sum(vals >= obs - 1e-12 * abs(obs)))) / (1 + vals.size)
        obs_ratios = np.array([float(rmspe.loc[(rmspe["role"] == "treated") & (rmspe["unit"] == u), "ratio"].iloc[0])
                               for u in design.starts])
        p_value, n_placebo = _perm_p_value(obs_ratios, placebo_ratios, seed)
        n_kept = int(np.isfinite(np.vstack(placebo_ratios)).sum(axis=1).min())
        if 1.0 / (1 + n_kept) > alpha:
            notes.append(f"with {n_kept} placebo(s) the smallest attainable p-value is {1 / (1 + n_kept):.3f} > alpha = {alpha}")
    placebos = pd.DataFrame(placebo_rows, columns=["placebo_unit", "treated_unit", "period", "event_time", "gap", "kept"])

    # placebo in time
    pit = None
    if placebo_in_time is not None:
        rows = []
        for u, start in design.starts.items():
            if isinstance(placebo_in_time, (int, np.integer)) and not isinstance(placebo_in_time, bool) \
                    and placebo_in_time not in list(times):
                fake = start - int(placebo_in_time)
            else:
                if placebo_in_time not in list(times):
                    raise ValueError(f"placebo_in_time {placebo_in_time!r} is not one of the periods")
                fake = list(times).index(placebo_in_time)
            if not 1 <= fake < start:
                raise ValueError(f"placebo_in_time must fall strictly inside the pre-period of {u!r} "
                                 f"(after {times[0]!r}, before {times[start]!r})")
            keep_t = np.arange(start)
            X, names, lags_only = _predictor_matrix(design, [u, *donors], fake, predictors, predictor_periods, outcome)
            pre = keep_t < fake
            y1 = design.wide.loc[u].to_numpy(float)[:start]
            pf = _fit_one(y1, Yd[:start], X[:, 0], X[:, 1:], pre, v_method, lags_only, names)
            rows.append({"treated_unit": u, "fake_start": times[fake], "real_start": times[start],
                         "pre_rmspe": pf.pre_rmspe, "post_rmspe": pf.post_rmspe,
                         "ratio": pf.post_rmspe / pf.pre_rmspe if pf.pre_rmspe > 0 else np.inf,
                         "mean_gap": float(np.mean(pf.gap[fake:start]))})
        pit = pd.DataFrame(rows)

    # tables
    path_rows, weight_rows, v_rows = [], [], []
    for u, start in design.starts.items():
        fit = fits[u]
        y1 = design.wide.loc[u].to_numpy(float)
        for t_i, t in enumerate(times):
            path_rows.append({"treated_unit": u, "period": t, "event_time": t_i - start, "treated": y1[t_i],
                              "synthetic": fit.synthetic[t_i], "gap": fit.gap[t_i]})
        for dnr, w in zip(donors, fit.weights):
            weight_rows.append({"treated_unit": u, "donor": dnr, "weight": float(w)})
        X1, X0 = X_store[u]
        for name, v, x1, xs, xm in zip(pred_names[u], fit.v, X1, X0 @ fit.weights, X0.mean(axis=1)):
            v_rows.append({"treated_unit": u, "predictor": name, "v": float(v), "treated_value": float(x1),
                           "synthetic_value": float(xs), "donor_mean": float(xm)})
    paths = pd.DataFrame(path_rows)
    weights = pd.DataFrame(weight_rows)
    vtab = pd.DataFrame(v_rows)

    # estimates: average gap by event time over treated units; overall = mean of unit-level mean post gaps
    es = paths.dropna(subset=["gap"]).groupby("event_time", sort=True).agg(
        estimate=("gap", "mean"), n=("gap", "size"), period=("period", "first")).reset_index()
    single_start = len(set(design.starts.values())) == 1
    first_start = times[min(design.starts.values())]
    rows = []
    for r in es.itertuples(index=False):
        rows.append({"aggregation": "event_study", "cohort": first_start if single_start else None,
                     "period": r.period if single_start else None, "event_time": int(r.event_time),
                     "estimate": float(r.estimate), "std_error": None, "ci_lower": None, "ci_upper": None,
                     "p_value": None, "n_treated_in_cell": int(r.n),
                     "inference": "average gap (treated - synthetic); no per-period uncertainty computed"})
    unit_effects = [float(np.nanmean(paths.loc[(paths["treated_unit"] == u) & (paths["event_time"] >= 0), "gap"]))
                    for u in design.starts]
    overall_est = float(np.mean(unit_effects))
    if placebo_in_space:
        cut = "" if rmspe_cutoff is None else f", placebos with pre-RMSPE > {rmspe_cutoff:g} x treated's dropped"
        how = (f"mean over {len(design.starts)} treated units; permutation over {n_placebo} placebo assignments"
               if len(design.starts) > 1 else "")
        inference = (f"placebo-in-space permutation ({D} placebos), post/pre RMSPE ratio{cut}"
                     + (f" ({how})" if how else "") + "; no confidence interval (no test inversion)")
    else:
        inference = "no inference (placebo_in_space=False)"
    rows.append({"aggregation": "overall", "cohort": first_start if single_start else None, "period": None,
                 "event_time": None, "estimate": overall_est, "std_error": None, "ci_lower": None,
                 "ci_upper": None, "p_value": p_value, "n_treated_in_cell": len(design.starts),
                 "inference": inference})
    estimates = pd.DataFrame(rows)
    metadata = {
        "unit": unit, "time": time, "treated": treated, "v_method": v_method, "donors": tuple(donors),
        "treated_units": design.treated_units, "starts": {u: times[s] for u, s in design.starts.items()},
        "unit_effects": dict(zip(design.starts, unit_effects)), "n_placebo_assignments": n_placebo,
        "rmspe_cutoff": rmspe_cutoff, "predictors": pred_names, "periods": tuple(times), "notes": tuple(notes),
    }
    return SyntheticControlResult(
        estimator="synthetic_control", outcome=outcome, estimates=estimates,
        overall=OverallEstimate(overall_est, None, None, None, p_value), inference=inference,
        n_treated=len(design.starts), n_control=D, n_obs=int(design.wide.loc[[*design.starts, *donors]].notna().sum().sum()),
        n_dropped_missing=0, alpha=alpha, n_units=len(design.starts) + D, label="Synthetic control",
        time_dtype=str(df[time].dtype), metadata=metadata, weights=weights, predictor_weights=vtab, paths=paths,
        rmspe=rmspe, placebos=placebos, placebo_in_time=pit,
    )
