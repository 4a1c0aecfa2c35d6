r"""Callaway & Sant'Anna (2021) difference-in-differences with staggered adoption.

This is a numpy implementation of the R package ``did`` (``att_gt`` and ``aggte``, Callaway and
Sant'Anna) with the 2x2 estimators of ``DRDID`` (Sant'Anna and Zhao 2020), for panel data. It follows
the ``did`` source (``pre_process_did``, ``compute.att_gt``, ``mboot``, ``compute.aggte`` of did 2.5;
``reg_did_panel``, ``std_ipw_did_panel`` and ``drdid_panel`` of DRDID 1.2) line by line, so point
estimates, analytic influence-function standard errors and the Wald pre-test agree with ``did`` to
rounding, and bootstrap standard errors and uniform bands agree up to Monte Carlo error.

Estimands
---------
Let :math:`G_i` be unit *i*'s first treated period (:math:`G_i=\infty` for never-treated units),
:math:`\delta` the number of anticipation periods and :math:`C` the comparison group. The group-time
average treatment effect of cohort :math:`g` in period :math:`t` is

.. math::

    ATT(g,t) = E[Y_t(g) - Y_t(0) \mid G = g],

identified, for :math:`t \ge g - \delta`, by the difference-in-differences against the base period
:math:`b = g - \delta - 1` (the "long difference" of a post period):

.. math::

    ATT(g,t) = E[Y_t - Y_b \mid G=g] - E[Y_t - Y_b \mid C_{g,t}].

The comparison group :math:`C_{g,t}` is the never-treated units (``control_group="never_treated"``)
or the units not yet treated by :math:`\max(t,b)+\delta` and not in cohort :math:`g`
(``"not_yet_treated"``: :math:`G > \max(t,b) + \delta`, including the never treated). In pre-treatment
periods (:math:`t < g - \delta`) the same formula gives placebo "pseudo-ATTs" with base period
:math:`b = t-1` (``base_period="varying"``) or :math:`b = g-\delta-1` (``"universal"``; the cell
:math:`t = b` is then normalised to 0).

With covariates :math:`X` (taken, as ``did`` does for balanced panels, in the earlier of the two
periods of each 2x2 comparison) the three 2x2 estimators of ``DRDID`` are available. With
:math:`D = 1\{G=g\}`, :math:`\Delta Y = Y_t - Y_b`, a logit propensity score
:math:`p(X) = P(D=1 \mid X, D + C = 1)` and a linear outcome regression :math:`m(X) = X'\beta` of
:math:`\Delta Y` fitted on the comparison units:

.. math::

    \widehat{ATT}_{\text{reg}} &= \bar{\Delta Y}_{D=1} - \overline{m(X)}_{D=1},\\
    \widehat{ATT}_{\text{ipw}} &= \frac{E_n[D\,\Delta Y]}{E_n[D]}
        - \frac{E_n[w_0\,\Delta Y]}{E_n[w_0]}, \qquad w_0 = \frac{p(X)(1-D)}{1-p(X)},\\
    \widehat{ATT}_{\text{dr}} &= \frac{E_n[D(\Delta Y - m(X))]}{E_n[D]}
        - \frac{E_n[w_0(\Delta Y - m(X))]}{E_n[w_0]}

(``reg_did_panel``; Hajek-normalised ``std_ipw_did_panel``; the locally efficient doubly robust
``drdid_panel``, which is what ``did`` calls for ``est_method="dr"``). Comparison units with
:math:`p(X) \ge 0.995` are trimmed in the two propensity-score estimators, as in ``DRDID``.

Aggregations (``aggte``) average :math:`ATT(g,t)` with weights :math:`P(G=g)` (cohort shares among
all units, :math:`\hat p_g = n^{-1}\sum_i 1\{G_i=g\}`):

.. math::

    \theta_{\text{simple}} &= \frac{\sum_{g}\sum_{t \ge g} \hat p_g\, ATT(g,t)}
        {\sum_{g}\sum_{t\ge g} \hat p_g},\\
    \theta_{\text{es}}(e) &= \sum_g 1\{g + e \in \mathcal T\}\,
        \frac{\hat p_g}{\sum_{g'} 1\{g'+e\in\mathcal T\}\hat p_{g'}}\, ATT(g, g+e),
        \qquad \theta_{\text{es}} = \frac{1}{|\{e \ge 0\}|}\sum_{e\ge0}\theta_{\text{es}}(e),\\
    \theta_{\text{sel}}(g) &= \frac{1}{T - g + 1}\sum_{t \ge g} ATT(g,t), \qquad
        \theta_{\text{sel}} = \sum_g \frac{\hat p_g}{\sum_{g'}\hat p_{g'}}\,\theta_{\text{sel}}(g),\\
    \theta_{\text{c}}(t) &= \sum_{g \le t} \frac{\hat p_g}{\sum_{g'\le t}\hat p_{g'}}\, ATT(g,t),
        \qquad \theta_{\text{c}} = \frac{1}{|\mathcal T_c|}\sum_{t}\theta_{\text{c}}(t).

Inference
---------
Every estimate :math:`\hat\theta` is asymptotically linear,
:math:`\hat\theta - \theta = n^{-1}\sum_i \psi_i + o_p(n^{-1/2})`. The influence function of
:math:`ATT(g,t)` is the ``DRDID`` one (including the estimation effect of :math:`\hat\beta` and of the
propensity-score coefficients) rescaled by :math:`n/n_{g,t}`; that of an aggregate is
:math:`\sum_k w_k\psi^{(k)}` plus the estimated-weights term ``did`` adds (``wif``):
:math:`S^{-1}\sum_k (1\{G_i=g_k\} - \hat p_{g_k})(ATT_k - \hat\theta)` with :math:`S=\sum_k \hat p_{g_k}`.
With clusters :math:`c` (the unit by default) let :math:`S_c = \sum_{i\in c}\psi_i`.

* Analytic standard error: :math:`\widehat{se} = n^{-1}\sqrt{\sum_c S_c^2}` (with unit clusters this
  is ``did``'s :math:`\sqrt{n^{-1}\sum_i\psi_i^2 / n}`).
* Multiplier bootstrap (``did``'s ``mboot``; ``BMisc::multiplier_bootstrap`` draws Rademacher
  weights :math:`V_c = \pm 1`): :math:`\hat\theta^{*}_b = \sqrt{n_c}\,n_c^{-1}\sum_c V_{cb}S_c`; the
  standard error is the rescaled interquartile range
  :math:`\widehat{se} = \frac{q_{0.75}(\hat\theta^*) - q_{0.25}(\hat\theta^*)}{z_{0.75}-z_{0.25}}\,
  \frac{\sqrt{n_c}}{n}` (R quantile type 1), and the simultaneous band over a family of estimates
  (all ATT(g,t); all event times; all cohorts; all periods) uses the sup-t critical value
  :math:`\hat c_{1-\alpha}`, the :math:`1-\alpha` quantile of
  :math:`\max_k |\hat\theta^*_{bk}| / \hat\sigma_k` with :math:`\hat\sigma_k` the IQR scale of
  column *k*.

All bootstrap draws come from one ``numpy.random.default_rng(seed)`` stream (the same draws for every
estimate, in chunks of draws to bound memory). Every reported estimate is a linear map of the ATT(g,t)
(a sparse weight matrix, plus ``did``'s estimated-weights term), so one pass serves all of them. With
covariates (or clusters other than the unit) the influence functions are held as one n x K matrix and
a chunk of draws is one matrix product with it. Without covariates, the influence function of unit *i*
in cohort group *k* is affine in its within-group centred outcomes,
:math:`\psi_{ic} = \alpha_{kc}(\tilde Y_{it_c} - \tilde Y_{ib_c}) + \tilde\beta_{kc}`, so sums of
squares, the pre-test covariance and the bootstrap draws are computed from per-group moments and
per-group sums :math:`V_k'\tilde Y_k` (cost :math:`B \cdot n \cdot T` rather than
:math:`B \cdot n \cdot K`); both routes give identical numbers (a test checks it to 1e-10).

``ci_lower``/``ci_upper`` are pointwise normal intervals :math:`\hat\theta \pm z_{1-\alpha/2}
\widehat{se}` (consistent with ``p_value``, two-sided normal); ``band_lower``/``band_upper`` are the
simultaneous bands :math:`\hat\theta \pm \hat c_{1-\alpha}\widehat{se}` that ``did`` prints for
ATT(g,t) and for the aggregated tables (bootstrap only). For aggregated tables, a sup-t value below
:math:`z_{1-\alpha/2}` or not finite is replaced by :math:`z_{1-\alpha/2}` (as ``aggte`` does).

Pre-test
--------
The Wald statistic of :math:`H_0: ATT(g,t) = 0` for all pre-treatment cells (:math:`t < g`, cells with a
standard error), :math:`W = \hat a'\hat V^{-1}\hat a \sim \chi^2_q`, uses the *analytic* covariance
:math:`\hat V = n^{-2}\sum_c S_cS_c'` whether or not the bootstrap is used, as ``did``'s summary does
("P-value for pre-test of parallel trends assumption"). It is not computed when :math:`\hat V` is
numerically singular (reciprocal 1-norm condition number :math:`\le` machine epsilon).

Data conventions and edge cases
-------------------------------
* Periods are the sorted unique time values of the input (``csceval.did._panel.prepare_panel``);
  ``anticipation`` and event times are counted in observed periods. For equally spaced periods
  (years, quarters) this is ``did``'s convention; ``did`` counts event time in the units of the time
  variable, so the two differ only for unequally spaced periods.
* Unbalanced panels: like ``did``'s default ``allow_unbalanced_panel=False``, units that are not
  observed with a non-missing outcome (and covariates) in every period used are dropped, with a
  warning and a note. A suppressed EES cell therefore removes that LA from the estimation. ``did``'s
  ``allow_unbalanced_panel=True`` path (repeated-cross-section estimators) is not implemented.
* Cohorts treated in (or before) the first period have no pre-period: their units are dropped
  (warning + note), as ``did`` does; units first treated after the last period are never treated.
* ``control_group="never_treated"`` with no never-treated unit raises an error that names the fix
  (``"not_yet_treated"``); with ``"not_yet_treated"`` and no never-treated units, periods from the
  last cohort's start (minus anticipation) are dropped and the last cohort is used only as a
  comparison group (``did``'s rule). A never-treated group smaller than (number of covariates + 5)
  with ``"never_treated"`` raises (``did``'s rule); other small cohorts give a warning.
* A 2x2 cell that cannot be estimated (no comparison units; the comparison regression design is
  singular; propensity scores :math:`\ge 0.999`, i.e. overlap fails) is reported as missing with a
  warning, as ``did`` does; aggregations then drop it (``na.rm=TRUE``) with a warning.
* Covariates that are collinear with each other or with the intercept across units raise an error
  naming them.
* One treated unit in a cohort: estimates are computed, but the cohort's own sampling variation
  cannot be estimated (its centred influence function is zero), so standard errors reflect the
  comparison group only and are not credible; use the few-treated-robust inference of
  ``csceval.inference``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import linalg, sparse, special, stats
from scipy.linalg import lapack

from csceval.did._panel import (
    _G, _T, _Y, PreparedPanel, _show, parallel_map, prepare_panel, row_slices, single_threaded_blas,
    warn_caller, worker_threads,
)
from csceval.did._results import EstimationResult, OverallEstimate

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["AggregatedEffects", "CallawaySantAnnaResult", "PreTest", "callaway_santanna"]

_EPS = np.finfo(float).eps
_SE_ZERO = math.sqrt(_EPS) * 10  # did: se <= sqrt(.Machine$double.eps) * 10 -> NA
_IQR_Z = stats.norm.ppf(0.75) - stats.norm.ppf(0.25)
_TRIM_LEVEL = 0.995  # DRDID trim.level for comparison units
_OVERLAP_MAX = 0.999  # did: max(preliminary pscore) >= 0.999 -> cell not estimated
_PS_CAP = 1 - 1e-6  # DRDID: ps.fit <- pmin(ps.fit, 1 - 1e-6)
_BOOT_CELLS = 4_000_000  # draws x clusters generated per chunk
# Bootstrap work (floating-point operations over all draws, quantile selection included) below which one thread is used.
# About 5 ms of work on one core: below it a second thread saves at most a couple of milliseconds, and it
# loses them when the other core is busy (another job, or BLAS threads still spinning after a call).
# Measured on 2 cores: 150 x 48 (about 3e7) is faster on one thread whenever the other core is busy;
# 3,000 x 40 (about 3e8) is 17% faster on two on an idle machine.
_THREAD_MIN = 100_000_000
_DRAW_BLOCK = 256  # bootstrap draws per matrix product
_ROW_BLOCK = 64  # estimates per call of the quantile selection (bounds its temporary arrays)
_CONTROL_GROUPS = {"never_treated": "never_treated", "nevertreated": "never_treated",
                   "not_yet_treated": "not_yet_treated", "notyettreated": "not_yet_treated"}
_METHODS = ("dr", "ipw", "reg")
_KINDS = ("simple", "dynamic", "group", "calendar")
_KIND_ALIASES = {"event_study": "dynamic", "event": "dynamic", "cohort": "group", "overall": "simple"}
_METHOD_NAMES = {"dr": "doubly robust (DRDID drdid_panel)", "ipw": "inverse probability weighting "
                 "(normalised, DRDID std_ipw_did_panel)", "reg": "outcome regression (DRDID reg_did_panel)"}


# =============================================================================================
# Public result objects
# =============================================================================================
@dataclass(frozen=True)
class PreTest:
    """Wald pre-test of parallel trends: all pre-treatment :math:`ATT(g,t)` equal zero.

    Attributes
    ----------
    statistic : float or None
        :math:`W = \\hat a'\\hat V^{-1}\\hat a` (``None`` when not computable).
    df : int
        Number of restrictions (pre-treatment cells with a standard error).
    p_value : float or None
        :math:`P(\\chi^2_{df} > W)` (``did`` prints it rounded to 5 decimals).
    covariance : str
        Which covariance was used (always the analytic influence-function covariance, as ``did``).
    note : str
        Why the test is missing, if it is.
    """

    statistic: float | None
    df: int
    p_value: float | None
    covariance: str = "analytic influence-function covariance"
    note: str = ""


@dataclass(frozen=True, eq=False)
class AggregatedEffects:
    """An aggregation of :math:`ATT(g,t)` (``did::aggte``): a table and an overall effect.

    Attributes
    ----------
    kind : str
        ``"simple"``, ``"dynamic"`` (event study), ``"group"`` or ``"calendar"``.
    table : DataFrame
        One row per event time (``event_time``), cohort (``cohort``) or calendar period (``period``)
        with ``estimate``, ``std_error``, ``ci_lower``, ``ci_upper`` (pointwise), ``p_value``,
        ``crit_value`` (uniform critical value), ``band_lower``, ``band_upper`` (simultaneous band),
        ``n_cells`` (ATT(g,t) cells averaged) and, for ``"dynamic"``, ``reference`` (the normalised
        cell of a universal base period). For ``"simple"`` one row with the overall effect.
    overall : OverallEstimate
        The summary effect of this aggregation (pointwise interval, as ``aggte`` prints it).
    crit_value : float
        Uniform critical value of the table's band (NaN without the bootstrap).
    inference : str
        How the standard errors and intervals were obtained.
    options : dict
        ``min_e``, ``max_e``, ``balance_e``, ``na_rm`` as used.
    """

    kind: str
    table: pd.DataFrame
    overall: OverallEstimate
    crit_value: float
    inference: str
    options: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        se = "" if self.overall.std_error is None else f", std_error={self.overall.std_error:.4g}"
        return (f"AggregatedEffects(kind={self.kind!r}, rows={len(self.table)}, "
                f"overall={self.overall.estimate:.4g}{se})")


@dataclass(frozen=True, eq=False, repr=False)
class CallawaySantAnnaResult(EstimationResult):
    """:class:`~csceval.did.EstimationResult` of :func:`callaway_santanna`.

    ``estimates`` holds every ATT(g,t) (aggregation ``"att_gt"``), the event study
    (``"event_study"``), the cohort effects (``"group"``), the calendar-period effects
    (``"calendar"``) and the overall effect (``"overall"``: the cohort-share weighted average of the
    cohort effects, ``aggte(type="group")``'s overall ATT). Extra columns: ``crit_value``,
    ``band_lower``, ``band_upper`` (simultaneous bands), ``n_treated_cell``, ``n_control_cell``,
    ``base_period`` (ATT(g,t) rows), ``n_cells``, ``reference``.
    """

    _fit: Any = field(default=None)

    # ------------------------------------------------------------------ views
    @property
    def att_gt(self) -> pd.DataFrame:
        """ATT(g,t) table: ``cohort``, ``time``, ``event_time``, ``estimate``, ``std_error``,
        ``ci_lower``, ``ci_upper`` (pointwise), ``p_value``, ``crit_value``, ``band_lower``,
        ``band_upper`` (simultaneous), ``base_period``, ``n_treated_cell``, ``n_control_cell``."""
        rows = self.table("att_gt")
        cols = ["cohort", "period", "event_time", "estimate", "std_error", "ci_lower", "ci_upper", "p_value",
                "crit_value", "band_lower", "band_upper", "base_period", "n_treated_cell", "n_control_cell"]
        out = rows[cols].rename(columns={"period": "time"}).reset_index(drop=True)
        for col in ("cohort", "time", "base_period"):
            out[col] = _restore_time(out[col], self.time_dtype)
        return out

    @property
    def pretest(self) -> PreTest:
        """The Wald pre-test of parallel trends (see :class:`PreTest`)."""
        return self._fit.pretest

    def aggregate(
        self,
        kind: str = "group",
        *,
        min_e: float = -np.inf,
        max_e: float = np.inf,
        balance_e: int | None = None,
        na_rm: bool = False,
    ) -> AggregatedEffects:
        """Aggregate the ATT(g,t) like ``did::aggte``.

        Parameters
        ----------
        kind : {"simple", "dynamic", "group", "calendar"}
            ``"dynamic"`` is the event study (``"event_study"`` is accepted too).
        min_e, max_e : float
            Event-time window of the event study; ``max_e`` also caps the post-treatment cells used by
            ``"simple"`` and ``"group"`` (as in ``aggte``).
        balance_e : int, optional
            Event study balanced in event time: only cohorts observed for at least ``balance_e``
            periods after treatment, and event times ``balance_e - (T_last - T_first) .. balance_e``.
        na_rm : bool
            Drop ATT(g,t) cells that could not be estimated (``aggte(na.rm=TRUE)``); otherwise their
            presence raises an error.

        Returns
        -------
        AggregatedEffects
        """
        kind = _check_kind(kind)
        fit = self._fit
        if not na_rm and not fit.valid.all():
            raise ValueError(
                f"{int((~fit.valid).sum())} ATT(g,t) cell(s) could not be estimated (missing); pass na_rm=True to "
                "aggregate the others (did's aggte(na.rm=TRUE))"
            )
        family = _aggregate(fit, kind, min_e=min_e, max_e=max_e, balance_e=balance_e)
        inf = _infer(fit, [family])[0]
        return _aggregated_effects(fit, family, inf, dict(min_e=min_e, max_e=max_e, balance_e=balance_e, na_rm=na_rm))

    def event_study_vcov(self, min_e: float = -np.inf, max_e: float = np.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""Event-study estimates with the analytic covariance matrix of all of them (e.g. for HonestDiD).

        The covariance is :math:`n^{-2}\sum_c S_c S_c'` over clusters of the event times' influence
        functions (the cohort-share weighted ATT(g,t) influence functions plus ``did``'s term for the
        estimated weights), whose diagonal gives the analytic standard errors of ``aggregate("dynamic")``.

        Parameters
        ----------
        min_e, max_e : float
            Event-time window, as in :meth:`aggregate`.

        Returns
        -------
        event_times, estimates : ndarray
            The estimated event times in the window (a universal base period's reference event time is
            left out: it is 0 by construction) and their estimates.
        covariance : ndarray
            Their covariance matrix (event times x event times).
        """
        fit = self._fit
        if not fit.valid.all():
            raise ValueError(f"{int((~fit.valid).sum())} ATT(g,t) cell(s) could not be estimated: the event-study "
                             "covariance needs every cell")
        family = _aggregate(fit, "dynamic", min_e=min_e, max_e=max_e)
        keep = ~family.reference
        prep = fit.rep.prepare(family.W[:, keep], family.C[:, keep])
        return family.label[keep].astype(int), family.att[keep], fit.rep.cov(prep) / fit.n ** 2

    def plot(self, band: bool = False, **kwargs: Any) -> Figure:
        """Event-study figure (shared figure code). ``band=True`` draws the simultaneous band instead of
        the pointwise intervals."""
        if not band:
            return super().plot(**kwargs)
        from csceval.report.figures import event_study_figure

        es = self.table("event_study").copy()
        if es["band_lower"].isna().all():
            raise ValueError("no simultaneous bands: they need the bootstrap (bootstrap=True)")
        es["ci_lower"], es["ci_upper"] = es["band_lower"], es["band_upper"]
        return event_study_figure(
            {self.display_name: es},
            title=kwargs.pop("title", f"{self.display_name}: {self.outcome} (simultaneous band)"),
            ylabel=kwargs.pop("ylabel", self.outcome),
            ci_level=self.confidence_level,
            **kwargs,
        )


def _restore_time(values: pd.Series, time_dtype: str | None) -> pd.Series:
    dtype = pd.api.types.pandas_dtype(time_dtype) if time_dtype else None
    if dtype is not None and pd.api.types.is_datetime64_any_dtype(dtype):
        return pd.to_datetime(values)
    if dtype is not None and pd.api.types.is_integer_dtype(dtype):
        return values.astype("Int64")
    return values


# =============================================================================================
# Internal fit containers
# =============================================================================================
@dataclass(frozen=True, eq=False)
class _GroupRep:
    r"""Influence functions without covariates, by cohort group (units sorted by group).

    For unit *i* in group *k* (never treated, or a cohort) the influence function of cell *c* is
    :math:`\psi_{ic} = \alpha_{kc}(\tilde Y_{i t_c} - \tilde Y_{i b_c}) + \tilde\beta_{kc}` with
    :math:`\tilde Y` the outcome centred within the group, i.e. :math:`\psi_{i\cdot} = \tilde Y_i' D_k +
    \tilde\beta_k` with a sparse (T x K) map :math:`D_k`. For any linear combination
    :math:`\Psi = \psi W + C_{k(i)}` the sum of squares is
    :math:`\sum_k \operatorname{diag}(A_k' M_k A_k) + n_k B_k^2` (:math:`A_k = D_k W`,
    :math:`B_k = \tilde\beta_k W + C_k`, :math:`M_k = \sum_{i \in k}\tilde Y_i\tilde Y_i'`) and a bootstrap
    draw is :math:`\sum_k (V_k'\tilde Y_k) A_k + (V_k'1) B_k`: nothing of size n x K is formed.
    """

    bounds: np.ndarray   # unit slice [bounds[k], bounds[k+1]) of group k
    n_k: np.ndarray
    Yc: np.ndarray       # n x T, centred within group
    M2: np.ndarray       # groups x T x T, centred second moments
    a: np.ndarray        # groups x K (alpha; 0 for invalid / reference cells)
    bt: np.ndarray       # groups x K (beta tilde)
    t: np.ndarray
    b: np.ndarray

    def _dflat(self) -> sparse.csr_array:
        """The (groups*T x K) map of the centred outcomes to the ATT(g,t): a_kc at (k, t_c), -a_kc at (k, b_c)."""
        G, K = self.a.shape
        T = self.Yc.shape[1]
        k, c = _nonzero(self.a)
        rows = np.concatenate([k * T + self.t[c], k * T + self.b[c]])
        cols = np.concatenate([c, c])
        vals = np.concatenate([self.a[k, c], -self.a[k, c]])
        # sorted into CSR order directly (no scipy conversion); a repeated (row, column) pair would be summed by the products
        order = np.argsort(rows * K + cols, kind="stable")
        indptr = np.zeros(G * T + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=G * T), out=indptr[1:])
        return sparse.csr_array((vals[order], cols[order].astype(np.int32), indptr), shape=(G * T, K))

    def prepare(self, W: np.ndarray, C: np.ndarray) -> tuple:
        """For the M combinations ``psi W + C``: per group its loadings on the centred outcomes and its constant,
        stacked as one (groups x (T+1) x M) array [D_k ; B_k] (dense: the sparse map times a dense W costs
        two multiply-adds per ATT(g,t) per combination)."""
        G, T = len(self.n_k), self.Yc.shape[1]
        DB = np.empty((G, T + 1, W.shape[1]))
        DB[:, :T, :] = (self._dflat() @ W).reshape(G, T, -1)
        DB[:, T, :] = self.bt @ W + C
        return (DB,)

    def prepare_boot(self, prep: tuple) -> tuple:
        """The maps of :meth:`boot`: per group its centred outcomes, transposed, with a row of ones appended
        (T+1 x n_k), and one sparse M x groups*(T+1) map [D' | B'] interleaved the same way."""
        DB = prep[0]
        YT1 = [np.vstack([self.Yc[lo:hi].T, np.ones((1, hi - lo))]) for lo, hi in zip(self.bounds[:-1], self.bounds[1:])]
        return _compressed_rows(DB.reshape(-1, DB.shape[2]).T), YT1

    def ss(self, prep: tuple) -> np.ndarray:
        DB = prep[0]
        out = np.zeros(DB.shape[2])
        for k in range(len(self.n_k)):
            Dk = DB[k]
            used = np.flatnonzero((Dk != 0).any(axis=0))   # a cohort's group loads only on its own cells
            A, B = Dk[:-1, used], Dk[-1, used]
            out[used] += np.sum(A * (self.M2[k] @ A), axis=0) + self.n_k[k] * B ** 2
        return out

    def cov(self, prep: tuple) -> np.ndarray:
        """Sum over units of Psi_i Psi_i' for the M prepared combinations (M x M; ``ss`` is its diagonal)."""
        DB = prep[0]
        out = np.zeros((DB.shape[2], DB.shape[2]))
        for k in range(len(self.n_k)):
            A, B = DB[k, :-1], DB[k, -1]
            out += A.T @ (self.M2[k] @ A) + self.n_k[k] * np.outer(B, B)
        return out

    def cov_gt(self, cols: np.ndarray) -> np.ndarray:
        """Sum over units of psi_i psi_i' for the ATT(g,t) cells ``cols``: per group, A' M A + n B B' with
        A = a (e_t - e_b) (T x cells, the group's loadings on its centred outcomes) and B its beta tilde."""
        out = np.zeros((len(cols), len(cols)))
        T = self.Yc.shape[1]
        t, b = self.t[cols], self.b[cols]
        for k in range(len(self.n_k)):
            ak = self.a[k, cols]
            nz = np.flatnonzero(ak)
            if len(nz) == 0:
                continue
            A = np.zeros((T, len(nz)))
            j = np.arange(len(nz))
            A[t[nz], j] = ak[nz]
            A[b[nz], j] -= ak[nz]
            bt = self.bt[k, cols][nz]
            block = A.T @ (self.M2[k] @ A) + self.n_k[k] * np.outer(bt, bt)
            if len(nz) == len(cols):   # a comparison group loads on every cell: no scatter needed
                out += block
            else:
                out[np.ix_(nz, nz)] += block
        return out

    def boot(self, V: np.ndarray, boot_prep: tuple) -> np.ndarray:
        """sum_i V_i Psi_i for a chunk of Rademacher draws V (draws x units) -> M x draws.

        Per group one product (Y~_k' ; 1') V_k' gives the draws' weighted outcome sums and weight sums;
        the sparse [D' | B'] maps them to all M estimates at once, each row contiguous for the quantiles.
        """
        DB, YT1 = boot_prep
        T1 = YT1[0].shape[0]
        P = np.empty((len(YT1) * T1, V.shape[0]))
        for k, Y in enumerate(YT1):
            np.matmul(Y, V[:, self.bounds[k]:self.bounds[k + 1]].T, out=P[k * T1:(k + 1) * T1])
        return DB @ P

    def draw_flops(self, boot_prep: tuple) -> int:
        """Floating-point operations of :meth:`boot` per draw."""
        DB, YT1 = boot_prep
        return 2 * (int(self.n_k.sum()) * YT1[0].shape[0] + DB.nnz)


@dataclass(frozen=True, eq=False)
class _DenseRep:
    """Influence functions as an explicit matrix, summed within clusters (covariates, or clusters)."""

    S: np.ndarray        # clusters x K (cluster sums of psi; 0 in invalid columns)
    E: np.ndarray        # clusters x groups (units of each group in each cluster)

    def prepare(self, W: np.ndarray, C: np.ndarray) -> tuple:
        # W is sparse in practice (each aggregate loads on few ATT(g,t)): with many clusters a sparse product
        # is far cheaper than a dense one
        Wc = _compressed_columns(W)
        return (np.ascontiguousarray((Wc.T @ self.S.T).T + self.E @ C),)

    def ss(self, prep: tuple) -> np.ndarray:
        return np.sum(prep[0] ** 2, axis=0)

    def cov(self, prep: tuple) -> np.ndarray:
        return prep[0].T @ prep[0]

    def cov_gt(self, cols: np.ndarray) -> np.ndarray:
        Sc = self.S[:, cols]
        return Sc.T @ Sc

    def prepare_boot(self, prep: tuple) -> tuple:
        return (np.ascontiguousarray(prep[0].T),)

    def boot(self, V: np.ndarray, boot_prep: tuple) -> np.ndarray:
        """Bootstrap draws of all M estimates for a chunk of draws V (draws x clusters) -> M x draws."""
        return boot_prep[0] @ V.T

    def draw_flops(self, boot_prep: tuple) -> int:
        """Floating-point operations of :meth:`boot` per draw."""
        return 2 * boot_prep[0].size


@dataclass(frozen=True, eq=False)
class _Fit:
    times: pd.Index            # periods used (position = period index)
    n: int                     # units
    unit_cohort: np.ndarray    # period index of each unit's cohort; +inf for never treated
    group_keys: np.ndarray     # cohort key of each group (sorted; +inf = never treated)
    unit_group: np.ndarray     # group index of each unit
    n_clusters: int
    glist: np.ndarray          # cohorts (period index) with ATT(g,t) estimated
    cell_g: np.ndarray
    cell_t: np.ndarray
    cell_b: np.ndarray
    cell_group: np.ndarray     # group index of each cell's cohort
    att: np.ndarray            # NaN where the cell could not be estimated
    rep: Any                   # _GroupRep or _DenseRep
    valid: np.ndarray
    is_reference: np.ndarray   # universal base period: the normalised t = b cell
    n_treated_cell: np.ndarray
    n_control_cell: np.ndarray
    alpha: float
    bootstrap: bool
    n_boot: int
    seed: int | None
    inference: str
    uniform_bands: bool = True  # did: no simultaneous band with two periods (cband <- FALSE)
    pretest: PreTest | None = None


@dataclass(frozen=True, eq=False)
class _Family:
    """One aggregation as linear maps of the ATT(g,t): columns W (K x m) plus did's estimated-weights term C."""

    kind: str                  # att_gt / dynamic / group / calendar / simple
    label: np.ndarray          # event time, cohort index or period index (NaN for simple)
    att: np.ndarray
    W: np.ndarray | None       # K x m weights on ATT(g,t) (None: identity, the att_gt family)
    C: np.ndarray | None       # groups x m: wif term, added to the IF of every unit of group k
    n_cells: np.ndarray
    reference: np.ndarray
    overall_att: float
    w_overall: np.ndarray | None
    c_overall: np.ndarray | None
    uniform: bool              # compute a sup-t band over the columns
    floor_crit: bool           # aggte: crit < z -> z


@dataclass(frozen=True, eq=False)
class _Inference:
    se: np.ndarray
    crit: float
    overall_se: float


# =============================================================================================
# 2x2 estimators (DRDID, panel data, unit weights)
# =============================================================================================
def _logit(X: np.ndarray, D: np.ndarray, maxit: int = 100) -> tuple[np.ndarray, bool]:
    """Logit MLE by Newton-Raphson (the fitted probabilities of R's glm / fastglm at convergence)."""
    k = X.shape[1]
    beta = np.zeros(k)
    p0 = min(max(D.mean(), 1e-6), 1 - 1e-6)
    if np.allclose(X[:, 0], 1.0):
        beta[0] = math.log(p0 / (1 - p0))
    converged = False
    dev_old = np.inf
    for _ in range(maxit):
        eta = X @ beta
        p = special.expit(eta)
        w = p * (1 - p)
        grad = X.T @ (D - p)
        hess = X.T @ (X * w[:, None])
        try:
            step = linalg.solve(hess, grad, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            break
        beta = beta + step
        dev = -2 * np.sum(D * np.log(np.clip(special.expit(X @ beta), 1e-300, None))
                          + (1 - D) * np.log(np.clip(special.expit(-(X @ beta)), 1e-300, None)))
        if np.max(np.abs(step)) < 1e-11 * (1 + np.max(np.abs(beta))) or abs(dev - dev_old) < 1e-14 * (abs(dev) + 0.1):
            converged = True
            break
        dev_old = dev
    return special.expit(X @ beta), converged


def _ols_ctrl(X: np.ndarray, dY: np.ndarray, D: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Outcome regression on the comparison units; None when its design is singular (did's rcond check)."""
    ctrl = D == 0
    Xc = X[ctrl]
    xtx = Xc.T @ Xc
    if xtx.size == 0 or 1.0 / np.linalg.cond(xtx, 1) < _EPS:
        return None
    beta = linalg.solve(xtx, Xc.T @ dY[ctrl], assume_a="pos")
    return beta, X @ beta


def _ps_if_terms(X: np.ndarray, D: np.ndarray, ps: np.ndarray) -> np.ndarray:
    """Asymptotic linear representation of the logit coefficients (n1 x k)."""
    n1 = len(D)
    W = ps * (1 - ps)
    hess_inv = linalg.inv(X.T @ (X * W[:, None])) * n1
    return ((D - ps)[:, None] * X) @ hess_inv


def _ols_if_terms(X: np.ndarray, D: np.ndarray, resid: np.ndarray) -> np.ndarray:
    """Asymptotic linear representation of the comparison-group OLS coefficients (n1 x k)."""
    n1 = len(D)
    w = 1.0 - D
    xpx = (X * w[:, None]).T @ X / n1
    return ((w * resid)[:, None] * X) @ linalg.inv(xpx)


def _att_reg(dY: np.ndarray, D: np.ndarray, X: np.ndarray) -> tuple[float, np.ndarray] | str:
    ols = _ols_ctrl(X, dY, D)
    if ols is None:
        return "the comparison units' regression design is singular"
    _, out = ols
    w_t = D
    w_c = D
    eta_t = np.mean(w_t * dY) / np.mean(w_t)
    eta_c = np.mean(w_c * out) / np.mean(w_c)
    alr = _ols_if_terms(X, D, dY - out)
    inf_t = (w_t * dY - w_t * eta_t) / np.mean(w_t)
    inf_c = (w_c * out - w_c * eta_c + alr @ np.mean(w_c[:, None] * X, axis=0)) / np.mean(w_c)
    return eta_t - eta_c, inf_t - inf_c


def _att_ipw(dY: np.ndarray, D: np.ndarray, X: np.ndarray) -> tuple[float, np.ndarray] | str:
    ps, _ = _logit(X, D)
    if ps.max() >= _OVERLAP_MAX:
        return "overlap fails (a propensity score >= 0.999)"
    ps = np.minimum(ps, _PS_CAP)
    trim = np.where(D == 1, 1.0, (ps < _TRIM_LEVEL).astype(float))
    w_t = trim * D
    w_c = trim * ps * (1 - D) / (1 - ps)
    if np.mean(w_c) <= 0:
        return "all comparison units are trimmed (propensity scores >= 0.995)"
    eta_t = np.mean(w_t * dY) / np.mean(w_t)
    eta_c = np.mean(w_c * dY) / np.mean(w_c)
    alr_ps = _ps_if_terms(X, D, ps)
    inf_t = (w_t * dY - w_t * eta_t) / np.mean(w_t)
    m2 = np.mean((w_c * (dY - eta_c))[:, None] * X, axis=0)
    inf_c = (w_c * dY - w_c * eta_c + alr_ps @ m2) / np.mean(w_c)
    return eta_t - eta_c, inf_t - inf_c


def _att_dr(dY: np.ndarray, D: np.ndarray, X: np.ndarray) -> tuple[float, np.ndarray] | str:
    ps, _ = _logit(X, D)
    if ps.max() >= _OVERLAP_MAX:
        return "overlap fails (a propensity score >= 0.999)"
    ols = _ols_ctrl(X, dY, D)
    if ols is None:
        return "the comparison units' regression design is singular"
    _, out = ols
    ps = np.minimum(ps, _PS_CAP)
    trim = np.where(D == 1, 1.0, (ps < _TRIM_LEVEL).astype(float))
    w_t = D
    w_c = trim * ps * (1 - D) / (1 - ps)
    if np.mean(w_c) <= 0:
        return "all comparison units are trimmed (propensity scores >= 0.995)"
    r = dY - out
    eta_t = np.mean(w_t * r) / np.mean(w_t)
    eta_c = np.mean(w_c * r) / np.mean(w_c)
    alr_ols = _ols_if_terms(X, D, r)
    alr_ps = _ps_if_terms(X, D, ps)
    inf_t = (w_t * r - w_t * eta_t - alr_ols @ np.mean(w_t[:, None] * X, axis=0)) / np.mean(w_t)
    m2 = np.mean((w_c * (r - eta_c))[:, None] * X, axis=0)
    m3 = np.mean(w_c[:, None] * X, axis=0)
    inf_c = (w_c * r - w_c * eta_c + alr_ps @ m2 - alr_ols @ m3) / np.mean(w_c)
    return eta_t - eta_c, inf_t - inf_c


_ESTIMATORS = {"dr": _att_dr, "ipw": _att_ipw, "reg": _att_reg}


# =============================================================================================
# Input handling
# =============================================================================================
def _check_kind(kind: str) -> str:
    k = _KIND_ALIASES.get(kind, kind)
    if k not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS} (or 'event_study'), got {kind!r}")
    return k


def _check_args(control_group, method, base_period, anticipation, n_boot, alpha, bootstrap, seed):
    cg = _CONTROL_GROUPS.get(str(control_group))
    if cg is None:
        raise ValueError(f"control_group must be 'never_treated' or 'not_yet_treated', got {control_group!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS} ('dr' doubly robust, 'ipw', 'reg'), got {method!r}")
    if base_period not in ("varying", "universal"):
        raise ValueError(f"base_period must be 'varying' or 'universal', got {base_period!r}")
    if isinstance(anticipation, bool) or not isinstance(anticipation, (int, np.integer)) or anticipation < 0:
        raise ValueError(f"anticipation must be a non-negative integer number of periods, got {anticipation!r}")
    if bootstrap and (isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2):
        raise ValueError(f"n_boot must be an integer >= 2 when bootstrap=True, got {n_boot!r}")
    if not isinstance(alpha, (float, int)) or isinstance(alpha, bool) or not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"seed must be an integer or None, got {seed!r}")
    return cg


def _cluster_codes(df: pd.DataFrame, unit: str, clustervars, units: np.ndarray) -> tuple[np.ndarray, str]:
    """Cluster of each unit (units are their own clusters unless another variable is given)."""
    if clustervars is None:
        return np.arange(len(units)), unit
    cv = [clustervars] if isinstance(clustervars, str) else list(clustervars)
    cv = [c for c in cv if c != unit]
    if not cv:
        return np.arange(len(units)), unit
    if len(cv) > 1:
        raise ValueError(f"at most one cluster variable besides the unit ({unit!r}) is supported, got {clustervars!r}")
    c = cv[0]
    if c not in df.columns:
        raise ValueError(f"cluster variable {c!r} is not a column of the data")
    per_unit = df.groupby(unit, sort=False)[c].nunique(dropna=False)
    if (per_unit > 1).any():
        raise ValueError(f"cluster variable {c!r} varies within unit(s) {list(per_unit[per_unit > 1].index[:5])}; "
                         "it must be constant within each unit")
    first = df.groupby(unit, sort=False)[c].first()
    values = first.reindex(units)
    if values.isna().any():
        raise ValueError(f"cluster variable {c!r} is missing for some units")
    codes, _ = pd.factorize(values, sort=True)
    return codes.astype(int), c


def _collinear_columns(X: np.ndarray, names: Sequence[str]) -> list[str]:
    """Covariates that are (numerically) linear combinations of the intercept and earlier covariates."""
    bad = []
    cols = [np.ones(len(X))]
    for j, name in enumerate(names):
        trial = np.column_stack(cols + [X[:, j]])
        if np.linalg.matrix_rank(trial, tol=None) < trial.shape[1]:
            bad.append(name)
        else:
            cols.append(X[:, j])
    return bad


# =============================================================================================
# Main estimator
# =============================================================================================
@single_threaded_blas
def callaway_santanna(
    df: pd.DataFrame,
    outcome: str,
    unit: str = "la_code",
    time: str = "period",
    cohort: str = "first_treated",
    control_group: str = "not_yet_treated",
    covariates: Sequence[str] | None = None,
    method: str = "dr",
    base_period: str = "varying",
    anticipation: int = 0,
    n_boot: int = 999,
    seed: int | None = 1,
    alpha: float = 0.05,
    bootstrap: bool = True,
    clustervars: str | Sequence[str] | None = None,
    allow_unbalanced_panel: bool = False,
) -> CallawaySantAnnaResult:
    r"""Callaway & Sant'Anna (2021) group-time ATTs and their aggregations (R ``did``).

    Estimates every :math:`ATT(g,t)` by a 2x2 difference-in-differences of cohort :math:`g` against its
    comparison group between period :math:`t` and the base period :math:`b`,

    .. math::

        \widehat{ATT}(g,t) = \big(\bar Y_{g,t} - \bar Y_{g,b}\big)
            - \big(\bar Y_{C,t} - \bar Y_{C,b}\big) \quad \text{(no covariates)},

    with :math:`b = g - \delta - 1` for :math:`t \ge g - \delta` (:math:`\delta` = ``anticipation``)
    and, before that, :math:`b = t-1` (``base_period="varying"``) or :math:`b = g-\delta-1`
    (``"universal"``); with covariates by the ``DRDID`` estimator chosen in ``method``. It then
    aggregates them into an event study, cohort effects, calendar-period effects and overall effects
    (``did::aggte``), with influence-function standard errors or the multiplier bootstrap, simultaneous
    bands and the Wald pre-test. See the module docstring for all formulas.

    Parameters
    ----------
    df : DataFrame
        Long panel, one row per unit x period.
    outcome : str
        Numeric outcome column (NaN = missing cell).
    unit, time, cohort : str
        Unit identifier, period (Timestamps or integers) and first treated period (in the units of
        ``time``; 0, NaN or NaT = never treated), as in ``csceval.did.twfe``.
    control_group : {"not_yet_treated", "never_treated"}
        Comparison units: never-treated units only, or never-treated plus not-yet-treated units
        (``did``'s ``"nevertreated"`` / ``"notyettreated"`` are accepted too).
    covariates : sequence of str, optional
        Pre-treatment covariates (numeric). Taken, for each 2x2 comparison, in the earlier of its two
        periods (``did``'s panel behaviour; for time-invariant covariates this is immaterial).
    method : {"dr", "ipw", "reg"}
        2x2 estimator with covariates: doubly robust (``drdid_panel``), normalised IPW
        (``std_ipw_did_panel``) or outcome regression (``reg_did_panel``). Without covariates all three
        are the unconditional DiD.
    base_period : {"varying", "universal"}
        Base period of pre-treatment cells (post-treatment cells are identical either way).
    anticipation : int
        Number of periods before the first treated period in which units may anticipate treatment.
    n_boot : int
        Multiplier-bootstrap draws (``did``'s ``biters``).
    seed : int or None
        Seed of ``numpy.random.default_rng`` for the bootstrap draws.
    alpha : float
        Intervals and bands have level :math:`1-\alpha`.
    bootstrap : bool
        ``True`` (default, as ``did``): bootstrap standard errors and simultaneous bands. ``False``:
        analytic influence-function standard errors (``did``'s ``bstrap=FALSE``), no bands.
    clustervars : str or sequence of str, optional
        Cluster variable (constant within unit). Standard errors are always clustered at least at the
        unit level; one other variable may be given (``did`` allows the unit plus one more).
    allow_unbalanced_panel : bool
        Only ``False`` (``did``'s default) is implemented: units not observed in every period used are
        dropped. ``True`` raises ``NotImplementedError``.

    Returns
    -------
    CallawaySantAnnaResult
        ``estimator="callaway_santanna"``; ``estimates`` holds the ATT(g,t), event-study, cohort,
        calendar and overall rows (tidy contract); ``overall`` is the cohort-share weighted average of
        the cohort effects (``aggte(type="group")``). ``att_gt`` (table), ``aggregate(kind, ...)`` and
        ``pretest`` give ``did``'s other outputs. ``metadata`` records the settings, dropped units and
        periods, the cells that could not be estimated and ``overall_by_aggregation`` (the overall
        effect of each of the four aggregations).

    Raises
    ------
    ValueError
        For invalid arguments or data (see ``prepare_panel``), no never-treated units with
        ``control_group="never_treated"``, no cohort with a pre-treatment period, collinear covariates,
        a period with no observed outcome, or no unit observed in every period.
    NotImplementedError
        For ``allow_unbalanced_panel=True``.

    Warns
    -----
    UserWarning
        When units are dropped (unbalanced panel, treated in the first period), for small cohorts, for
        cells that cannot be estimated and for a uniform critical value above 7.

    Notes
    -----
    Matches ``did::att_gt(..., est_method=method, bstrap=bootstrap, biters=n_boot, cband=TRUE)`` and
    ``did::aggte``: see ``tests/reference/callaway_santanna/`` for the published outputs it reproduces.
    """
    cg = _check_args(control_group, method, base_period, anticipation, n_boot, alpha, bootstrap, seed)
    if allow_unbalanced_panel:
        raise NotImplementedError(
            "allow_unbalanced_panel=True (did's repeated-cross-section path for unbalanced panels) is not implemented; "
            "with the default False, units not observed in every period are dropped (did's default)"
        )
    alpha = float(alpha)
    anticipation = int(anticipation)
    panel = prepare_panel(df, outcome, unit, time, cohort, covariates)
    notes = list(panel.notes)
    meta: dict[str, Any] = {}
    design = _design(df, panel, cg, anticipation, unit, notes, meta)
    cluster, cluster_name = _cluster_codes(df, unit, clustervars, design["units"])
    n_clusters = int(cluster.max()) + 1 if len(cluster) else 0
    unit_clusters = cluster_name == unit

    cells = _cells(design, base_period, anticipation, cg)
    est = _estimate_cells(design, cells, method, cluster if not unit_clusters else None, n_clusters)
    valid, why = est["valid"], est["why"]
    bad = np.flatnonzero(~valid & ~cells["reference"])
    times = design["times"]
    if len(bad):
        lines = [f"ATT({_show(times[cells['g'][k]])}, {_show(times[cells['t'][k]])}): {why[k]}" for k in bad[:10]]
        msg = (f"{len(bad)} ATT(g,t) cell(s) could not be estimated and are reported as missing "
               f"(aggregations drop them, did's na.rm=TRUE): " + "; ".join(lines))
        warn_caller(msg)
        notes.append(msg)

    boot_txt = (f"multiplier bootstrap ({n_boot} draws, Rademacher weights)" if bootstrap
                else "analytic influence-function standard errors")
    clus_txt = f"clustered by {unit}" if unit_clusters else f"clustered by {cluster_name} ({n_clusters} clusters)"
    inference = (f"{boot_txt}, {clus_txt}; SE = {'bootstrap IQR / (z75 - z25)' if bootstrap else 'influence function'}; "
                 f"pointwise normal CIs" + ("; simultaneous (sup-t) bands in band_lower/band_upper" if bootstrap else ""))
    fit = _Fit(
        times=times, n=design["n"], unit_cohort=design["unit_cohort"], group_keys=design["group_keys"],
        unit_group=design["unit_group"], n_clusters=n_clusters, glist=design["glist"], cell_g=cells["g"],
        cell_t=cells["t"], cell_b=cells["b"], cell_group=np.searchsorted(design["group_keys"], cells["g"]),
        att=est["att"], rep=est["rep"], valid=valid, is_reference=cells["reference"], n_treated_cell=est["n_tr"],
        n_control_cell=est["n_co"], alpha=alpha, bootstrap=bool(bootstrap), n_boot=int(n_boot),
        seed=None if seed is None else int(seed), inference=inference, uniform_bands=len(times) > 2,
    )
    pretest = _pretest(fit)
    object.__setattr__(fit, "pretest", pretest)

    # --- all families in one inference pass (one set of bootstrap draws)
    families = [_att_gt_family(fit)] + [_aggregate(fit, k) for k in ("dynamic", "group", "calendar", "simple")]
    infs = _infer(fit, families)
    crit_gt = infs[0].crit
    if bootstrap and np.isfinite(crit_gt) and crit_gt >= 7:
        warn_caller(f"the uniform critical value for the ATT(g,t) is {crit_gt:.2f} (>= 7): too large to be reliable, "
                    "usually because groups are small")
    overalls = {f.kind: _overall_estimate(fit, f, i) for f, i in zip(families[1:], infs[1:])}
    overall = overalls["group"]
    overall_row = {
        "aggregation": "overall", "cohort": None, "period": None, "event_time": np.nan,
        "estimate": overall.estimate, "std_error": _nan(overall.std_error), "ci_lower": _nan(overall.ci_lower),
        "ci_upper": _nan(overall.ci_upper), "p_value": _nan(overall.p_value), "crit_value": np.nan,
        "band_lower": np.nan, "band_upper": np.nan, "n_cells": float(families[2].n_cells.sum()), "reference": False,
        "base_period": None, "n_treated_cell": np.nan, "n_control_cell": np.nan,
        "inference": f"{inference}; overall = cohort-share weighted average of the cohort effects (aggte type='group')",
    }
    estimates = _estimates_frame(fit, families[:4], infs[:4], overall_row)

    if pretest.p_value is not None:
        notes.append(f"P-value for pre-test of parallel trends assumption: {pretest.p_value:.5f} "
                     f"(Wald, chi2({pretest.df}), analytic covariance)")
    elif pretest.note:
        notes.append(f"pre-test of parallel trends not computed: {pretest.note}")
    notes.append("overall = cohort-share weighted average of the cohort (group) effects (did aggte type='group'); "
                 "aggregate('simple'|'dynamic'|'calendar') give the others")
    notes.append(f"control group: {cg.replace('_', ' ')}; base period: {base_period}; anticipation: {anticipation}; "
                 f"estimation method: {_METHOD_NAMES[method] if panel.covariates else 'unconditional DiD (no covariates)'}")
    meta.update({
        "control_group": cg, "method": method, "base_period": base_period, "anticipation": anticipation,
        "covariates": tuple(panel.covariates), "bootstrap": bool(bootstrap), "n_boot": int(n_boot) if bootstrap else 0,
        "seed": seed, "alpha": alpha, "cluster": cluster_name, "n_clusters": n_clusters,
        "periods_used": tuple(times), "cohorts_estimated": tuple(times[g] for g in design["glist"]),
        "pretest": {"statistic": pretest.statistic, "df": pretest.df, "p_value": pretest.p_value,
                    "covariance": pretest.covariance, "note": pretest.note},
        "crit_values": {f.kind: i.crit for f, i in zip(families, infs)},
        "overall_by_aggregation": {k: o.as_dict() for k, o in overalls.items()},
        "overall_definition": "cohort-share weighted average of the cohort effects (did aggte(type='group') overall ATT)",
        "event_time_unit": "observed periods",
        "cells_not_estimated": tuple((times[cells["g"][k]], times[cells["t"][k]], why[k]) for k in bad),
        "notes": tuple(notes),
    })
    n_units_used = design["n"]
    return CallawaySantAnnaResult(
        estimator="callaway_santanna",
        outcome=outcome,
        estimates=estimates,
        overall=overall,
        inference=inference,
        n_treated=int(est["treated_any"].sum()),
        n_control=int(est["control_any"].sum()),
        n_obs=int(n_units_used * len(times)),
        n_dropped_missing=int(design["n_dropped_missing"]),
        alpha=alpha,
        n_units=n_units_used,
        label="Callaway & Sant'Anna",
        time_dtype=panel.time_dtype,
        metadata=meta,
        _fit=fit,
    )


def _nan(v: float | None) -> float:
    return np.nan if v is None else float(v)


# =============================================================================================
# Design: balanced panel, cohorts, dropped units and periods (did's pre_process_did)
# =============================================================================================
def _design(df: pd.DataFrame, panel: PreparedPanel, cg: str, anticipation: int, unit: str,
            notes: list[str], meta: dict) -> dict:
    data = panel.columns
    times_all = panel.times
    T_all = len(times_all)
    t_obs = data[_T]
    empty = np.flatnonzero(np.bincount(t_obs, minlength=T_all) == 0).tolist()
    if empty:
        raise ValueError(
            f"period(s) {[_show(times_all[t]) for t in empty]} have no unit with a non-missing {panel.outcome!r} "
            f"(and covariates): drop them from the input (they would drop every unit from the balanced panel)"
        )
    ucode = panel.unit_codes
    units = panel.unit_values
    key = np.empty(len(units))
    key[ucode] = data[_G]
    key = np.where(np.isnan(key), np.inf, key)  # never treated (or treated after the window)
    order = np.argsort(key, kind="stable")      # units grouped by cohort (then by unit), never treated last
    key, units = key[order], units[order]
    rank = np.empty(len(order), dtype=np.intp)
    rank[order] = np.arange(len(order))

    # no never-treated units (did: error for nevertreated; drop late periods for notyettreated)
    T_use = T_all
    finite = key[np.isfinite(key)]
    last_cohort_comparison = False
    if not np.isinf(key).any():
        if cg == "never_treated":
            raise ValueError(
                "control_group='never_treated' but there are no never-treated units (cohort 0/missing or after the last "
                "period): use control_group='not_yet_treated', which then uses the last cohort as the comparison group"
            )
        gmax = int(finite.max())
        T_use = gmax - anticipation
        if T_use < 2:
            raise ValueError("no never-treated units, and fewer than two periods before the last cohort's start: "
                             "no comparison group is available")
        dropped_t = [_show(times_all[t]) for t in range(T_use, T_all)]
        msg = (f"no never-treated units: periods from {_show(times_all[T_use])} on ({len(dropped_t)} period(s)) are "
               f"dropped and the last cohort ({_show(times_all[gmax])}) serves only as a comparison group (did's rule)")
        warn_caller(msg)
        notes.append(msg)
        last_cohort_comparison = True
    times = times_all[:T_use]

    # cohorts with a pre-treatment period (did: glist > first period + anticipation)
    glist = np.unique(finite[(finite > anticipation) & (finite < T_use)]).astype(int)
    if last_cohort_comparison:
        glist = glist[glist < int(finite.max())]
    first_treated = np.isfinite(key) & (key <= 0)
    keep_unit = np.ones(len(units), dtype=bool)
    if first_treated.any():
        # did: drop units whose cohort is not estimated (treated in the first period, or within the anticipation
        # window of it); never-treated units stay
        keep_unit = np.isinf(key) | np.isin(key, glist) | (key >= T_use)
        n_drop = int((~keep_unit).sum())
        msg = (f"dropped {n_drop} unit(s) already treated in the first period {_show(times[0])} (or within the "
               f"anticipation window): they have no pre-treatment period (did's rule)")
        warn_caller(msg)
        notes.append(msg)
        meta["units_dropped_treated_first_period"] = tuple(units[~keep_unit])
    if len(glist) == 0:
        raise ValueError(
            "no cohort has a pre-treatment period to compare with: every treated unit is treated in the first period "
            f"(or within {anticipation} anticipation period(s) of it), or no unit is treated in the window"
        )

    # balanced panel: outcome (and covariates) in every period used
    # units x periods grids by one flat scatter (rows outside the window, if any, left out)
    window = slice(None) if T_use == T_all else t_obs < T_use
    flat = rank[ucode][window] * T_use + t_obs[window]

    def grid(values: np.ndarray) -> np.ndarray:
        out = np.full(len(units) * T_use, np.nan)
        out[flat] = values[window]
        return out.reshape(len(units), T_use)

    Y = grid(data[_Y])
    covs = list(panel.covariates)
    Xs = [grid(data[c]) for c in covs]
    complete = ~np.isnan(Y).any(axis=1)
    for M in Xs:
        complete &= ~np.isnan(M).any(axis=1)
    unbalanced = keep_unit & ~complete
    n_rows_unbalanced = 0
    if unbalanced.any():
        n_rows_unbalanced = int((~np.isnan(Y[unbalanced])).sum())
        ex = ", ".join(map(str, units[unbalanced][:5]))
        msg = (f"dropped {int(unbalanced.sum())} unit(s) not observed with a non-missing {panel.outcome!r}"
               f"{' and covariates' if covs else ''} in every period (balanced panel, did's allow_unbalanced_panel=FALSE; "
               f"{n_rows_unbalanced} further row(s) removed), e.g. {ex}")
        warn_caller(msg)
        notes.append(msg)
        meta["units_dropped_unbalanced"] = tuple(units[unbalanced])
    keep = keep_unit & complete
    if keep.sum() < 2:
        raise ValueError(f"fewer than two units are observed in every period with a non-missing {panel.outcome!r}: "
                         "the balanced panel is empty (did's allow_unbalanced_panel=TRUE path is not implemented)")
    units, key, Y = units[keep], key[keep], Y[keep]
    Xs = [M[keep] for M in Xs]
    # cohorts that lost all their units by balancing
    glist = np.array([g for g in glist if np.any(key == g)], dtype=int)
    if len(glist) == 0:
        raise ValueError("no treated cohort with a pre-treatment period is left after balancing the panel")
    if cg == "never_treated" and not np.isinf(key).any():
        raise ValueError("control_group='never_treated' but no never-treated unit is left after balancing the panel: "
                         "use control_group='not_yet_treated'")

    # collinear covariates (across units, in each period)
    if covs:
        for t in range(T_use):
            bad = _collinear_columns(np.column_stack([M[:, t] for M in Xs]), covs)
            if bad:
                raise ValueError(
                    f"covariate(s) {bad} are collinear with the intercept and/or the other covariates in period "
                    f"{_show(times[t])} (e.g. constant, or a linear combination of others): remove them"
                )

    # small groups (did: warn if a group has fewer than (number of covariates + 5) units)
    req = len(covs) + 5
    key_values, key_counts = np.unique(key, return_counts=True)
    sizes = {("never treated" if np.isinf(g) else _show(times_all[int(g)])): int(c) for g, c in zip(key_values, key_counts)}
    small = {k: v for k, v in sizes.items() if v < req}
    if small:
        if "never treated" in small and cg == "never_treated":
            raise ValueError(f"the never-treated group is too small ({small['never treated']} unit(s) < {req}): "
                             "try control_group='not_yet_treated'")
        msg = (f"small groups (fewer than {req} units): " + ", ".join(f"{k}: {v}" for k, v in small.items())
               + "; their ATT(g,t) and standard errors are imprecise and asymptotic inference is not credible")
        warn_caller(msg)
        notes.append(msg)
    meta["group_sizes"] = sizes
    group_keys, starts, counts = np.unique(key, return_index=True, return_counts=True)
    return {
        "units": units, "unit_cohort": key, "Y": Y, "X": Xs, "covariates": covs, "times": times, "glist": glist,
        "n": len(units), "n_dropped_missing": panel.n_dropped_missing + n_rows_unbalanced,
        "group_keys": group_keys, "group_bounds": np.r_[starts, len(units)], "group_n": counts,
        "unit_group": np.repeat(np.arange(len(group_keys)), counts),
    }


def _cells(design: dict, base_period: str, anticipation: int, cg: str) -> dict:
    """All (g, t, base) cells in did's order: cohorts, then periods."""
    T = len(design["times"])
    g_, t_, b_, ref = [], [], [], []
    t_range = range(0, T) if base_period == "universal" else range(1, T)
    for g in design["glist"]:
        b_post = g - anticipation - 1
        for t in t_range:
            if t >= g:
                b = b_post
            elif base_period == "universal":
                b = b_post
            else:
                b = t - 1
            g_.append(g)
            t_.append(t)
            b_.append(b)
            ref.append(base_period == "universal" and t == b)
    cells = {"g": np.array(g_, dtype=int), "t": np.array(t_, dtype=int), "b": np.array(b_, dtype=int),
             "reference": np.array(ref, dtype=bool)}
    cells["threshold"] = np.maximum(cells["t"], cells["b"]) + anticipation
    cells["never"] = cg == "never_treated"
    return cells


# Set to True (tests only) to force the explicit n x K influence-function path also without covariates.
_FORCE_DENSE = False


def _estimate_cells(design: dict, cells: dict, method: str, cluster: np.ndarray | None, n_clusters: int) -> dict:
    """ATT(g,t) and a representation of their influence functions (did's n/n1 scaling)."""
    K = len(cells["g"])
    out = {"att": np.full(K, np.nan), "valid": np.zeros(K, dtype=bool), "why": [""] * K,
           "n_tr": np.zeros(K, dtype=int), "n_co": np.zeros(K, dtype=int)}
    ref = cells["reference"]
    out["att"][ref] = 0.0  # universal base period: normalised cell
    if not design["covariates"] and cluster is None and not _FORCE_DENSE:
        _cells_by_group(design, cells, method, out)
    else:
        _cells_dense(design, cells, method, out, cluster, n_clusters)
    out["valid"] |= ref
    return out


def _flag_invalid(out: dict, idx: np.ndarray, ok: np.ndarray, nc: np.ndarray, share: np.ndarray) -> None:
    for j in np.flatnonzero(~ok):
        k = idx[j]
        if nc[j] == 0:
            out["why"][k] = "no comparison units"
        elif share[j] >= _OVERLAP_MAX:
            out["why"][k] = "overlap fails (a propensity score >= 0.999)"
        else:
            out["why"][k] = "all comparison units are trimmed (propensity scores >= 0.995)"


def _unconditional_ok(nt: np.ndarray, nc: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """did's checks for a 2x2 cell without covariates (the preliminary logit is the cohort share)."""
    share = np.where(nt + nc > 0, nt / np.maximum(nt + nc, 1), 1.0)
    ok = (nt > 0) & (nc > 0)
    if method in ("dr", "ipw"):
        ok &= share < _TRIM_LEVEL  # >= 0.999: overlap fails; >= 0.995: every comparison unit trimmed
    return ok, share


def _cells_by_group(design: dict, cells: dict, method: str, out: dict) -> None:
    """Unconditional DiD for all cells from cohort-group means (no n x K matrix)."""
    Y, n = design["Y"], design["n"]
    keys, bounds, n_k, ug = design["group_keys"], design["group_bounds"], design["group_n"], design["unit_group"]
    G = len(keys)
    ybar = np.add.reduceat(Y, bounds[:-1], axis=0) / n_k[:, None]
    Yc = Y - ybar[ug]
    # BLAS products (the estimator runs with one BLAS thread: see single_threaded_blas)
    M2 = np.stack([Yc[bounds[k]:bounds[k + 1]].T @ Yc[bounds[k]:bounds[k + 1]] for k in range(G)])
    todo = ~cells["reference"]
    g, t, b = cells["g"], cells["t"], cells["b"]
    K = len(g)
    cols = np.arange(K)
    tg = np.searchsorted(keys, g)
    if cells["never"]:
        ctrl = np.zeros((G, K), dtype=bool)
        ctrl[np.isinf(keys)] = True
    else:
        ctrl = keys[:, None] > cells["threshold"][None, :]
        ctrl[tg, cols] = False
    nt = n_k[tg]
    nc = n_k @ ctrl
    dbar = ybar[:, t] - ybar[:, b]                       # groups x K
    mu1 = dbar[tg, cols]
    mu0 = np.divide((n_k[:, None] * dbar * ctrl).sum(axis=0), nc, out=np.zeros(K), where=nc > 0)
    ok, share = _unconditional_ok(nt, nc, method)
    ok &= todo
    a = np.where(ctrl, -n / np.maximum(nc, 1)[None, :], 0.0)
    a[tg, cols] = n / nt
    m = np.where(ctrl, mu0[None, :], 0.0)
    m[tg, cols] = mu1
    bt = a * (dbar - m)
    a[:, ~ok] = 0.0
    bt[:, ~ok] = 0.0
    out["att"][ok] = (mu1 - mu0)[ok]
    out["valid"] |= ok
    out["n_tr"][todo], out["n_co"][todo] = nt[todo], nc[todo]
    out["n_tr"][cells["reference"]] = nt[cells["reference"]]
    _flag_invalid(out, np.flatnonzero(todo), ok[todo], nc[todo], share[todo])
    treated_groups = np.unique(tg[ok])
    control_groups = ctrl[:, ok].any(axis=1)
    out["treated_any"] = np.isin(ug, treated_groups)
    out["control_any"] = control_groups[ug]
    out["rep"] = _GroupRep(bounds=bounds, n_k=n_k.astype(float), Yc=Yc, M2=M2, a=a, bt=bt, t=t, b=b)


def _cells_dense(design: dict, cells: dict, method: str, out: dict, cluster: np.ndarray | None,
                 n_clusters: int) -> None:
    """Influence functions as an n x K matrix (covariates: DRDID per cell; or clustered)."""
    Y, key, n = design["Y"], design["unit_cohort"], design["n"]
    K = len(cells["g"])
    psi = np.zeros((n, K))
    treated_any = np.zeros(n, dtype=bool)
    control_any = np.zeros(n, dtype=bool)
    never = np.isinf(key)
    todo = np.flatnonzero(~cells["reference"])
    if not design["covariates"]:
        chunk = max(1, 2_000_000 // max(n, 1))
        for s in range(0, len(todo), chunk):
            idx = todo[s:s + chunk]
            g, t, b = cells["g"][idx], cells["t"][idx], cells["b"][idx]
            dY = Y[:, t] - Y[:, b]
            Tm = key[:, None] == g[None, :]
            if cells["never"]:
                Cm = np.broadcast_to(never[:, None], Tm.shape)
            else:
                Cm = (key[:, None] > cells["threshold"][idx][None, :]) & ~Tm
            nt = Tm.sum(axis=0)
            nc = Cm.sum(axis=0)
            ok, share = _unconditional_ok(nt, nc, method)
            ntc, ncc = np.maximum(nt, 1), np.maximum(nc, 1)
            mu1 = np.where(Tm, dY, 0.0).sum(axis=0) / ntc
            mu0 = np.where(Cm, dY, 0.0).sum(axis=0) / ncc
            block = n * (np.where(Tm, (dY - mu1) / ntc, 0.0) - np.where(Cm, (dY - mu0) / ncc, 0.0))
            out["att"][idx] = np.where(ok, mu1 - mu0, np.nan)
            psi[:, idx] = np.where(ok[None, :], block, 0.0)
            out["valid"][idx] = ok
            out["n_tr"][idx], out["n_co"][idx] = nt, nc
            treated_any |= (Tm & ok[None, :]).any(axis=1)
            control_any |= (Cm & ok[None, :]).any(axis=1)
            _flag_invalid(out, idx, ok, nc, share)
    else:
        estimator = _ESTIMATORS[method]
        Xs = design["X"]
        ones = np.ones((n, 1))
        designs = [np.hstack([ones, np.column_stack([M[:, t] for M in Xs])]) for t in range(Y.shape[1])]
        for k in todo:
            g, t, b = cells["g"][k], cells["t"][k], cells["b"][k]
            Tm = key == g
            Cm = never if cells["never"] else (key > cells["threshold"][k]) & ~Tm
            out["n_tr"][k], out["n_co"][k] = int(Tm.sum()), int(Cm.sum())
            if out["n_co"][k] == 0:
                out["why"][k] = "no comparison units"
                continue
            sub = np.flatnonzero(Tm | Cm)
            D = Tm[sub].astype(float)
            dY = Y[sub, t] - Y[sub, b]
            X = designs[min(t, b)][sub]
            with np.errstate(all="ignore"):
                try:
                    res = estimator(dY, D, X)
                except (linalg.LinAlgError, np.linalg.LinAlgError, ValueError) as exc:
                    res = f"numerical failure ({exc})"
            if isinstance(res, str) or not np.isfinite(res[0]) or not np.all(np.isfinite(res[1])):
                out["why"][k] = res if isinstance(res, str) else "the estimate is not finite"
                continue
            att_k, inf = res
            out["att"][k] = att_k
            psi[sub, k] = inf * (n / len(sub))
            out["valid"][k] = True
            treated_any |= Tm
            control_any |= Cm
    ref = cells["reference"]
    out["n_tr"][ref] = [int(np.sum(key == g)) for g in cells["g"][ref]]
    ug, G = design["unit_group"], len(design["group_keys"])
    if cluster is None:
        S, E = psi, np.zeros((n, G))
        E[np.arange(n), ug] = 1.0
    else:
        S = np.zeros((n_clusters, K))
        np.add.at(S, cluster, psi)
        E = np.zeros((n_clusters, G))
        np.add.at(E, (cluster, ug), 1.0)
    out["treated_any"], out["control_any"] = treated_any, control_any
    out["rep"] = _DenseRep(S=S, E=E)


# =============================================================================================
# Families of estimates as linear maps of the ATT(g,t) (did's compute.aggte)
# =============================================================================================
def _att_gt_family(fit: _Fit) -> _Family:
    K = len(fit.att)
    return _Family(kind="att_gt", label=np.arange(K, dtype=float), att=fit.att.copy(), W=None, C=None,
                   n_cells=np.ones(K, dtype=int), reference=fit.is_reference.copy(), overall_att=np.nan,
                   w_overall=None, c_overall=None, uniform=True, floor_crit=False)


class _Builder:
    """The estimated ATT(g,t) cells an aggregation may use (did's na.rm), and their cohort shares."""

    def __init__(self, fit: _Fit) -> None:
        self.fit = fit
        self.idx = np.flatnonzero(fit.valid)          # cells aggregations use (did's na.rm)
        self.g = fit.cell_g[self.idx]
        self.t = fit.cell_t[self.idx]
        self.a = fit.att[self.idx]
        self.grp = fit.cell_group[self.idx]
        n_k = np.bincount(fit.unit_group, minlength=len(fit.group_keys))
        self.pg = n_k[self.grp] / fit.n                # P(G = g) of each cell's cohort (did's pg)

    def family(self, kind: str, labels: np.ndarray, sel: np.ndarray, *, weights: str = "pg", wif: bool = True,
               uniform: bool = True) -> _Family:
        """One column per distinct value of ``labels`` (sorted), averaging the cells ``sel`` that carry it.

        Within a column the cells are weighted by cohort share (``"pg"``) or equally; ``wif`` adds did's
        term for the estimated cohort shares, (1/S) sum_k (1{G=g_k} - pg_k)(ATT_k - theta), to ``C``.
        """
        fit = self.fit
        label, j = np.unique(labels, return_inverse=True)
        m = len(label)
        pg, a = self.pg[sel], self.a[sel]
        pg_sum = np.bincount(j, weights=pg, minlength=m)
        n_cells = np.bincount(j, minlength=m)
        w = pg / pg_sum[j] if weights == "pg" else 1.0 / n_cells[j]
        theta = np.bincount(j, weights=w * a, minlength=m)
        W = np.zeros((len(fit.att), m))
        W[self.idx[sel], j] = w
        C = np.zeros((len(fit.group_keys), m))
        if wif:
            np.add.at(C, (self.grp[sel], j), (a - theta[j]) / pg_sum[j])
        refs = np.bincount(j, weights=~fit.is_reference[self.idx[sel]], minlength=m) == 0
        return _Family(kind, label.astype(float), theta, W, C, n_cells, refs, np.nan, None, None,
                       uniform=uniform, floor_crit=uniform)


def _aggregate(fit: _Fit, kind: str, *, min_e: float = -np.inf, max_e: float = np.inf,
               balance_e: int | None = None) -> _Family:
    bld = _Builder(fit)
    g, t = bld.g, bld.t
    if kind == "simple":
        keep = np.flatnonzero((g <= t) & (t <= g + max_e))
        if len(keep) == 0:
            raise ValueError("no post-treatment ATT(g,t) cell to aggregate")
        f = bld.family("simple", np.zeros(len(keep)), keep, uniform=False)
        return _replace(f, label=np.array([np.nan]), overall_att=float(f.att[0]))

    if kind == "group":
        sel = np.flatnonzero((g <= t) & (t <= g + max_e))
        if len(sel) == 0:
            raise ValueError("no cohort has a post-treatment ATT(g,t) cell to aggregate")
        f = bld.family("group", g[sel], sel, weights="equal", wif=False)
        ggrp = np.searchsorted(fit.group_keys, f.label)
        pgg = np.bincount(fit.unit_group, minlength=len(fit.group_keys))[ggrp] / fit.n
        wts = pgg / pgg.sum()
        theta = float(np.sum(wts * f.att))
        c_ov = f.C @ wts
        np.add.at(c_ov, ggrp, (f.att - theta) / pgg.sum())  # did's wif for the cohort shares (PR #223)
        return _replace(f, overall_att=theta, w_overall=f.W @ wts, c_overall=c_ov)

    if kind == "dynamic":
        e_all = t - g
        eseq = np.unique(e_all)
        include = np.ones(len(g), dtype=bool)
        if balance_e is not None:
            if isinstance(balance_e, bool) or not isinstance(balance_e, (int, np.integer)):
                raise ValueError(f"balance_e must be an integer or None, got {balance_e!r}")
            t_last, t_first = int(t.max()), int(t.min())
            eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - (t_last - t_first))]
            include = (t_last - g) >= balance_e
        eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
        sel = np.flatnonzero(include & np.isin(e_all, eseq))
        if len(sel) == 0:
            raise ValueError("no event time is left to aggregate (check min_e, max_e and balance_e)")
        f = bld.family("dynamic", e_all[sel], sel)
        pos = f.label >= 0
        if not pos.any():
            return f
        v = np.where(pos, 1.0 / pos.sum(), 0.0)
        return _replace(f, overall_att=float(np.sum(v * f.att)), w_overall=f.W @ v, c_overall=f.C @ v)

    # calendar
    sel = np.flatnonzero(g <= t)
    f = bld.family("calendar", t[sel], sel)
    v = np.full(len(f.att), 1.0 / len(f.att))
    return _replace(f, overall_att=float(np.mean(f.att)), w_overall=f.W @ v, c_overall=f.C @ v)


def _replace(f: _Family, **kw) -> _Family:
    from dataclasses import replace

    return replace(f, **kw)


# =============================================================================================
# Inference: analytic SEs, multiplier bootstrap, sup-t critical values, pre-test
# =============================================================================================
def _rademacher_blocks(n_boot: int, n_clusters: int, seed: int | None) -> list[list[tuple[int, np.ndarray]]]:
    """Rademacher draws (did's BMisc::multiplier_bootstrap), packed eight to a byte: unpack with :func:`_signs`.

    Generated in chunks of at most ``_BOOT_CELLS`` draws x clusters, each chunk split into blocks of at most
    ``_DRAW_BLOCK`` draws; returns per chunk its blocks as (first draw, packed bits). The numbers depend only
    on the seed and the data size, never on how the blocks are shared out.
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _BOOT_CELLS // max(n_clusters, 1)))
    n_bytes = (n_clusters + 7) // 8
    chunks = []
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        bits = rng.integers(0, 256, size=(b, n_bytes), dtype=np.uint8)
        chunks.append([(start + r.start, bits[r]) for r in row_slices(b, -(-b // _DRAW_BLOCK))])
    return chunks


def _signs(packed: np.ndarray, n_clusters: int) -> np.ndarray:
    """Packed draws -> a (draws x clusters) float64 array of -1/+1."""
    signs = np.unpackbits(packed, axis=1, count=n_clusters).view(np.int8)   # 0/1 -> -1/+1 in one-byte integers
    signs *= 2
    signs -= 1
    return signs.astype(np.float64)


def _order_stat(n_draws: int, p: float) -> int:
    """0-based index of R's quantile(type = 1) among n_draws sorted values."""
    return max(0, int(math.ceil(n_draws * p - 1e-12)) - 1)


def _row_order_stats(x: np.ndarray, ks: Sequence[int]) -> list[np.ndarray]:
    """The k-th smallest value of every row of ``x`` for each k in ``ks``: ``np.sort(x, axis=1)[:, k]``.

    Selection instead of a sort: one partition of a copy of ``x`` at the smallest k, then each further k
    selected among the values to the right of the previous one only (NaN last, as in a sort).
    """
    order = sorted(range(len(ks)), key=lambda i: ks[i])
    work = x.copy()
    out: list[np.ndarray] = [np.empty(0)] * len(ks)
    lo = 0
    for i in order:
        k = ks[i]
        if k >= lo:
            work[:, lo:].partition(k - lo, axis=1)
            lo = k + 1
        out[i] = work[:, k].copy()
    return out


def _nonzero(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D array (row-major order), by way of a boolean mask: several times faster on floats."""
    x = np.ascontiguousarray(dense)
    if x.size == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    return np.divmod(np.flatnonzero(x != 0), x.shape[1])


def _compressed(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, indices, indptr) of the non-zeros of ``dense`` row by row (sorted indices), built directly:
    scipy's converters cost more than the work itself on the few-hundred-column maps of an estimator call."""
    rows, cols = _nonzero(dense)
    indptr = np.zeros(dense.shape[0] + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=dense.shape[0]), out=indptr[1:])
    return dense[rows, cols], cols.astype(np.int32), indptr


def _compressed_columns(dense: np.ndarray) -> sparse.csc_array:
    """The non-zeros of ``dense`` as a CSC array."""
    return sparse.csc_array(_compressed(dense.T), shape=dense.shape)


def _compressed_rows(dense: np.ndarray) -> sparse.csr_array:
    """The non-zeros of ``dense`` as a CSR array."""
    return sparse.csr_array(_compressed(dense), shape=dense.shape)


def _infer(fit: _Fit, families: list[_Family]) -> list[_Inference]:
    """Standard errors (analytic or bootstrap) and uniform critical values for several families at once.

    All estimates are columns of one map ``Wfull`` of the ATT(g,t) (identity for the ATT(g,t)
    themselves) plus did's estimated-weights term ``Cfull``; one set of bootstrap draws serves them all.
    """
    n, nc, K = fit.n, fit.n_clusters, len(fit.att)
    z = float(special.ndtri(1 - fit.alpha / 2))
    Ws, Cs, spans = [], [], []          # spans: (first column, m, overall column or None)
    pos = 0
    for f in families:
        if f.kind == "att_gt":
            Ws.append(np.eye(K))
            Cs.append(np.zeros((len(fit.group_keys), K)))
            spans.append((pos, K, None))
            pos += K
            continue
        Ws.append(f.W)
        Cs.append(f.C)
        m = f.W.shape[1]
        ov = None
        if f.w_overall is not None and f.kind != "simple":
            Ws.append(f.w_overall[:, None])
            Cs.append(f.c_overall[:, None])
            ov = pos + m
        spans.append((pos, m, ov))
        pos += m + (ov is not None)
    Wfull = np.hstack(Ws)
    Cfull = np.hstack(Cs)
    prep = fit.rep.prepare(Wfull, Cfull)
    se_all = np.sqrt(np.maximum(fit.rep.ss(prep), 0.0)) / n
    if fit.bootstrap:
        B = fit.n_boot
        boot_prep = fit.rep.prepare_boot(prep)
        work = B * (fit.rep.draw_flops(boot_prep) + 20 * Wfull.shape[1])   # products, then the quantile selection
        threads = worker_threads() if work >= _THREAD_MIN else 1
        # Blocks of draws of a fixed size, shared out over the threads, each unpacked where it is used and
        # written into one preallocated array: the working memory stays a few blocks above the draws
        # themselves (fresh memory is slow to touch), and the numbers never depend on the threads.
        bresT = np.empty((Wfull.shape[1], B))           # one row per estimate

        def draw_block(block):
            start, packed = block
            bresT[:, start:start + len(packed)] = fit.rep.boot(_signs(packed, nc), boot_prep)

        for blocks in _rademacher_blocks(B, nc, fit.seed):
            parallel_map(draw_block, blocks, threads)
        bresT *= math.sqrt(nc) / nc
        ndg = np.einsum("ij,ij->i", bresT, bresT) > _SE_ZERO
        i25, i75 = _order_stat(B, 0.25), _order_stat(B, 0.75)
        parts = parallel_map(lambda r: _row_order_stats(bresT[r], (i25, i75)),
                             row_slices(len(bresT), -(-len(bresT) // _ROW_BLOCK)), threads)
        q25, q75 = (np.concatenate([part[i] for part in parts]) for i in range(2))
        bsigma = (q75 - q25) / _IQR_Z
        se_all = np.where(ndg, bsigma * math.sqrt(nc) / n, np.nan)
        tstat = np.abs(bresT, out=bresT)   # the draws are not needed any more: |draw| / sigma, in place
        with np.errstate(divide="ignore", invalid="ignore"):
            tstat /= bsigma[:, None]
        del bresT
    se_all = np.where(se_all <= _SE_ZERO, np.nan, se_all)

    out = []
    for f, (first, m, ov) in zip(families, spans):
        cols = np.arange(first, first + m)
        se = se_all[cols]
        ov_se = float(se[0]) if f.kind == "simple" else (float(se_all[ov]) if ov is not None else np.nan)
        crit = np.nan
        if fit.bootstrap and f.uniform and not fit.uniform_bands:
            crit = z  # two periods: did sets cband = FALSE, the band is the pointwise interval
        elif fit.bootstrap and f.uniform:
            sig = bsigma[cols]
            usable = ndg[cols] & np.isfinite(sig) & (sig > _SE_ZERO)
            if usable.any():
                bT = np.max(tstat[first:first + m] if usable.all() else tstat[cols[usable]], axis=0)
                bT = bT[np.isfinite(bT)]
                if len(bT):
                    k = _order_stat(len(bT), 1 - fit.alpha)
                    crit = float(np.partition(bT, k)[k])
            if f.floor_crit and (not np.isfinite(crit) or crit < z):
                crit = z
        out.append(_Inference(se=se, crit=crit, overall_se=ov_se if np.isfinite(ov_se) else np.nan))
    return out


def _pretest(fit: _Fit) -> PreTest:
    pre = np.flatnonzero((fit.cell_g > fit.cell_t) & fit.valid & ~fit.is_reference)
    if len(pre) == 0:
        return PreTest(None, 0, None, note="no pre-treatment periods to test")
    V = fit.rep.cov_gt(pre) / fit.n ** 2
    keep = np.sqrt(np.maximum(np.diag(V), 0.0)) > _SE_ZERO
    if not keep.all():
        pre, V = pre[keep], V[np.ix_(keep, keep)]
    if len(pre) == 0:
        return PreTest(None, 0, None, note="no pre-treatment cell has a standard error")
    q = len(pre)
    try:
        chol = linalg.cho_factor(V, lower=True, check_finite=True)
        rc = _rcond_1norm(V, chol)
    except (linalg.LinAlgError, ValueError):
        rc = 0.0
    if not np.isfinite(rc) or rc <= _EPS:
        warn_caller("the pre-test Wald statistic is not computed: the covariance of the pre-treatment ATT(g,t) is "
                    "singular")
        return PreTest(None, q, None, note="singular covariance matrix of the pre-treatment ATT(g,t)")
    a = fit.att[pre]
    W = float(a @ linalg.cho_solve(chol, a))
    return PreTest(W, q, float(special.chdtrc(q, W)))


def _rcond_1norm(V: np.ndarray, chol) -> float:
    """Reciprocal 1-norm condition number estimate (LAPACK, as R's rcond) from the Cholesky factor."""
    anorm = float(np.abs(V).sum(axis=0).max())
    rc, info = lapack.dpocon(chol[0], anorm, uplo="L" if chol[1] else "U")
    return float(rc) if info == 0 else 0.0


# =============================================================================================
# Output tables
# =============================================================================================
def _pointwise(est: np.ndarray, se: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    z = float(special.ndtri(1 - alpha / 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2 * special.ndtr(-np.abs(est / se))
    return {"ci_lower": est - z * se, "ci_upper": est + z * se, "p_value": p}


def _time_values(times: pd.Index, idx) -> np.ndarray:
    """Period values (Timestamps or numbers) at period indexes, as an object array."""
    idx = np.asarray(idx, dtype=float)
    vals = times.to_numpy(dtype=object)
    out = np.full(len(idx), None, dtype=object)
    ok = ~np.isnan(idx)
    out[ok] = vals[idx[ok].astype(int)]
    return out


def _family_columns(fit: _Fit, f: _Family, inf: _Inference) -> dict[str, Any]:
    pw = _pointwise(f.att, inf.se, fit.alpha)
    crit = inf.crit
    band_lo = f.att - crit * inf.se if np.isfinite(crit) else np.full(len(f.att), np.nan)
    band_hi = f.att + crit * inf.se if np.isfinite(crit) else np.full(len(f.att), np.nan)
    m = len(f.att)
    none = np.full(m, None, dtype=object)
    times = fit.times
    cols: dict[str, Any] = {}
    if f.kind == "att_gt":
        cols.update(aggregation="att_gt", cohort=_time_values(times, fit.cell_g),
                    period=_time_values(times, fit.cell_t), event_time=(fit.cell_t - fit.cell_g).astype(float))
    elif f.kind == "dynamic":
        cols.update(aggregation="event_study", cohort=none, period=none, event_time=f.label.astype(float))
    elif f.kind == "group":
        cols.update(aggregation="group", cohort=_time_values(times, f.label), period=none,
                    event_time=np.full(m, np.nan))
    elif f.kind == "calendar":
        cols.update(aggregation="calendar", cohort=none, period=_time_values(times, f.label),
                    event_time=np.full(m, np.nan))
    else:
        cols.update(aggregation="simple", cohort=none, period=none, event_time=np.full(m, np.nan))
    cols["aggregation"] = np.full(m, cols["aggregation"], dtype=object)
    cols.update(estimate=f.att, std_error=inf.se, ci_lower=pw["ci_lower"], ci_upper=pw["ci_upper"],
                p_value=pw["p_value"], crit_value=np.full(m, crit), band_lower=band_lo, band_upper=band_hi,
                n_cells=f.n_cells.astype(float), reference=f.reference.astype(bool))
    if f.kind == "att_gt":
        cols.update(base_period=_time_values(times, fit.cell_b), n_treated_cell=fit.n_treated_cell.astype(float),
                    n_control_cell=fit.n_control_cell.astype(float))
        ref_txt = "reference cell (universal base period): normalised to 0, not estimated"
        cols["inference"] = np.where(fit.is_reference, ref_txt, None)
    else:
        cols.update(base_period=none, n_treated_cell=np.full(m, np.nan), n_control_cell=np.full(m, np.nan))
        ref_txt = "reference event time (universal base period): normalised to 0, not estimated"
        cols["inference"] = np.where(f.reference, ref_txt, None) if f.kind == "dynamic" else none
    return cols


def _family_rows(fit: _Fit, f: _Family, inf: _Inference) -> pd.DataFrame:
    return pd.DataFrame(_family_columns(fit, f, inf))


def _estimates_frame(fit: _Fit, families: list[_Family], infs: list[_Inference],
                     extra_row: dict | None = None) -> pd.DataFrame:
    parts = [_family_columns(fit, f, i) for f, i in zip(families, infs) if f.kind != "simple"]
    if extra_row is not None:
        parts.append({k: np.array([v], dtype=object if isinstance(v, str) or v is None else None)
                      for k, v in extra_row.items()})
    data = {}
    for key in parts[0]:
        vals = [np.asarray(p[key], dtype=object) if key in ("cohort", "period", "base_period") else p[key]
                for p in parts]
        data[key] = np.concatenate(vals)
    for key in ("event_time", "n_cells", "n_treated_cell", "n_control_cell"):   # whole numbers, NaN -> <NA>
        x = data[key].astype(float)
        missing = np.isnan(x)
        data[key] = pd.arrays.IntegerArray(np.where(missing, 0, x).astype(np.int64), missing)
    return pd.DataFrame(data)


def _overall_estimate(fit: _Fit, f: _Family, inf: _Inference) -> OverallEstimate:
    z = float(special.ndtri(1 - fit.alpha / 2))
    est, se = float(f.overall_att), inf.overall_se
    if np.isfinite(est) and np.isfinite(se):
        return OverallEstimate(est, float(se), est - z * se, est + z * se, float(2 * special.ndtr(-abs(est / se))))
    return OverallEstimate(est, None, None, None, None)


def _aggregated_effects(fit: _Fit, f: _Family, inf: _Inference, options: dict) -> AggregatedEffects:
    overall = _overall_estimate(fit, f, inf)
    rows = _family_rows(fit, f, inf)
    if f.kind == "simple":
        table = rows[["aggregation", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "n_cells"]].copy()
        table["n_cells"] = table["n_cells"].astype(int)
    else:
        label = {"dynamic": "event_time", "group": "cohort", "calendar": "period"}[f.kind]
        cols = [label, "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "crit_value", "band_lower",
                "band_upper", "n_cells"] + (["reference"] if f.kind == "dynamic" else [])
        table = rows[cols].reset_index(drop=True)
        table["n_cells"] = table["n_cells"].astype(int)
        if label == "event_time":
            table["event_time"] = table["event_time"].astype(int)
        else:
            table[label] = _restore_time(pd.Series(list(table[label])), str(fit.times.dtype))
    what = {"simple": "post-treatment ATT(g,t) weighted by cohort size",
            "dynamic": "event study (equal-weight average of event times >= 0 as overall)",
            "group": "cohort effects (cohort-share weighted average as overall)",
            "calendar": "calendar-period effects (equal-weight average of periods as overall)"}[f.kind]
    return AggregatedEffects(kind=f.kind, table=table, overall=overall, crit_value=inf.crit,
                             inference=f"{fit.inference}; {what}", options=options)
