r"""Inference that stays honest with few treated clusters.

With 2-10 treated local authorities among ~150, cluster-robust (CR1) t-tests over-reject badly: the
variance of a DiD coefficient is driven by the treated clusters, and a sandwich estimated from
2-10 of them is far too small and too variable (MacKinnon & Webb 2017, 2018; Conley & Taber 2011).
This module provides the two remedies the evaluation reports next to every headline estimate:

* :func:`randomization_inference` — permutation (randomization) inference over the programme's
  **adoption pattern**: the multiset of cohorts (waves) held by the treated units is re-assigned
  at random to units of the eligible pool, keeping the number of units per wave, and any
  estimator's statistic is recomputed. Exact enumeration when the number of distinct assignments
  is small. A fast linear path evaluates all permutations of the TWFE estimator at once.
* :func:`wild_cluster_bootstrap` — the restricted (WCR, null imposed) or unrestricted (WCU) wild
  cluster bootstrap-t for the TWFE DiD coefficient (Cameron, Gelbach & Miller 2008; Roodman,
  MacKinnon, Nielsen & Webb 2019 "boottest"), with Rademacher, Mammen or Webb weights, the
  symmetric p-value and a confidence set by test inversion; and a restricted wild cluster
  bootstrap of the imputation estimator (Borusyak, Jaravel & Spiess 2024).

:func:`size_experiment` simulates LA-shaped panels with **zero** effect and reports how often each
method rejects at 5%: the evidence for which inference the report's conclusions may rest on.

Conventions
-----------
* Data are the long panels of ``csceval.did`` (one row per unit x period; ``cohort`` = first treated
  period, 0/NaN/NaT = never treated; see :mod:`csceval.did.twfe`).
* Clusters are units (LAs). The CR1 factor is the one of :func:`csceval.did.twfe`,
  :math:`\frac{G}{G-1}\frac{n-1}{n-K}` with :math:`K` counting the unit and period effects. Bootstrap
  and permutation p-values do not depend on this constant factor.
"""

from __future__ import annotations

import itertools
import math
import sys
import textwrap
import time as _time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse, stats

from csceval.did._panel import _G, _T, _UNIT, _Y, PreparedPanel, _never_treated_mask, prepare_panel
from csceval.did._results import EstimationResult, OverallEstimate

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "RandomizationResult",
    "WildBootstrapResult",
    "WAVE_STRUCTURES",
    "randomization_inference",
    "simulate_null_panel",
    "size_experiment",
    "wild_cluster_bootstrap",
]

_TIE_RTOL = 1e-10  # |T*| >= |T| is checked as |T*| >= |T| * (1 - _TIE_RTOL): exact ties count.


# =============================================================================================
# Shared helpers
# =============================================================================================
def _overall_row(
    *,
    estimator: str,
    outcome: str,
    estimate: float,
    ci: tuple[float, float] | None,
    p_value: float,
    inference: str,
    n_treated: int,
    n_control: int,
    n_obs: int,
    alpha: float,
    time_dtype: str | None,
    programme: str | None,
) -> pd.DataFrame:
    """One estimates-table row (aggregation ``overall``) via the shared result object."""
    lo, hi = (np.nan, np.nan) if ci is None else (float(ci[0]), float(ci[1]))
    overall = OverallEstimate(float(estimate), None, lo, hi, float(p_value))
    est = pd.DataFrame(
        [{"aggregation": "overall", "cohort": None, "period": None, "event_time": pd.NA, "estimate": float(estimate),
          "std_error": np.nan, "ci_lower": lo, "ci_upper": hi, "p_value": float(p_value)}]
    )
    res = EstimationResult(
        estimator=estimator, outcome=outcome, estimates=est, overall=overall, inference=inference,
        n_treated=int(n_treated), n_control=int(n_control), n_obs=int(n_obs), n_dropped_missing=0,
        alpha=alpha, time_dtype=time_dtype,
    )
    return res.tidy(programme=programme)


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    return alpha


def _cluster_matrix(codes: np.ndarray, n_clusters: int) -> sparse.csr_matrix:
    """Sparse G x n indicator: row g sums the observations of cluster g."""
    n = len(codes)
    return sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_clusters, n))


def _demean(
    values: np.ndarray,
    unit_codes: np.ndarray,
    time_codes: np.ndarray,
    n_units: int,
    n_times: int,
    *,
    balanced: bool,
    tol: float = 1e-11,
    max_iter: int = 10_000,
) -> np.ndarray:
    """Two-way (unit and period) demeaning of each column of ``values`` (n x m).

    Balanced panels: the closed form ``x - unit mean - period mean + grand mean``. Unbalanced
    panels: alternating projections (method of Guimaraes & Portugal 2010), all columns at once,
    until the largest change is below ``tol`` times the column scale.
    """
    x = np.array(values, dtype=float, copy=True)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    U = _cluster_matrix(unit_codes, n_units)
    Tm = _cluster_matrix(time_codes, n_times)
    nu = np.asarray(U.sum(axis=1)).ravel()
    nt = np.asarray(Tm.sum(axis=1)).ravel()
    if balanced:
        um = (U @ x) / nu[:, None]
        tm = (Tm @ x) / nt[:, None]
        out = x - um[unit_codes] - tm[time_codes] + x.mean(axis=0)
        return out[:, 0] if squeeze else out
    scale = np.maximum(np.abs(x).max(axis=0), 1.0)
    for _ in range(max_iter):
        x -= ((U @ x) / nu[:, None])[unit_codes]
        step = (Tm @ x) / nt[:, None]
        x -= step[time_codes]
        if np.max(np.abs(step) / scale) < tol:
            break
    else:  # pragma: no cover - pathological designs only
        warnings.warn("two-way demeaning did not converge; results may be inaccurate", RuntimeWarning, stacklevel=3)
    x -= ((U @ x) / nu[:, None])[unit_codes]
    return x[:, 0] if squeeze else x


def _cr1_factor(n_obs: int, n_clusters: int, n_units: int, n_periods: int, k: int) -> float:
    """CR1 factor of csceval.did.twfe: G/(G-1) * (n-1)/(n-K), K = k + N + T - 1."""
    big_k = k + n_units + n_periods - 1
    return n_clusters / (n_clusters - 1) * (n_obs - 1) / (n_obs - big_k)


# =============================================================================================
# Randomization inference
# =============================================================================================
@dataclass(frozen=True, eq=False)
class RandomizationResult:
    """Result of :func:`randomization_inference` (immutable).

    Attributes
    ----------
    statistic : float
        Value of the test statistic for the actual assignment.
    statistic_name : str
        ``"estimate"``, ``"t"`` or the name of the callable used.
    estimate : float
        The estimator's overall estimate for the actual assignment (for the estimates table).
    p_value : float
        Two-sided permutation p-value. Random draws: :math:`(1 + \\#\\{|T^*_b| \\ge |T|\\})/(1 + B)`;
        exact enumeration: :math:`\\#\\{|T^*_a| \\ge |T|\\}/A` over all :math:`A` assignments (the actual
        one included).
    rank : int
        Position of the actual assignment when all statistics (actual included) are sorted by
        :math:`|T|` in decreasing order, ties counted against it (``p_value = rank / (B + 1)`` or
        ``rank / A``).
    distribution : ndarray
        Permutation distribution: the statistic for each drawn assignment (random draws: the
        ``B`` draws, actual excluded), or for every assignment (exact: actual included).
    n_permutations : int
        ``B`` (random draws) or ``A`` (exact enumeration).
    exact : bool
        Whether all distinct assignments were enumerated.
    n_assignments : int
        Number of distinct assignments of the adoption pattern to the pool.
    confidence_set : tuple of float or None
        ``(lower, upper)`` of the set of constant additive effects :math:`\\tau` not rejected at
        level ``alpha`` (test inversion), ``None`` if not computed. Infinite ends mean the set is
        unbounded on that side within the search range.
    confidence_set_grid : DataFrame or None
        ``tau`` and ``p_value`` on the inversion grid (to see non-convex sets).
    pattern : Mapping
        Cohort -> number of treated units (the wave structure kept in every permutation).
    pool : tuple
        Units that assignments are drawn from.
    method : str
        ``"fast-linear"`` (vectorised TWFE) or ``"generic"`` (estimator called per assignment).
    elapsed_seconds : float
        Wall-clock time of the permutation step.
    """

    statistic: float
    statistic_name: str
    estimate: float
    p_value: float
    rank: int
    distribution: np.ndarray = field(repr=False)
    n_permutations: int
    exact: bool
    n_assignments: int
    alpha: float
    confidence_set: tuple[float, float] | None
    confidence_set_grid: pd.DataFrame | None = field(repr=False)
    pattern: Mapping[Any, int] = field(repr=False)
    pool: tuple = field(repr=False)
    method: str
    estimator: str
    outcome: str
    n_treated: int
    n_control: int
    n_obs: int
    seed: int | None
    elapsed_seconds: float
    time_dtype: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        dist = np.asarray(self.distribution, dtype=float).copy()
        dist.setflags(write=False)
        object.__setattr__(self, "distribution", dist)
        object.__setattr__(self, "pattern", MappingProxyType(dict(self.pattern)))

    @property
    def inference(self) -> str:
        """How the p-value and confidence set were obtained, in words."""
        how = (f"exact, all {self.n_permutations:,} assignments" if self.exact
               else f"{self.n_permutations:,} permutations")
        return f"randomization inference over adoption patterns ({how})"

    def tidy(self, programme: str | None = None, outcome: str | None = None) -> pd.DataFrame:
        """One row of the estimates table (aggregation ``"overall"``).

        ``estimate`` is the estimator's overall estimate, ``p_value`` the permutation p-value,
        ``ci_lower``/``ci_upper`` the inverted confidence set (missing if not computed),
        ``std_error`` missing.
        """
        return _overall_row(
            estimator=self.estimator, outcome=outcome or self.outcome, estimate=self.estimate,
            ci=self.confidence_set, p_value=self.p_value, inference=self.inference,
            n_treated=self.n_treated, n_control=self.n_control, n_obs=self.n_obs, alpha=self.alpha,
            time_dtype=self.time_dtype, programme=programme,
        )

    def summary(self) -> str:
        """A short text report."""
        width = 78
        pattern = ", ".join(f"{_fmt_time(k)}: {v}" for k, v in self.pattern.items())
        cs = "not computed" if self.confidence_set is None else (
            f"[{self.confidence_set[0]:.4g}, {self.confidence_set[1]:.4g}]")
        lines = [
            "Randomization inference over adoption patterns".center(width), "=" * width,
            f"{'Estimator:':<24}{self.estimator}",
            f"{'Outcome:':<24}{self.outcome}",
            f"{'Statistic:':<24}{self.statistic_name} = {self.statistic:.6g} (estimate {self.estimate:.6g})",
            f"{'Adoption pattern:':<24}{pattern}",
            f"{'Pool:':<24}{len(self.pool)} units ({self.n_assignments:,} distinct assignments)",
            f"{'Assignments used:':<24}{self.n_permutations:,} ({'exact enumeration' if self.exact else 'random draws, seed ' + str(self.seed)})",
            f"{'p-value (two-sided):':<24}{self.p_value:.4f} (rank {self.rank})",
            f"{f'{100 * (1 - self.alpha):g}% confidence set:':<24}{cs}",
            f"{'Method:':<24}{self.method} ({self.elapsed_seconds:.2f} s)",
            "=" * width,
        ]
        lines += textwrap.wrap(
            "Note: the confidence set inverts the test for a constant additive effect tau (treated "
            "post-period outcomes shifted by -tau).", width)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def plot(self, **kwargs: Any) -> Figure:
        """Histogram of the permutation distribution with the actual value marked."""
        from csceval.report.inference_figures import permutation_figure

        return permutation_figure(self, **kwargs)


def _fmt_time(value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _extract_statistic(result: Any, statistic: str | Callable[[Any], float]) -> float:
    if callable(statistic):
        return float(statistic(result))
    overall = getattr(result, "overall", None)
    if overall is None:
        raise ValueError("the estimator's result has no overall estimate; pass statistic=<callable on the result>")
    if statistic == "estimate":
        return float(overall.estimate)
    if statistic == "t":
        if overall.std_error is None or not np.isfinite(overall.std_error) or overall.std_error <= 0:
            raise ValueError("statistic='t' needs the overall estimate's standard error, which the result does not have")
        return float(overall.estimate / overall.std_error)
    raise ValueError(f"statistic must be 'estimate', 't' or a callable, got {statistic!r}")


def _never_value(series: pd.Series) -> Any:
    if pd.api.types.is_datetime64_any_dtype(series):
        return pd.NaT
    if pd.api.types.is_integer_dtype(series):
        return 0
    return np.nan


@dataclass(frozen=True)
class _Design:
    """Units, their cohorts as integer codes, the pool and the adoption pattern."""

    units: np.ndarray  # unit ids, order of panel.data's units (sorted)
    codes: np.ndarray  # actual code per unit (0 = never treated, k = cohort_values[k-1])
    cohort_values: tuple  # distinct non-never cohorts, sorted
    pool_idx: np.ndarray  # positions (into units) of the pool
    counts: tuple[int, ...]  # units per code 1..K (the pattern)


def _design(panel: PreparedPanel, df: pd.DataFrame, unit: str, cohort: str, pool: Sequence | None) -> _Design:
    units = np.array(list(pd.Index(panel.data[_UNIT]).unique()), dtype=object)
    per_unit = df[[unit, cohort]].drop_duplicates(unit).set_index(unit)[cohort]
    per_unit = per_unit.reindex(units)
    never = _never_treated_mask(per_unit).to_numpy()
    treated_vals = per_unit[~never]
    if not len(treated_vals):
        raise ValueError(
            f"no treated units: every unit's cohort ({cohort!r}) is 0/missing, so there is no adoption pattern to permute"
        )
    cohort_values = tuple(sorted(pd.unique(treated_vals)))
    lookup = {v: i + 1 for i, v in enumerate(cohort_values)}
    codes = np.array([0 if nv else lookup[v] for v, nv in zip(per_unit.to_numpy(), never)], dtype=np.int64)
    pos = {u: i for i, u in enumerate(units)}
    if pool is None:
        pool_idx = np.arange(len(units))
    else:
        pool = list(pool)
        if len(set(pool)) != len(pool):
            raise ValueError("pool lists some units more than once")
        missing = [u for u in pool if u not in pos]
        if missing:
            raise ValueError(
                f"{len(missing)} pool unit(s) are not in the estimation data (no rows with a non-missing outcome), "
                f"e.g. {missing[:5]}"
            )
        n_treated = int((codes > 0).sum())
        if len(pool) < n_treated:
            raise ValueError(
                f"the pool has {len(pool)} unit(s) but the programme has {n_treated} treated unit(s): the pool must "
                "hold at least the treated units (it is the treated units plus the eligible comparison units)"
            )
        pool_idx = np.array([pos[u] for u in pool], dtype=np.int64)
        outside_treated = [units[i] for i in np.flatnonzero(codes > 0) if i not in set(pool_idx.tolist())]
        if outside_treated:
            raise ValueError(
                f"treated unit(s) {outside_treated[:5]} are not in the pool; the pool must contain every treated unit"
            )
    counts = tuple(int((codes[pool_idx] == k).sum()) for k in range(1, len(cohort_values) + 1))
    return _Design(units=units, codes=codes, cohort_values=cohort_values, pool_idx=np.sort(pool_idx), counts=counts)


def _n_assignments(n_pool: int, counts: Sequence[int]) -> int:
    total, remaining = 1, n_pool
    for c in counts:
        total *= math.comb(remaining, c)
        remaining -= c
    return total


def _enumerate_assignments(n_pool: int, counts: Sequence[int]) -> np.ndarray:
    """All distinct assignments of the pattern to the pool: array (A, n_pool) of codes."""
    out: list[np.ndarray] = []
    current = np.zeros(n_pool, dtype=np.int64)

    def rec(available: list[int], k: int) -> None:
        if k == len(counts):
            out.append(current.copy())
            return
        for combo in itertools.combinations(available, counts[k]):
            idx = list(combo)
            current[idx] = k + 1
            chosen = set(combo)
            rec([a for a in available if a not in chosen], k + 1)
            current[idx] = 0

    rec(list(range(n_pool)), 0)
    return np.array(out, dtype=np.int64).reshape(len(out), n_pool)


class _TwfeLinearEngine:
    r"""All permutations of the static TWFE regression at once.

    For an assignment ``b`` the TWFE coefficient on :math:`D^{(b)}` and its CR1 t-statistic
    follow from three per-unit sums (Frisch-Waugh-Lovell on two-way-demeaned data):

    .. math::

        P_{ib} = \sum_t \tilde D^{(b)}_{it}\tilde y_{it},\quad
        Q_{ib} = \sum_t \tilde D^{(b)}_{it}\tilde D^{(0)}_{it},\quad
        R_{ib} = \sum_t (\tilde D^{(b)}_{it})^2,

    where tildes are two-way demeaned and residualised on covariates and :math:`D^{(0)}` is the
    actual assignment. For outcomes shifted by :math:`-\tau D^{(0)}` (test inversion),
    :math:`\hat\beta_b(\tau) = \sum_i (P_{ib} - \tau Q_{ib}) / \sum_i R_{ib}` and the unit scores are
    :math:`P_{ib} - \tau Q_{ib} - \hat\beta_b(\tau) R_{ib}`.

    Balanced panels without covariates: permuting the adoption pattern leaves the period means of
    :math:`D` unchanged, so :math:`\tilde D^{(b)}_{it}` depends only on unit *i*'s cohort and the
    sums are read from unit x cohort tables (cost O(N) per assignment). Otherwise each block of
    assignments is demeaned as a matrix (alternating projections when unbalanced).
    """

    def __init__(self, panel: PreparedPanel, design: _Design, chunk_size: int = 256) -> None:
        data = panel.data
        self.design = design
        unit_pos = {u: i for i, u in enumerate(design.units)}
        self.unit_codes = data[_UNIT].map(unit_pos).to_numpy(np.int64)
        self.time_codes = data[_T].to_numpy(np.int64)
        self.n_units = len(design.units)
        self.n_times = len(panel.times)
        self.n_obs = len(data)
        self.covariates = list(panel.covariates)
        self.chunk_size = int(chunk_size)
        counts = np.bincount(self.unit_codes, minlength=self.n_units)
        present_times = np.unique(self.time_codes)
        self.n_periods_used = len(present_times)
        self.balanced = bool((counts == self.n_times).all())
        # cohort index (period position) of each code; NaN for never / after the window
        cmap = panel.cohort_map.set_index("cohort")["cohort_index"] if len(panel.cohort_map) else pd.Series(dtype=float)
        g = [np.nan] + [float(cmap.get(v)) if pd.notna(cmap.get(v, np.nan)) else np.nan for v in design.cohort_values]
        self.g_of_code = np.array(g, dtype=float)
        y = data[_Y].to_numpy(float)
        self.ytil = _demean(y, self.unit_codes, self.time_codes, self.n_units, self.n_times, balanced=self.balanced)
        if self.covariates:
            X = _demean(data[self.covariates].to_numpy(float), self.unit_codes, self.time_codes, self.n_units,
                        self.n_times, balanced=self.balanced)
            u, s, _ = np.linalg.svd(X, full_matrices=False)
            self.Qx = u[:, s > s.max() * 1e-10] if s.size and s.max() > 0 else np.zeros((self.n_obs, 0))
            self.ytil = self.ytil - self.Qx @ (self.Qx.T @ self.ytil)
        else:
            self.Qx = None
        self.c = _cr1_factor(self.n_obs, self.n_units, self.n_units, self.n_periods_used, 1 + len(self.covariates))
        self.Ucl = _cluster_matrix(self.unit_codes, self.n_units)
        self.fast_tables = self.balanced and not self.covariates
        self.dact = self._dtilde(design.codes[None, :])[:, 0] if not self.fast_tables else None
        if self.fast_tables:
            self._build_tables()

    # -- balanced, no covariates: unit x cohort tables
    def _build_tables(self) -> None:
        T = self.n_times
        t = np.arange(T)
        D = np.array([(t >= g) if np.isfinite(g) else np.zeros(T, bool) for g in self.g_of_code], dtype=float).T  # T x (K+1)
        m_t = D[:, self.design.codes].mean(axis=1)  # share treated per period: invariant under permutation
        Dt = D - D.mean(axis=0)[None, :] - m_t[:, None] + m_t.mean()
        Y = np.zeros((self.n_units, T))
        Y[self.unit_codes, self.time_codes] = self.ytil
        self.A = Y @ Dt  # N x (K+1)
        self.Bt = (Dt**2).sum(axis=0)  # K+1
        self.Cross = Dt.T @ Dt  # (K+1) x (K+1)

    def _dtilde(self, codes: np.ndarray) -> np.ndarray:
        """Demeaned (and covariate-residualised) treatment columns, one per row of ``codes``."""
        g_obs = self.g_of_code[codes[:, self.unit_codes]].T  # n x m
        with np.errstate(invalid="ignore"):
            D = (self.time_codes[:, None] >= g_obs).astype(float)
        Dt = _demean(D, self.unit_codes, self.time_codes, self.n_units, self.n_times, balanced=self.balanced)
        if self.Qx is not None and self.Qx.shape[1]:
            Dt = Dt - self.Qx @ (self.Qx.T @ Dt)
        return Dt

    def pqr(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-unit sums for each assignment: arrays (m, N)."""
        codes = np.atleast_2d(codes)
        if self.fast_tables:
            act = self.design.codes
            P = np.take_along_axis(self.A, codes.T, axis=1).T
            Q = self.Cross[codes, act[None, :]]
            R = self.Bt[codes]
            return P, Q, R
        out_p, out_q, out_r = [], [], []
        for start in range(0, len(codes), self.chunk_size):
            Dt = self._dtilde(codes[start : start + self.chunk_size])
            out_p.append((self.Ucl @ (Dt * self.ytil[:, None])).T)
            out_q.append((self.Ucl @ (Dt * self.dact[:, None])).T)
            out_r.append((self.Ucl @ (Dt * Dt)).T)
        return np.vstack(out_p), np.vstack(out_q), np.vstack(out_r)

    def statistics(self, P: np.ndarray, Q: np.ndarray, R: np.ndarray, tau: float, kind: str) -> np.ndarray:
        den = R.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            beta = (P.sum(axis=1) - tau * Q.sum(axis=1)) / den
            if kind == "estimate":
                return beta
            s = P - tau * Q - beta[:, None] * R
            var = self.c * (s**2).sum(axis=1) / den**2
            return beta / np.sqrt(var)


class _NotLinear(Exception):
    """The Callaway-Sant'Anna permutation shortcut does not apply to this panel / these settings."""


class _CsLinearEngine:
    r"""Callaway & Sant'Anna's overall ATT for many assignments of the adoption pattern at once.

    Without covariates, on a balanced panel from which the estimator drops nothing, each
    :math:`ATT(g,t)` is a difference of cohort-group means of :math:`Y_t - Y_b`, and the overall
    effect (``aggte(type="group")``) a fixed linear combination of the :math:`ATT(g,t)`. Permuting
    the pattern keeps the size of every cohort group, hence the comparison sets (by cohort), the
    valid cells and all weights: only which units form each group changes. So for assignment
    :math:`a` the group sums are :math:`S_{ah} = 1\{G_a = h\}' Y` (one matrix product per group) and
    the statistic follows from them in O(groups x cells). It reproduces the estimator exactly (checked
    at the actual assignment on every call; on any mismatch the generic path is used).
    """

    def __init__(self, panel: PreparedPanel, design: _Design, result: Any, kwargs: dict) -> None:
        from csceval.did.callaway_santanna import _aggregate

        fit = getattr(result, "_fit", None)
        meta = getattr(result, "metadata", {}) or {}
        if fit is None or meta.get("covariates") or meta.get("cluster") not in (None, panel.unit):
            raise _NotLinear("covariates or clusters")
        if any(k in meta for k in ("units_dropped_unbalanced", "units_dropped_treated_first_period")):
            raise _NotLinear("the estimator drops units")
        T = len(fit.times)
        units = design.units
        if T != len(panel.times) or fit.n != len(units):
            raise _NotLinear("the estimator drops periods or units")
        data = panel.data
        upos = pd.Index(units).get_indexer(data[_UNIT])
        Y = np.full((len(units), T), np.nan)
        Y[upos, data[_T].to_numpy()] = data[_Y].to_numpy()
        if np.isnan(Y).any():
            raise _NotLinear("unbalanced panel")
        # cohort key (period index; inf = never / after the window) of each code, from the actual assignment
        g_unit = np.full(len(units), np.nan)
        g_unit[upos] = data[_G].to_numpy()
        key_of_code = np.full(len(design.cohort_values) + 1, np.inf)
        for k in range(1, len(key_of_code)):
            g = g_unit[design.codes == k]
            key_of_code[k] = np.inf if np.isnan(g[0]) else g[0]
        keys = fit.group_keys
        self.group_of_code = np.searchsorted(keys, key_of_code)
        if not np.array_equal(keys[self.group_of_code], key_of_code):
            raise _NotLinear("cohort keys")
        self.n_k = np.bincount(fit.unit_group, minlength=len(keys)).astype(float)
        t, b = fit.cell_t, fit.cell_b
        K = len(t)
        tg = fit.cell_group
        anticipation = int(meta.get("anticipation", 0))
        if meta.get("control_group") == "never_treated":
            ctrl = np.zeros((len(keys), K), dtype=bool)
            ctrl[np.isinf(keys)] = True
        else:
            ctrl = keys[:, None] > (np.maximum(t, b) + anticipation)[None, :]
            ctrl[tg, np.arange(K)] = False
        nc = self.n_k @ ctrl
        self.ctrl_w = np.where(ctrl, self.n_k[:, None], 0.0) / np.maximum(nc, 1.0)[None, :]
        w = _aggregate(fit, "group").w_overall
        self.valid = np.flatnonzero(fit.valid & (w != 0))
        self.w = w[self.valid]
        self.t, self.b, self.tg = t[self.valid], b[self.valid], tg[self.valid]
        self.ctrl_w = self.ctrl_w[:, self.valid]
        self.Y = Y
        self.units = units

    def statistics(self, codes: np.ndarray, Y: np.ndarray | None = None, chunk: int = 256) -> np.ndarray:
        """Overall ATT for each row of ``codes`` (assignments x units), outcome matrix ``Y`` (default: the data)."""
        Y = self.Y if Y is None else Y
        G = len(self.n_k)
        out = np.empty(len(codes))
        cols = np.arange(len(self.valid))
        for s in range(0, len(codes), chunk):
            grp = self.group_of_code[codes[s:s + chunk]]
            ybar = np.empty((len(grp), G, Y.shape[1]))
            for h in range(G):
                ybar[:, h] = ((grp == h).astype(float) @ Y) / self.n_k[h]
            dbar = ybar[:, :, self.t] - ybar[:, :, self.b]          # assignments x groups x cells
            att = dbar[:, self.tg, cols] - np.einsum("agk,gk->ak", dbar, self.ctrl_w)
            out[s:s + chunk] = att @ self.w
        return out


def _two_sided_count(dist: np.ndarray, stat: float) -> int:
    thresh = abs(stat) * (1.0 - _TIE_RTOL)
    return int(np.sum(np.abs(dist) >= thresh))


def _treated_indicator(df: pd.DataFrame, panel: PreparedPanel, time: str, cohort: str) -> np.ndarray:
    """D_it = 1{period index >= cohort index} for every row of ``df`` (0 for never treated)."""
    t_idx = panel.times.get_indexer(df[time])
    never = _never_treated_mask(df[cohort]).to_numpy()
    g_idx = np.full(len(df), np.inf)
    if (~never).any():
        c = df.loc[~never, cohort]
        c = pd.to_datetime(c) if pd.api.types.is_datetime64_any_dtype(panel.times) else pd.to_numeric(c)
        g_idx[~never] = panel.times.searchsorted(c.to_numpy(), side="left")
    return (t_idx >= g_idx).astype(float)


def _invert_pvalue(pfun: Callable[[float], float], center: float, scale: float, alpha: float,
                   *, n_grid: int = 201, width: float = 8.0, max_expand: int = 12) -> tuple[tuple[float, float], pd.DataFrame]:
    """Confidence set {tau: p(tau) > alpha} by a grid search around ``center`` and bisection at its ends."""
    scale = scale if (np.isfinite(scale) and scale > 0) else max(abs(center), 1.0)
    half = width * scale
    for _ in range(max_expand):
        grid = np.linspace(center - half, center + half, n_grid)
        pv = np.array([pfun(x) for x in grid])
        acc = pv > alpha
        if not acc.any():
            return (np.nan, np.nan), pd.DataFrame({"tau": grid, "p_value": pv})
        if not acc[0] and not acc[-1]:
            break
        half *= 2.0
    table = pd.DataFrame({"tau": grid, "p_value": pv})
    idx = np.flatnonzero(acc)

    def bisect(a: float, b: float, a_in: bool) -> float:
        for _ in range(60):
            mid = 0.5 * (a + b)
            if (pfun(mid) > alpha) == a_in:
                a = mid
            else:
                b = mid
            if abs(b - a) <= 1e-10 * max(1.0, abs(center)):
                break
        return 0.5 * (a + b)

    lo = -np.inf if idx[0] == 0 else bisect(grid[idx[0]], grid[idx[0] - 1], True)
    hi = np.inf if idx[-1] == len(grid) - 1 else bisect(grid[idx[-1]], grid[idx[-1] + 1], True)
    return (float(lo), float(hi)), table


def randomization_inference(
    df: pd.DataFrame,
    estimator: Callable[..., Any],
    *,
    unit: str = "la_code",
    time: str = "period",
    cohort: str = "first_treated",
    pool: Sequence | None = None,
    n_permutations: int = 999,
    seed: int | None = 1,
    statistic: str | Callable[[Any], float] = "estimate",
    exact_if_at_most: int = 5000,
    confidence_level: float = 0.95,
    confidence_set: bool | str = "auto",
    method: str = "auto",
    estimator_options: Mapping[str, Any] | None = None,
    **estimator_kwargs: Any,
) -> RandomizationResult:
    r"""Randomization (permutation) inference over the programme's adoption pattern.

    The **adoption pattern** is the multiset of cohorts held by the treated units, e.g. FFfC's
    3 LAs from July 2023 and 7 from April 2024. Under the sharp null of no effect on any unit,
    and if which units adopt when was as good as random among the eligible pool, every
    assignment of that pattern to units of the pool was equally likely. Each permutation draws
    which units get each wave's date (keeping the number of units per wave), re-runs
    ``estimator`` and records the statistic :math:`T^*`. The two-sided p-value includes the
    actual assignment:

    .. math::

        p = \frac{1 + \#\{b : |T^*_b| \ge |T|\}}{1 + B}

    for :math:`B` random draws, or :math:`\#\{a : |T^*_a| \ge |T|\} / A` when all :math:`A`
    distinct assignments are enumerated (done when :math:`A \le` ``exact_if_at_most``;
    :math:`A = \binom{N}{n_1}\binom{N-n_1}{n_2}\cdots` for pool size :math:`N` and :math:`n_k` units in
    wave :math:`k`). Ties (equal :math:`|T|`) count against the actual assignment.

    Parameters
    ----------
    df : DataFrame
        Long panel, one row per unit x period.
    estimator : callable
        Any ``csceval.did`` estimator (``twfe``, ``event_study_twfe``, ``callaway_santanna``,
        ``imputation``...) or a function ``f(df, unit=, time=, cohort=, **estimator_kwargs)``
        returning a result with ``.overall`` (or accepted by ``statistic``).
    unit, time, cohort : str
        Column names (cohort = first treated period; 0/NaN/NaT = never treated).
    pool : sequence, optional
        Units eligible for treatment (must contain every treated unit). Default: every unit with
        data (the treated units plus the comparison units). Units outside the pool keep their
        actual status in every permutation.
    n_permutations : int
        Number of random assignments :math:`B` when not enumerating.
    seed : int or None
        Seed of :func:`numpy.random.default_rng` for the random assignments.
    statistic : {"estimate", "t"} or callable
        The estimator's overall estimate, its t-statistic (estimate / standard error), or any
        function of the result returning a float.
    exact_if_at_most : int
        Enumerate all assignments when there are at most this many.
    confidence_level : float
        Level of the confidence set.
    confidence_set : bool or "auto"
        Invert the test for a constant additive effect :math:`\tau`: the treated units' post-period
        outcomes are shifted by :math:`-\tau` (so under :math:`H_0:\tau` the adjusted outcomes are
        the untreated ones), the same assignments are re-tested, and the set of :math:`\tau` with
        :math:`p(\tau) > \alpha` is reported (grid search plus bisection at its ends). ``"auto"``:
        only on the fast linear path, where it costs O(B N) per :math:`\tau`; ``True`` on the generic
        path calls the estimator ``B`` times per grid point (slow).
    method : {"auto", "fast", "generic"}
        ``"fast"``: vectorised TWFE (``estimator`` must be :func:`csceval.did.twfe`; statistic
        ``"estimate"`` or ``"t"``; keyword arguments among ``outcome``, ``covariates``, ``alpha``).
        It handles balanced panels with unit x cohort tables and unbalanced panels or covariates
        by demeaning blocks of assignment columns (alternating projections), and reproduces
        ``twfe`` exactly. ``"generic"``: call ``estimator`` once per assignment. ``"auto"``
        chooses ``"fast"`` when possible.
    estimator_options : mapping, optional
        Further keyword arguments for ``estimator`` whose names clash with this function's own, e.g.
        ``{"method": "dr"}`` for :func:`csceval.did.callaway_santanna`.
    **estimator_kwargs
        Passed to ``estimator`` (e.g. ``outcome="cla_rate_per_10k"``). ``outcome`` is required.

    Returns
    -------
    RandomizationResult

    Raises
    ------
    ValueError
        Missing columns, no treated units, a pool that lacks a treated unit or is smaller than
        the number of treated units, or an unknown statistic/method.

    Notes
    -----
    The test is exact (size :math:`\le \alpha` in finite samples) under the sharp null when the
    assignment of the adoption pattern is exchangeable across the pool; with few treated units
    this is the inference that does not rely on the number of treated clusters growing
    (Fisher 1935; Rosenbaum 2002; MacKinnon & Webb 2020 "Randomization inference for
    difference-in-differences with few treated clusters"). Its weak point is the exchangeability
    assumption: LAs chosen for a pathfinder are not a random draw, so report it alongside the
    wild cluster bootstrap and placebo checks.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    clash = sorted(set(estimator_options or {}) & set(estimator_kwargs))
    if clash:
        raise ValueError(f"estimator keyword(s) {clash} given both in estimator_options and directly")
    estimator_kwargs = {**(estimator_options or {}), **estimator_kwargs}
    outcome = estimator_kwargs.get("outcome")
    if outcome is None:
        raise ValueError("pass the outcome column as outcome=... (it is forwarded to the estimator)")
    alpha = _check_alpha(1.0 - float(confidence_level))
    if method not in ("auto", "fast", "generic"):
        raise ValueError(f"method must be 'auto', 'fast' or 'generic', got {method!r}")
    if isinstance(n_permutations, bool) or int(n_permutations) < 1:
        raise ValueError(f"n_permutations must be a positive integer, got {n_permutations!r}")
    n_permutations = int(n_permutations)
    covariates = estimator_kwargs.get("covariates")
    panel = prepare_panel(df, outcome, unit, time, cohort, covariates)
    design = _design(panel, df, unit, cohort, pool)

    from csceval.did.twfe import twfe as _twfe

    fast_ok = (
        estimator is _twfe
        and (statistic in ("estimate", "t"))
        and set(estimator_kwargs) <= {"outcome", "covariates", "alpha"}
    )
    from csceval.did.callaway_santanna import callaway_santanna as _cs

    cs_fast_ok = (
        estimator is _cs
        and statistic == "estimate"
        and not estimator_kwargs.get("covariates")
        and not estimator_kwargs.get("clustervars")
        and method != "generic"
    )
    if method == "fast" and not (fast_ok or cs_fast_ok):
        raise ValueError(
            "method='fast' needs estimator=csceval.did.twfe, statistic 'estimate' or 't' and no estimator keywords "
            "other than outcome, covariates, alpha (or callaway_santanna without covariates, statistic 'estimate')"
        )
    use_fast = fast_ok and method != "generic"

    n_pool = len(design.pool_idx)
    n_total = _n_assignments(n_pool, design.counts)
    exact = n_total <= int(exact_if_at_most)
    actual_pool_codes = design.codes[design.pool_idx]
    if exact:
        pool_codes = _enumerate_assignments(n_pool, design.counts)
    else:
        rng = np.random.default_rng(seed)
        pool_codes = rng.permuted(np.tile(actual_pool_codes, (n_permutations, 1)), axis=1)
    all_codes = np.tile(design.codes, (len(pool_codes), 1))
    all_codes[:, design.pool_idx] = pool_codes

    started = _time.perf_counter()
    stat_name = statistic if isinstance(statistic, str) else getattr(statistic, "__name__", "callable")
    cs_table = None
    cs = None
    if use_fast:
        engine = _TwfeLinearEngine(panel, design)
        P0, Q0, R0 = engine.pqr(design.codes[None, :])
        P, Q, R = engine.pqr(all_codes)
        kind = str(statistic)
        actual_stat = float(engine.statistics(P0, Q0, R0, 0.0, kind)[0])
        estimate = float(engine.statistics(P0, Q0, R0, 0.0, "estimate")[0])
        dist = engine.statistics(P, Q, R, 0.0, kind)
        method_used = "fast-linear"
        if confidence_set in (True, "auto"):
            def pfun(tau: float) -> float:
                s0 = engine.statistics(P0, Q0, R0, tau, kind)[0]
                d = engine.statistics(P, Q, R, tau, kind)
                return _pvalue(d, s0, exact)

            spread = float(np.std(engine.statistics(P, Q, R, 0.0, "estimate")))
            cs, cs_table = _invert_pvalue(pfun, estimate, spread, alpha)
    cs_engine = None
    if not use_fast and cs_fast_ok:
        actual_res = estimator(df, unit=unit, time=time, cohort=cohort, **estimator_kwargs)
        try:
            cs_engine = _CsLinearEngine(panel, design, actual_res, estimator_kwargs)
            actual_stat = float(actual_res.overall.estimate)
            check = float(cs_engine.statistics(design.codes[None, :])[0])
            if not np.isclose(check, actual_stat, rtol=1e-9, atol=1e-12 * max(1.0, float(np.abs(cs_engine.Y).max()))):
                raise _NotLinear(f"shortcut {check!r} != estimator {actual_stat!r}")
        except _NotLinear:
            if method == "fast":
                raise ValueError("method='fast' with callaway_santanna needs a balanced panel from which the estimator "
                                 "drops no unit or period, without covariates or clusters") from None
            cs_engine = None
    if cs_engine is not None:
        estimate = actual_stat
        dist = cs_engine.statistics(all_codes)
        method_used = "fast-linear"
        if confidence_set in (True, "auto"):
            d_rows = _treated_indicator(df, panel, time, cohort)
            upos = pd.Index(cs_engine.units).get_indexer(df[unit])
            tpos = panel.times.get_indexer(df[time])
            ok = (upos >= 0) & (tpos >= 0)
            D = np.zeros_like(cs_engine.Y)
            D[upos[ok], tpos[ok]] = d_rows[ok]
            dist_d = cs_engine.statistics(all_codes, D)      # the statistic is linear in Y: T(tau) = T - tau T_D
            s0_d = float(cs_engine.statistics(design.codes[None, :], D)[0])

            def pfun(tau: float) -> float:
                return _pvalue(dist - tau * dist_d, actual_stat - tau * s0_d, exact)

            cs, cs_table = _invert_pvalue(pfun, estimate, float(np.std(dist)), alpha)
    elif use_fast:
        pass
    else:
        base_kwargs = dict(estimator_kwargs)
        never = _never_value(df[cohort])
        values = np.array([never, *design.cohort_values], dtype=object)
        unit_pos = {u: i for i, u in enumerate(design.units)}
        row_unit = df[unit].map(unit_pos)
        rows_with_unit = row_unit.notna().to_numpy()
        row_unit_idx = row_unit.fillna(-1).astype(int).to_numpy()

        def run(codes_vec: np.ndarray, frame: pd.DataFrame) -> Any:
            new = frame[cohort].copy()
            mapped = values[codes_vec[row_unit_idx[rows_with_unit]]]
            new.loc[rows_with_unit] = list(mapped)
            if pd.api.types.is_datetime64_any_dtype(frame[cohort]):
                new = pd.to_datetime(new)
            return estimator(frame.assign(**{cohort: new}), unit=unit, time=time, cohort=cohort, **base_kwargs)

        actual_res = estimator(df, unit=unit, time=time, cohort=cohort, **base_kwargs)
        actual_stat = _extract_statistic(actual_res, statistic)
        estimate = float(actual_res.overall.estimate) if getattr(actual_res, "overall", None) is not None else actual_stat
        dist = np.array([_extract_statistic(run(c, df), statistic) for c in all_codes])
        method_used = "generic"
        if confidence_set is True:
            d_act = _treated_indicator(df, panel, time, cohort)

            def pfun(tau: float) -> float:
                shifted = df.assign(**{outcome: df[outcome] - tau * d_act})
                s0 = _extract_statistic(estimator(shifted, unit=unit, time=time, cohort=cohort, **base_kwargs), statistic)
                d = np.array([_extract_statistic(run(c, shifted), statistic) for c in all_codes])
                return _pvalue(d, s0, exact)

            spread = float(np.std(dist)) if stat_name == "estimate" else abs(estimate)
            cs, cs_table = _invert_pvalue(pfun, estimate, spread, alpha, n_grid=21, max_expand=3)
    elapsed = _time.perf_counter() - started

    count = _two_sided_count(dist, actual_stat)
    if exact:
        rank = count
        p_value = count / len(dist)
    else:
        rank = 1 + count
        p_value = rank / (1 + len(dist))
    n_treated = int((design.codes > 0).sum())
    pattern = {design.cohort_values[k]: design.counts[k] for k in range(len(design.counts))}
    return RandomizationResult(
        statistic=actual_stat, statistic_name=str(stat_name), estimate=estimate, p_value=float(p_value), rank=int(rank),
        distribution=dist, n_permutations=len(dist), exact=bool(exact), n_assignments=int(n_total), alpha=alpha,
        confidence_set=cs, confidence_set_grid=cs_table, pattern=pattern,
        pool=tuple(design.units[design.pool_idx]), method=method_used,
        estimator=getattr(estimator, "__name__", "estimator"), outcome=outcome, n_treated=n_treated,
        n_control=len(design.units) - n_treated, n_obs=len(panel.data), seed=None if exact else seed,
        elapsed_seconds=elapsed, time_dtype=panel.time_dtype,
    )


def _pvalue(dist: np.ndarray, stat: float, exact: bool) -> float:
    count = _two_sided_count(dist, stat)
    return count / len(dist) if exact else (1 + count) / (1 + len(dist))


# =============================================================================================
# Wild cluster bootstrap
# =============================================================================================
_WEIGHT_NAMES = {"rademacher": "Rademacher", "mammen": "Mammen", "webb": "Webb"}
_WEBB_POINTS = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


def _draw_weights(kind: str, n_clusters: int, n_boot: int, rng: np.random.Generator,
                  enumerate_if_possible: bool) -> tuple[np.ndarray, bool]:
    """Bootstrap weights, G x B; full enumeration for Rademacher (2^G) / Webb (6^G) when <= n_boot."""
    if kind == "rademacher":
        if enumerate_if_possible and 2**n_clusters <= n_boot:
            grid = np.array(list(itertools.product([1.0, -1.0], repeat=n_clusters))).T
            return grid, True
        return rng.choice(np.array([-1.0, 1.0]), size=(n_clusters, n_boot)), False
    if kind == "webb":
        if enumerate_if_possible and 6**n_clusters <= n_boot:
            grid = np.array(list(itertools.product(_WEBB_POINTS, repeat=n_clusters))).T
            return grid, True
        return rng.choice(_WEBB_POINTS, size=(n_clusters, n_boot)), False
    if kind == "mammen":
        s5 = np.sqrt(5.0)
        lo, hi = (1 - s5) / 2, (1 + s5) / 2
        p_lo = (s5 + 1) / (2 * s5)
        return np.where(rng.random((n_clusters, n_boot)) < p_lo, lo, hi), False
    raise ValueError(f"weights must be 'webb', 'rademacher' or 'mammen', got {kind!r}")


@dataclass(frozen=True, eq=False)
class _WildCore:
    """Precomputed pieces of the fast wild cluster bootstrap for one regression."""

    beta: float
    se: float
    xx: float
    small: float
    a0: np.ndarray  # G: cluster sums of x~ * u (DGP residuals at h = 0 for WCR, or u-hat for WCU)
    ax: np.ndarray  # G: cluster sums of x~^2
    psi0: np.ndarray  # G x G
    psi1: np.ndarray  # G x G


def _orthonormal(M: np.ndarray) -> np.ndarray:
    if M.shape[1] == 0:
        return M
    u, s, _ = np.linalg.svd(M, full_matrices=False)
    keep = s > (s.max() * 1e-10 if s.size else 0)
    return u[:, keep]


def _wild_core(y: np.ndarray, x: np.ndarray, W: np.ndarray, clusters: np.ndarray, n_clusters: int,
               small: float, restricted: bool) -> _WildCore:
    r"""Cluster-level quantities so that each bootstrap draw costs O(G^2) (the score matrix).

    With :math:`\tilde x = M_W x`, DGP residuals :math:`u` and bootstrap outcome
    :math:`y^* = \hat y + u \circ v`, the bootstrap coefficient is
    :math:`\beta^* = \beta_0 + \sum_g v_g a_g / \tilde x'\tilde x` with :math:`a_g = \tilde x_g' u_g`,
    and the bootstrap cluster scores are :math:`\Psi v` with
    :math:`\Psi = \mathrm{diag}(a) - C S`, :math:`C_{g\cdot} = \tilde x_g' Q_g`,
    :math:`S_{\cdot h} = Q_h' u_h` (:math:`Q` an orthonormal basis of :math:`[x, W]`). For WCR the
    residuals are :math:`u(h) = M_W(y - x h) = \tilde y - h \tilde x`, so
    :math:`\Psi(h) = \Psi_0 - h\Psi_1` and :math:`a(h) = a_0 - h\, a_x` (Roodman et al. 2019).
    """
    Qw = _orthonormal(W)
    xt = x - Qw @ (Qw.T @ x) if Qw.shape[1] else x.copy()
    yt = y - Qw @ (Qw.T @ y) if Qw.shape[1] else y.copy()
    xx = float(xt @ xt)
    if xx <= 1e-12 * max(1.0, float(x @ x)):
        raise ValueError("the tested regressor is absorbed by the fixed effects and other regressors")
    beta = float(xt @ yt) / xx
    uhat = yt - xt * beta
    Cl = _cluster_matrix(clusters, n_clusters)
    score = Cl @ (xt * uhat)
    se = float(np.sqrt(small * np.sum(score**2)) / xx)
    Qz = np.column_stack([Qw, xt / np.sqrt(xx)])
    C = Cl @ (xt[:, None] * Qz)  # G x r
    ax = Cl @ (xt * xt)
    Sx = (Cl @ (Qz * xt[:, None])).T  # r x G
    if restricted:
        u0 = yt  # residuals at h = 0; u(h) = yt - h * xt
    else:
        u0 = uhat
    a0 = Cl @ (xt * u0)
    S0 = (Cl @ (Qz * u0[:, None])).T
    psi0 = np.diag(a0) - C @ S0
    psi1 = np.diag(ax) - C @ Sx if restricted else np.zeros_like(psi0)
    return _WildCore(beta=beta, se=se, xx=xx, small=small, a0=a0, ax=ax if restricted else np.zeros_like(ax),
                     psi0=psi0, psi1=psi1)


class _WildPvalue:
    """p(h) for the symmetric bootstrap-t test of H0: beta = h, O(B) per evaluation."""

    def __init__(self, core: _WildCore, V: np.ndarray, restricted: bool) -> None:
        self.core = core
        self.restricted = restricted
        E0 = core.psi0 @ V
        self.N0 = core.a0 @ V
        self.d0 = np.einsum("gb,gb->b", E0, E0)
        if restricted:
            E1 = core.psi1 @ V
            self.N1 = core.ax @ V
            self.d01 = np.einsum("gb,gb->b", E0, E1)
            self.d1 = np.einsum("gb,gb->b", E1, E1)

    def t_boot(self, h: float) -> np.ndarray:
        c = self.core
        if self.restricted:
            num = self.N0 - h * self.N1
            den = self.d0 - 2 * h * self.d01 + h * h * self.d1
        else:
            num, den = self.N0, self.d0
        with np.errstate(divide="ignore", invalid="ignore"):
            return num / np.sqrt(c.small * np.maximum(den, 0.0))

    def t_stat(self, h: float) -> float:
        return (self.core.beta - h) / self.core.se

    def __call__(self, h: float) -> float:
        t = abs(self.t_stat(h))
        tb = np.abs(self.t_boot(h))
        return float(np.mean(tb > t * (1.0 + _TIE_RTOL)))


def _find_bound(pfun: Callable[[float], float], start: float, step: float, alpha: float, direction: int,
                max_doublings: int = 60) -> float:
    """Walk from ``start`` (inside the set) until p <= alpha, then bisect the crossing."""
    inside = start
    s = step
    for _ in range(max_doublings):
        cand = inside + direction * s
        if pfun(cand) <= alpha:
            lo, hi = inside, cand
            for _ in range(100):
                mid = 0.5 * (lo + hi)
                if pfun(mid) > alpha:
                    lo = mid
                else:
                    hi = mid
                if abs(hi - lo) <= 1e-12 * max(1.0, abs(start)) + 1e-15:
                    break
            return 0.5 * (lo + hi)
        inside = cand
        s *= 2.0
    return direction * np.inf


@dataclass(frozen=True, eq=False)
class WildBootstrapResult:
    """Result of :func:`wild_cluster_bootstrap` (immutable).

    Attributes
    ----------
    estimate : float
        The coefficient (TWFE) or the imputation estimate.
    t_stat : float
        :math:`(\\hat\\beta - h_0)/\\widehat{se}_{CR1}` (TWFE), or ``NaN`` for the imputation
        bootstrap-c.
    p_value : float
        Symmetric bootstrap p-value, :math:`\\#\\{|t^*_b| > |t|\\}/B` (boottest / fwildclusterboot
        convention; the actual draw is not added).
    ci : tuple or None
        Confidence set by test inversion at level ``1 - alpha`` (infinite ends if unbounded).
    t_boot : ndarray
        Bootstrap statistics under :math:`h_0`.
    """

    estimate: float
    h0: float
    t_stat: float
    p_value: float
    ci: tuple[float, float] | None
    n_boot: int
    weights: str
    restricted: bool
    full_enumeration: bool
    alpha: float
    model: str
    param: str
    outcome: str
    n_clusters: int
    n_treated: int
    n_control: int
    n_obs: int
    seed: int | None
    statistic: str
    t_boot: np.ndarray = field(repr=False)
    elapsed_seconds: float = 0.0
    time_dtype: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        tb = np.asarray(self.t_boot, dtype=float).copy()
        tb.setflags(write=False)
        object.__setattr__(self, "t_boot", tb)

    @property
    def inference(self) -> str:
        """How p-value and confidence set were obtained, in words."""
        kind = "WCR" if self.restricted else "WCU"
        draws = f"full enumeration, {self.n_boot:,} draws" if self.full_enumeration else f"{self.n_boot:,} draws"
        stat = "bootstrap-t" if self.statistic == "t" else "bootstrap-c"
        return f"wild cluster {stat} ({kind}, {_WEIGHT_NAMES[self.weights]}, {draws})"

    def tidy(self, programme: str | None = None, outcome: str | None = None) -> pd.DataFrame:
        """One estimates-table row (aggregation ``"overall"``; ``std_error`` missing)."""
        return _overall_row(
            estimator=self.model, outcome=outcome or self.outcome, estimate=self.estimate, ci=self.ci,
            p_value=self.p_value, inference=self.inference, n_treated=self.n_treated, n_control=self.n_control,
            n_obs=self.n_obs, alpha=self.alpha, time_dtype=self.time_dtype, programme=programme,
        )

    def summary(self) -> str:
        """A short text report."""
        ci = "not computed" if self.ci is None else f"[{self.ci[0]:.4g}, {self.ci[1]:.4g}]"
        lines = [
            "Wild cluster bootstrap".center(72), "=" * 72,
            f"{'Model / parameter:':<24}{self.model} / {self.param}",
            f"{'Outcome:':<24}{self.outcome}",
            f"{'Estimate:':<24}{self.estimate:.6g}",
            f"{'H0:':<24}{self.param} = {self.h0:g}",
            f"{'t (CR1):':<24}{self.t_stat:.4f}",
            f"{'p-value (symmetric):':<24}{self.p_value:.4f}",
            f"{f'{100 * (1 - self.alpha):g}% confidence set:':<24}{ci}",
            f"{'Clusters:':<24}{self.n_clusters} ({self.n_treated} treated)",
            f"{'Inference:':<24}{self.inference}",
            "=" * 72,
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def wild_cluster_bootstrap(
    df: pd.DataFrame,
    outcome: str,
    *,
    unit: str = "la_code",
    time: str = "period",
    cohort: str = "first_treated",
    model: str = "twfe",
    param: str = "treated",
    h0: float = 0.0,
    restricted: bool = True,
    weights: str = "webb",
    n_boot: int = 9999,
    seed: int | None = 1,
    alpha: float = 0.05,
    ci: bool = True,
    covariates: Sequence[str] | None = None,
    full_enumeration: bool = True,
) -> WildBootstrapResult:
    r"""Wild cluster bootstrap test (and confidence set) for the DiD effect, clustered by unit.

    ``model="twfe"``: the bootstrap-t for the coefficient ``param`` (``"treated"`` =
    :math:`\beta` of :func:`csceval.did.twfe`, or a covariate) in
    :math:`y_{it} = \alpha_i + \lambda_t + \beta D_{it} + X_{it}'\gamma + \varepsilon_{it}`.
    Unit effects are nested in the clusters and partialled out first; period effects and
    covariates stay as regressors. The bootstrap samples are

    .. math::

        y^*_{it} = \hat y_{it} + \hat u_{it} v_g, \qquad g = \text{unit of } i,

    with :math:`(\hat y, \hat u)` from the restricted model with :math:`\beta = h_0` imposed (WCR,
    ``restricted=True``, the default) or from the unrestricted fit (WCU); the weights :math:`v_g`
    are Webb's six-point (default), Rademacher or Mammen. Each draw's
    :math:`t^* = (\beta^* - \beta_0)/se^*_{CR1}` is evaluated from cluster-level sums
    (Roodman, MacKinnon, Nielsen & Webb 2019; see ``_wild_core``), so 9,999 draws on 150 clusters
    take a fraction of a second. With Rademacher (Webb) weights and :math:`2^G \le` ``n_boot``
    (:math:`6^G`), all draws are enumerated, as boottest does.

    The p-value is symmetric, :math:`p = \frac1B\#\{|t^*_b| > |t|\}`, and the confidence set collects
    the :math:`h` with :math:`p(h) > \alpha`; its ends are found by stepping out from
    :math:`\hat\beta` and bisecting the crossing, re-imposing each :math:`h` with the same draws
    (for WCR, :math:`t^*(h)` is a ratio of a linear and the square root of a quadratic function of
    :math:`h`, so each :math:`p(h)` costs O(B)).

    ``model="imputation"``: a restricted wild cluster bootstrap of the imputation estimator
    (Borusyak, Jaravel & Spiess 2024) from ``csceval.did.imputation``. Outcomes are
    :math:`y^* = \hat y_r + \hat u_r \circ v` with :math:`(\hat y_r, \hat u_r)` the fit and residuals
    of the TWFE model with the effect fixed at :math:`h_0` (so the null holds in every bootstrap
    sample). Because the imputation estimator is linear in the outcome,
    :math:`\hat\tau(y^*) - h_0 = \sum_g v_g\, \hat\tau(\hat u_r \mathbf 1_g)`, which takes
    :math:`G` estimator calls instead of ``n_boot`` (linearity is checked on one random draw). The
    statistic is the estimate itself (bootstrap-c, symmetric p-value); the confidence set is
    inverted in the same way (:math:`2G + 2` estimator calls).

    Parameters
    ----------
    df, outcome, unit, time, cohort
        Long panel and its columns (as :func:`csceval.did.twfe`).
    model : {"twfe", "imputation"}
    param : str
        Tested coefficient (TWFE only): ``"treated"`` or a covariate name.
    h0 : float
        Null value.
    restricted : bool
        WCR (null imposed; recommended with few treated clusters) or WCU.
    weights : {"webb", "rademacher", "mammen"}
    n_boot : int
        Number of bootstrap draws.
    seed : int or None
        Seed of :func:`numpy.random.default_rng`.
    alpha : float
        Level of the confidence set is ``1 - alpha``.
    ci : bool
        Compute the confidence set by test inversion.
    covariates : sequence of str, optional
        Time-varying covariates (TWFE).
    full_enumeration : bool
        Enumerate all weight vectors when there are at most ``n_boot`` of them.

    Returns
    -------
    WildBootstrapResult

    Notes
    -----
    With very few treated clusters the WCR bootstrap tends to under-reject and WCU to
    over-reject (MacKinnon & Webb 2017, 2018); Webb weights reduce the discreteness problem of
    Rademacher weights when :math:`G` is small. See :func:`size_experiment` for the rejection
    rates on LA-shaped panels.
    """
    alpha = _check_alpha(alpha)
    if isinstance(n_boot, bool) or int(n_boot) < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    n_boot = int(n_boot)
    weights = str(weights).lower()
    if weights not in _WEIGHT_NAMES:
        raise ValueError(f"weights must be 'webb', 'rademacher' or 'mammen', got {weights!r}")
    if model not in ("twfe", "imputation"):
        raise ValueError(f"model must be 'twfe' or 'imputation', got {model!r}")
    if model == "imputation":
        return _wild_imputation(df, outcome, unit=unit, time=time, cohort=cohort, h0=h0, weights=weights,
                                n_boot=n_boot, seed=seed, alpha=alpha, ci=ci, full_enumeration=full_enumeration)
    started = _time.perf_counter()
    covariates = [covariates] if isinstance(covariates, str) else list(covariates or [])
    panel = prepare_panel(df, outcome, unit, time, cohort, covariates)
    data = panel.data
    d = (data[_G].notna() & (data[_T] >= data[_G])).to_numpy(float)
    if not d.any():
        raise ValueError(f"no treated observations: no row with a non-missing {outcome!r} is at or after its cohort")
    units = pd.Index(data[_UNIT].unique())
    ucodes = units.get_indexer(data[_UNIT])
    tcodes = data[_T].to_numpy(np.int64)
    n_units, n_obs = len(units), len(data)
    present_t = np.unique(tcodes)
    tpos = np.searchsorted(present_t, tcodes)
    regs = {"treated": d}
    for c in covariates:
        regs[c] = data[c].to_numpy(float)
    if param not in regs:
        raise ValueError(f"param must be 'treated' or one of the covariates {covariates}, got {param!r}")
    time_dummies = np.zeros((n_obs, len(present_t) - 1))
    rows = np.flatnonzero(tpos > 0)
    time_dummies[rows, tpos[rows] - 1] = 1.0
    others = [v for k, v in regs.items() if k != param]
    W = np.column_stack([time_dummies, *others]) if others else time_dummies
    U = _cluster_matrix(ucodes, n_units)
    nu = np.asarray(U.sum(axis=1)).ravel()

    def within(a: np.ndarray) -> np.ndarray:
        a2 = a if a.ndim == 2 else a[:, None]
        out = a2 - ((U @ a2) / nu[:, None])[ucodes]
        return out if a.ndim == 2 else out[:, 0]

    y = within(data[_Y].to_numpy(float))
    x = within(regs[param])
    W = within(W)
    small = _cr1_factor(n_obs, n_units, n_units, len(present_t), 1 + len(covariates))
    core = _wild_core(y, x, W, ucodes, n_units, small, restricted)
    rng = np.random.default_rng(seed)
    V, enumerated = _draw_weights(weights, n_units, n_boot, rng, full_enumeration)
    pv = _WildPvalue(core, V, restricted)
    p_value = pv(h0)
    t_boot = pv.t_boot(h0)
    interval = None
    if ci:
        step = core.se if core.se > 0 else max(abs(core.beta), 1.0)
        start = core.beta
        if pv(start) <= alpha:  # pragma: no cover - p(beta-hat) is ~1 for WCR/WCU
            interval = (np.nan, np.nan)
        else:
            interval = (_find_bound(pv, start, step, alpha, -1), _find_bound(pv, start, step, alpha, +1))
    treated_units = int(data.loc[data[_G].notna(), _UNIT].nunique())
    return WildBootstrapResult(
        estimate=core.beta, h0=float(h0), t_stat=float(pv.t_stat(h0)), p_value=p_value, ci=interval,
        n_boot=V.shape[1], weights=weights, restricted=bool(restricted), full_enumeration=enumerated, alpha=alpha,
        model="twfe", param=param, outcome=outcome, n_clusters=n_units, n_treated=treated_units,
        n_control=n_units - treated_units, n_obs=n_obs, seed=None if enumerated else seed, statistic="t",
        t_boot=t_boot, elapsed_seconds=_time.perf_counter() - started, time_dtype=panel.time_dtype,
    )


def _wild_imputation(df: pd.DataFrame, outcome: str, *, unit: str, time: str, cohort: str, h0: float, weights: str,
                     n_boot: int, seed: int | None, alpha: float, ci: bool, full_enumeration: bool) -> WildBootstrapResult:
    try:
        from csceval.did.imputation import imputation  # noqa: PLC0415 - written by another module owner
    except ImportError as exc:
        raise NotImplementedError(
            "model='imputation' needs csceval.did.imputation.imputation (the Borusyak-Jaravel-Spiess estimator), "
            "which is not available in this installation yet; use model='twfe'"
        ) from exc
    started = _time.perf_counter()
    panel = prepare_panel(df, outcome, unit, time, cohort)
    data = panel.data
    units = pd.Index(data[_UNIT].unique())
    ucodes = units.get_indexer(data[_UNIT])
    tcodes = data[_T].to_numpy(np.int64)
    n_units, n_obs = len(units), len(data)
    balanced = bool((np.bincount(ucodes, minlength=n_units) == len(panel.times)).all())
    d = (data[_G].notna() & (data[_T] >= data[_G])).to_numpy(float)
    y = data[_Y].to_numpy(float)
    my = _demean(y, ucodes, tcodes, n_units, len(panel.times), balanced=balanced)
    md = _demean(d, ucodes, tcodes, n_units, len(panel.times), balanced=balanced)
    frame = pd.DataFrame({unit: data[_UNIT].to_numpy(), time: data["_time"].to_numpy()})
    frame[cohort] = df.drop_duplicates(unit).set_index(unit)[cohort].reindex(frame[unit]).to_numpy()

    def tau(values: np.ndarray) -> float:
        res = imputation(frame.assign(**{outcome: values}), outcome=outcome, unit=unit, time=time, cohort=cohort, pretrends=False)
        return float(res.overall.estimate)

    estimate = tau(y)
    members = [np.flatnonzero(ucodes == g) for g in range(n_units)]

    def per_cluster(values: np.ndarray) -> np.ndarray:
        out = np.empty(n_units)
        for g, idx in enumerate(members):
            v = np.zeros(n_obs)
            v[idx] = values[idx]
            out[g] = tau(v)
        return out

    cy = per_cluster(my)
    cd = per_cluster(md)
    rng = np.random.default_rng(seed)
    V, enumerated = _draw_weights(weights, n_units, n_boot, rng, full_enumeration)
    # linearity check on one draw: tau(y_r_hat + u_r * v) == h0 + (cy - h0 cd)'v
    u_r = my - h0 * md
    v1 = V[:, 0]
    direct = tau((y - u_r) + u_r * v1[ucodes])
    linear = h0 + (cy - h0 * cd) @ v1
    if not np.isclose(direct, linear, rtol=1e-6, atol=1e-8 * max(1.0, abs(estimate))):
        raise ValueError(
            "the imputation estimator is not linear in the outcome (or does not return h0 on the restricted fit); "
            f"the fast bootstrap needs linearity (direct {direct:.10g} vs linear {linear:.10g})"
        )
    NY, ND = cy @ V, cd @ V

    def pfun(h: float) -> float:
        return float(np.mean(np.abs(NY - h * ND) > abs(estimate - h) * (1.0 + _TIE_RTOL)))

    p_value = pfun(h0)
    interval = None
    if ci:
        spread = float(np.std(NY - estimate * ND)) or max(abs(estimate), 1.0)
        interval = (_find_bound(pfun, estimate, spread, alpha, -1), _find_bound(pfun, estimate, spread, alpha, +1))
    treated_units = int(data.loc[data[_G].notna(), _UNIT].nunique())
    return WildBootstrapResult(
        estimate=estimate, h0=float(h0), t_stat=float("nan"), p_value=p_value, ci=interval, n_boot=V.shape[1],
        weights=weights, restricted=True, full_enumeration=enumerated, alpha=alpha, model="imputation",
        param="overall", outcome=outcome, n_clusters=n_units, n_treated=treated_units,
        n_control=n_units - treated_units, n_obs=n_obs, seed=None if enumerated else seed, statistic="c",
        t_boot=NY - h0 * ND, elapsed_seconds=_time.perf_counter() - started, time_dtype=panel.time_dtype,
    )


# =============================================================================================
# Size experiment
# =============================================================================================
#: Programme wave structures used in the size experiment: number of treated units -> units per
#: wave (FFfC 3 + 7, FNP 4 + 3, RCC 2 cooperatives in one wave).
WAVE_STRUCTURES: dict[int, tuple[int, ...]] = {10: (3, 7), 7: (4, 3), 2: (2,)}


def simulate_null_panel(
    *,
    n_units: int = 150,
    n_periods: int = 12,
    waves: Sequence[int] = (3, 7),
    first_wave_period: int | None = None,
    rho: float = 0.5,
    unit_sd: float = 1.0,
    time_sd: float = 1.0,
    noise_sd: float = 1.0,
    rng: np.random.Generator | int | None = None,
) -> pd.DataFrame:
    r"""One LA-shaped panel with **zero** treatment effect.

    :math:`y_{it} = \alpha_i + \lambda_t + \varepsilon_{it}`, :math:`\alpha_i \sim N(0, \text{unit\_sd}^2)`,
    :math:`\lambda_t \sim N(0, \text{time\_sd}^2)`, and stationary AR(1) errors
    :math:`\varepsilon_{it} = \rho\varepsilon_{i,t-1} + e_{it}` with marginal s.d. ``noise_sd``.
    Waves start in consecutive periods from ``first_wave_period`` (default: so that the last
    wave has 2 post periods); treated units are the first ``sum(waves)`` LAs. Columns ``la_code``,
    ``period`` (integers ``0..n_periods-1``), ``first_treated`` (NaN = never treated) and ``y``.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if first_wave_period is None:
        first_wave_period = n_periods - 1 - len(waves)
    eps = np.empty((n_units, n_periods))
    innov_sd = noise_sd * np.sqrt(1 - rho**2)
    eps[:, 0] = rng.normal(0, noise_sd, n_units)
    for t in range(1, n_periods):
        eps[:, t] = rho * eps[:, t - 1] + rng.normal(0, innov_sd, n_units)
    y = rng.normal(0, unit_sd, n_units)[:, None] + rng.normal(0, time_sd, n_periods)[None, :] + eps
    cohort = np.full(n_units, np.nan)
    pos = 0
    for w, n in enumerate(waves):
        cohort[pos : pos + n] = first_wave_period + w
        pos += n
    return pd.DataFrame(
        {
            "la_code": np.repeat([f"{i:03d}" for i in range(n_units)], n_periods),
            "period": np.tile(np.arange(n_periods), n_units),
            "first_treated": np.repeat(cohort, n_periods),
            "y": y.ravel(),
        }
    )


def size_experiment(
    *,
    n_treated: Sequence[int] = (2, 7, 10),
    n_reps: int = 500,
    n_units: int = 150,
    n_periods: int = 12,
    rho: float = 0.5,
    alpha: float = 0.05,
    n_permutations: int = 199,
    n_boot: int = 199,
    methods: Sequence[str] = ("cr1", "randomization", "wcr_webb"),
    seed: int = 20250401,
    waves: Mapping[int, Sequence[int]] | None = None,
) -> pd.DataFrame:
    r"""Rejection rates at level ``alpha`` under a true null, on simulated LA-shaped panels.

    For each number of treated units (in its programme wave structure, :data:`WAVE_STRUCTURES`)
    ``n_reps`` panels from :func:`simulate_null_panel` (zero effect, AR(1) errors, unit and period
    effects) are drawn and the static TWFE effect is tested with

    * ``"cr1"``: the cluster-robust t-test of :func:`csceval.did.twfe` (CR1, :math:`t(G-1)`);
    * ``"randomization"``: :func:`randomization_inference` over adoption patterns (statistic: the
      estimate; ``n_permutations`` draws, or exact);
    * ``"wcr_webb"``: :func:`wild_cluster_bootstrap`, WCR with Webb weights (``n_boot`` draws);
    * ``"wcu_webb"``, ``"wcr_rademacher"``: variants.

    Returns
    -------
    DataFrame
        ``method, n_treated, rejection_rate, mc_se, n_reps, alpha`` with
        ``mc_se = sqrt(r (1 - r) / n_reps)`` (binomial Monte Carlo standard error).
    """
    from csceval.did.twfe import twfe as _twfe

    alpha = _check_alpha(alpha)
    waves = dict(waves or WAVE_STRUCTURES)
    known = {"cr1", "randomization", "wcr_webb", "wcu_webb", "wcr_rademacher"}
    bad = sorted(set(methods) - known)
    if bad:
        raise ValueError(f"unknown method(s) {bad}; choose from {sorted(known)}")
    rng = np.random.default_rng(seed)
    rows = []
    for n_tr in n_treated:
        if n_tr not in waves:
            raise ValueError(f"no wave structure for {n_tr} treated units; pass waves={{{n_tr}: (...)}}")
        rejections = {m: 0 for m in methods}
        for _ in range(int(n_reps)):
            panel_df = simulate_null_panel(n_units=n_units, n_periods=n_periods, waves=waves[n_tr], rho=rho, rng=rng)
            sub_seed = int(rng.integers(0, 2**31 - 1))
            for m in methods:
                if m == "cr1":
                    p = _cr1_pvalue(panel_df)
                elif m == "randomization":
                    p = randomization_inference(panel_df, _twfe, outcome="y", unit="la_code", time="period",
                                                cohort="first_treated", n_permutations=n_permutations, seed=sub_seed,
                                                confidence_set=False).p_value
                else:
                    kind, w = m.split("_")
                    p = wild_cluster_bootstrap(panel_df, "y", unit="la_code", time="period", cohort="first_treated",
                                               restricted=(kind == "wcr"), weights=w, n_boot=n_boot, seed=sub_seed,
                                               ci=False).p_value
                rejections[m] += p <= alpha
        for m in methods:
            r = rejections[m] / n_reps
            rows.append({"method": m, "n_treated": int(n_tr), "rejection_rate": r,
                         "mc_se": float(np.sqrt(r * (1 - r) / n_reps)), "n_reps": int(n_reps), "alpha": alpha})
    return pd.DataFrame(rows)


def _cr1_pvalue(panel_df: pd.DataFrame) -> float:
    """p-value of the CR1 t-test of csceval.did.twfe, computed with the linear engine (identical numbers)."""
    panel = prepare_panel(panel_df, "y", "la_code", "period", "first_treated")
    design = _design(panel, panel_df, "la_code", "first_treated", None)
    engine = _TwfeLinearEngine(panel, design)
    P, Q, R = engine.pqr(design.codes[None, :])
    t = float(engine.statistics(P, Q, R, 0.0, "t")[0])
    return float(2 * stats.t.sf(abs(t), engine.n_units - 1))
