r"""Minimum detectable effects (MDEs): by placebo simulation on the real pre-period, and analytic.

Placebo MDE
-----------
:func:`placebo_mde` asks: with this panel, this comparison pool and this programme's wave
structure, how large must an effect be for the estimator to detect it? It re-runs the programme's
design where no programme happened:

1. **Wave structure.** The treated LAs with data are grouped by first treated period (the waves:
   e.g. FFfC 3 LAs first treated in the period starting April 2023, 7 in the period starting
   April 2024). Periods are counted by position in the sorted period start dates of the window,
   so annual, quarterly or monthly data are handled alike (``frequency`` only sets where the
   window ends).
2. **Shift into the pre-period.** The whole structure is moved back so that the last placebo
   period is the last period before the first real treatment: each wave keeps its number of
   post-periods and the gaps between waves. Only pre-treatment rows are used, so no real
   treatment effect enters. At least one placebo pre-period is required.
3. **Draws.** In each of ``n_sims`` draws, pseudo-treated LAs are drawn without replacement from
   the comparison pool (``pool``'s included LAs, or every comparison-role LA; only LAs observed
   both before the first and at or after the last placebo start can be drawn), as many per wave as
   the real waves. The real treated LAs stay in the placebo panel as (untreated) comparison units,
   so the number of units matches the real estimation (``treated_as_controls=False`` drops them).
4. **Estimate** the effect of the pseudo-treatment with ``estimator`` and record the estimate and
   its p-value.

With the true effect zero, the placebo estimates show the estimator's sampling spread for this
design, and

.. math:: \mathrm{MDE} = (z_{1-\alpha/2} + z_{\text{power}})\;\mathrm{SD}(\hat\beta^{\,\text{placebo}}),

the effect a two-sided level-:math:`\alpha` test detects with probability ``power`` if the
estimator is approximately normal and unbiased (Bloom 1995). Its Monte Carlo standard error is
about :math:`\mathrm{MDE}/\sqrt{2(n_{sims}-1)}`. The **rejection rate** of the estimator's own
(cluster-robust) test at level :math:`\alpha` across the placebo draws is reported as a by-product:
every rejection is a false positive, so a rate well above :math:`\alpha` (expected with 2-10
treated LAs and serially correlated outcomes) says the cluster-robust p-values cannot be trusted
for this design and a few-treated-robust method is needed (:mod:`csceval.inference`).

The placebo MDE reflects the real outcome's serial correlation, heterogeneity and missing cells,
which analytic formulas ignore. Its caveats: the pre-period may be shorter than the real panel (a
shorter placebo pre-period inflates the MDE), and effects that differ across LAs add variance that
placebo draws do not show.

Fast path
---------
For ``estimator="twfe"`` all draws are evaluated at once. With :math:`F` the unit and period dummy
matrix and :math:`M = I - F(F'F)^{+}F'` its exact annihilator (balanced or not), the static TWFE
estimate and CR1 variance of draw *b* are

.. math::

    \hat\beta_b = \frac{(M D_b)'(M y)}{(M D_b)'(M D_b)}, \qquad
    \hat V_b = c\,\frac{\sum_i \big(\sum_t (M D_b)_{it}\,\hat e_{it,b}\big)^2}{\big((M D_b)'(M D_b)\big)^2},
    \quad c = \frac{G}{G-1}\frac{n-1}{n-K},

:math:`K = 1 + N + T - 1`, with p-values from :math:`t(G-1)` -- the numbers of
:func:`csceval.did.twfe`. Other estimators (a name known to :func:`csceval.did.registry.run_estimator`
or a callable returning an :class:`~csceval.did.EstimationResult`) are fitted draw by draw.

Analytic MDE
------------
:func:`analytic_mde` is the textbook case: one adoption date, a balanced panel, :math:`n_T` treated
and :math:`n_C` comparison units, :math:`T_{pre}` and :math:`T_{post}` periods, errors with variance
:math:`\sigma^2`, independent across units and equicorrelated within a unit with correlation
:math:`\rho` (:math:`\rho = 0`: iid). TWFE then equals the difference of the two groups' changes in
means, with

.. math:: \mathrm{Var}(\hat\beta) = \sigma^2 (1-\rho)\Big(\frac{1}{n_T} + \frac{1}{n_C}\Big)\Big(\frac{1}{T_{pre}} + \frac{1}{T_{post}}\Big),

and :math:`\mathrm{MDE} = (z_{1-\alpha/2} + z_{\text{power}})\sqrt{\mathrm{Var}(\hat\beta)}`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse, stats

from csceval.design.timing import PERIOD_MONTHS

__all__ = ["PlaceboMDE", "analytic_mde", "mde_table", "placebo_mde"]


def _multiplier(alpha: float, power: float) -> float:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must be in (0, 1), got {alpha}, {power}")
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def analytic_mde(
    sigma: float,
    n_treated: int,
    n_control: int | None = None,
    n_pre: int = 1,
    n_post: int = 1,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    rho: float = 0.0,
) -> float:
    """Textbook MDE of a single-date DiD (see the module docstring).

    Parameters
    ----------
    sigma : error standard deviation.
    n_treated, n_control : units per group (``n_control`` defaults to ``n_treated``: equal groups).
    n_pre, n_post : periods before and after the start.
    alpha, power : two-sided test level and power.
    rho : within-unit equicorrelation of the errors (0 = iid).
    """
    n_control = n_treated if n_control is None else n_control
    if min(n_treated, n_control, n_pre, n_post) < 1 or sigma < 0 or not 0 <= rho < 1:
        raise ValueError("need sigma >= 0, 0 <= rho < 1 and at least one unit and one period in each group")
    var = sigma**2 * (1 - rho) * (1 / n_treated + 1 / n_control) * (1 / n_pre + 1 / n_post)
    return _multiplier(alpha, power) * float(np.sqrt(var))


@dataclass(frozen=True, eq=False)
class PlaceboMDE:
    """Result of :func:`placebo_mde`.

    Attributes
    ----------
    mde, mde_mc_se : MDE (outcome units) and its Monte Carlo standard error.
    sd_placebo, mean_placebo : SD and mean of the placebo estimates (the mean should be near 0).
    rejection_rate, rejection_mc_se : share of draws whose own test rejects at ``alpha`` (false
        positives; NaN if the estimator gives no p-values) and its binomial standard error.
    baseline_mean : mean outcome of the real treated LAs in the last period before treatment.
    mde_relative : ``mde / baseline_mean``.
    wave_sizes, real_first_treated, placebo_first_treated : the wave structure and where it was put.
    estimates, p_values : the placebo draws.
    """

    outcome: str
    estimator: str
    mde: float
    mde_mc_se: float
    sd_placebo: float
    mean_placebo: float
    rejection_rate: float
    rejection_mc_se: float
    n_sims: int
    alpha: float
    power: float
    frequency: str
    wave_sizes: tuple[int, ...]
    real_first_treated: tuple[pd.Timestamp, ...]
    placebo_first_treated: tuple[pd.Timestamp, ...]
    placebo_window: tuple[pd.Timestamp, pd.Timestamp]
    n_units: int
    n_drawable: int
    n_periods: int
    baseline_mean: float
    mde_relative: float
    seed: int | None
    estimates: np.ndarray = field(repr=False)
    p_values: np.ndarray = field(repr=False)
    notes: tuple[str, ...] = ()

    def as_row(self) -> dict:
        """One row for an MDE table (no arrays)."""
        fmt = lambda ts: ", ".join(str(pd.Timestamp(t).date()) for t in ts)  # noqa: E731
        return dict(
            outcome=self.outcome, estimator=self.estimator, mde=self.mde, mde_mc_se=self.mde_mc_se,
            mde_relative=self.mde_relative, baseline_mean=self.baseline_mean, sd_placebo=self.sd_placebo,
            mean_placebo=self.mean_placebo, rejection_rate=self.rejection_rate, rejection_mc_se=self.rejection_mc_se,
            alpha=self.alpha, power=self.power, n_sims=self.n_sims, wave_sizes=" + ".join(map(str, self.wave_sizes)),
            real_first_treated=fmt(self.real_first_treated), placebo_first_treated=fmt(self.placebo_first_treated),
            placebo_window=fmt(self.placebo_window), n_units=self.n_units, n_drawable=self.n_drawable,
            n_periods=self.n_periods, frequency=self.frequency, seed=self.seed, notes="; ".join(self.notes),
        )

    def summary(self) -> str:
        r = self.as_row()
        return (f"Placebo MDE for {self.outcome} ({self.estimator}, {self.n_sims} draws, waves {r['wave_sizes']}): "
                f"{self.mde:.3g} (MC s.e. {self.mde_mc_se:.2g}; {100 * self.mde_relative:.1f}% of the treated "
                f"baseline {self.baseline_mean:.3g}); false-positive rate of the estimator's own test at "
                f"{self.alpha:g}: {self.rejection_rate:.3f}")


def mde_table(results) -> pd.DataFrame:
    """DataFrame of :meth:`PlaceboMDE.as_row` for a list (or dict values) of results."""
    items = results.values() if isinstance(results, dict) else results
    return pd.DataFrame([r.as_row() for r in items])


# ------------------------------------------------------------------------------------ fast TWFE
class _TwfeDraws:
    """Static TWFE with CR1 t-tests for many treatment assignments on one panel (exact FE projection)."""

    def __init__(self, y: np.ndarray, unit: np.ndarray, time: np.ndarray, n_units: int, n_times: int):
        n = len(y)
        self.unit, self.time = unit, time
        self.n_units, self.n_obs = n_units, n
        rows = np.arange(n)
        F = sparse.hstack([
            sparse.csr_matrix((np.ones(n), (rows, unit)), shape=(n, n_units)),
            sparse.csr_matrix((np.ones(n), (rows, time)), shape=(n, n_times)),
        ]).tocsr()
        self.F = F
        self.P = np.linalg.pinv((F.T @ F).toarray())
        self.ytil = self.project(y[:, None])[:, 0]
        self.U = sparse.csr_matrix((np.ones(n), (unit, rows)), shape=(n_units, n))
        n_periods = len(np.unique(time))
        big_k = 1 + n_units + n_periods - 1
        self.c = n_units / (n_units - 1) * (n - 1) / (n - big_k)
        self.df = n_units - 1

    def project(self, X: np.ndarray) -> np.ndarray:
        return X - self.F @ (self.P @ (self.F.T @ X))

    def fit(self, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """G: (draws, units) first treated period index (inf = untreated) -> estimates, p-values."""
        D = (self.time[:, None] >= G[:, self.unit].T).astype(float)
        Dt = self.project(D)
        den = (Dt**2).sum(axis=0)
        beta = (Dt * self.ytil[:, None]).sum(axis=0) / den
        resid = self.ytil[:, None] - Dt * beta[None, :]
        scores = self.U @ (Dt * resid)
        se = np.sqrt(self.c * (scores**2).sum(axis=0) / den**2)
        p = 2 * stats.t.sf(np.abs(beta / se), self.df)
        return beta, p


# -------------------------------------------------------------------------------------- placebo
def _window(rows: pd.DataFrame, window_start, window_end, frequency: str) -> pd.DataFrame:
    if frequency not in PERIOD_MONTHS:
        raise ValueError(f"frequency must be one of {sorted(PERIOD_MONTHS)}, got {frequency!r}")
    if window_start is not None:
        rows = rows[rows["period"] >= pd.Timestamp(window_start)]
    if window_end is not None:
        end = rows["period"] + pd.DateOffset(months=PERIOD_MONTHS[frequency]) - pd.Timedelta(days=1)
        rows = rows[end <= pd.Timestamp(window_end)]
    return rows


def _resolve_estimator(estimator, alpha: float, settings: dict | None) -> tuple[str, Callable | None]:
    if isinstance(estimator, str):
        if estimator == "twfe":
            return "twfe", None
        from csceval.did.registry import run_estimator

        options = {"event_window": {"leads": 5, "lags": 1}, **(settings or {}), "alpha": alpha}
        return estimator, lambda df: run_estimator(estimator, df, options)
    if callable(estimator):
        name = getattr(estimator, "__name__", "custom")
        return name, lambda df: estimator(df, outcome="value", unit="la_code", time="period", cohort="first_treated",
                                          alpha=alpha)
    raise ValueError("estimator must be 'twfe', an estimator name or a callable")


def placebo_mde(
    panel: pd.DataFrame,
    timing: pd.DataFrame,
    outcome: str,
    *,
    n_sims: int = 500,
    seed: int | None = 20250401,
    estimator="twfe",
    alpha: float = 0.05,
    power: float = 0.8,
    frequency: str = "annual",
    window_start=None,
    window_end=None,
    pool: pd.DataFrame | None = None,
    treated_as_controls: bool = True,
    min_pre_periods: int = 1,
    estimator_settings: dict | None = None,
) -> PlaceboMDE:
    """Minimum detectable effect by placebo simulation on the real pre-period (module docstring).

    Parameters
    ----------
    panel : tidy panel (``la_code, period, outcome, value``), or an estimation sample with an
        ``outcome`` column.
    timing : :func:`csceval.design.treatment_timing` table of the programme (waves from its
        treated LAs' ``first_treated``; the pool from its comparison LAs).
    outcome : outcome to use.
    n_sims : placebo draws.
    seed : seed of the draws (``numpy.random.default_rng``).
    estimator : ``"twfe"`` (vectorised), another name of :mod:`csceval.did.registry`, or a callable
        ``f(df, outcome=, unit=, time=, cohort=) -> EstimationResult`` (fitted draw by draw).
    alpha, power : test level and power of the MDE.
    frequency : ``"annual"``, ``"quarterly"`` or ``"monthly"``: period length, used with
        ``window_end`` only.
    window_start, window_end : the programme's estimation window (e.g. its ``window_start`` and
        ``clean_window_end``); whole periods inside it are used. Default: all periods.
    pool : comparison pool table (:mod:`csceval.design.pools`); its included LAs are the units
        that can be drawn and the comparison units. Default: every comparison-role LA.
    treated_as_controls : keep the real treated LAs' pre-period rows as comparison units.
    min_pre_periods : placebo periods required before the first placebo wave.
    estimator_settings : the config's ``estimation`` block, for estimators other than ``"twfe"``
        (e.g. the event window of ``event_study_twfe``).

    Returns
    -------
    :class:`PlaceboMDE`.
    """
    if n_sims < 2:
        raise ValueError("n_sims must be at least 2")
    multiplier = _multiplier(alpha, power)
    name, fit_one = _resolve_estimator(estimator, alpha, estimator_settings)
    rows = panel[panel["outcome"].eq(outcome)] if "outcome" in panel.columns else panel
    if rows.empty:
        raise ValueError(f"no rows of outcome {outcome!r} in the panel")
    rows = rows[["la_code", "period", "value"]].copy()
    rows["la_code"] = rows["la_code"].astype(str)
    rows["period"] = pd.to_datetime(rows["period"])
    rows = _window(rows, window_start, window_end, frequency).dropna(subset=["value"])
    periods = pd.DatetimeIndex(sorted(rows["period"].unique()))
    if len(periods) < 2:
        raise ValueError("fewer than two periods with data in the window")
    last = len(periods) - 1

    t = timing.copy()
    t["la_code"] = t["la_code"].astype(str)
    with_data = set(rows["la_code"])
    tr = t[t["role"].eq("treated") & t["first_treated"].notna() & t["la_code"].isin(with_data)].copy()
    tr["g"] = periods.searchsorted(pd.to_datetime(tr["first_treated"]), side="left")
    tr = tr[tr["g"] <= last]
    if tr.empty:
        raise ValueError("no treated LA with data is first treated within the window")
    waves = tr.groupby("g")["la_code"].count().sort_index()
    g_real = waves.index.to_numpy()
    g_min = int(g_real.min())
    shift = last - g_min + 1
    g_placebo = g_real - shift
    if g_placebo.min() < min_pre_periods:
        raise ValueError(
            f"too few pre-periods for a placebo: {g_min} period(s) before the first real treatment "
            f"({periods[g_min].date()}), but the wave structure needs {last - g_min + 1} post-period(s) plus "
            f"{min_pre_periods} pre-period(s) after shifting"
        )
    if pool is not None:
        comparison = set(pool.loc[pool["included"].astype(bool), "la_code"].astype(str))
        bad = comparison & set(t.loc[t["role"].ne("comparison"), "la_code"])
        if bad:
            raise ValueError(f"the pool includes treated or excluded LA(s) {sorted(bad)}")
    else:
        comparison = set(t.loc[t["role"].eq("comparison"), "la_code"])
    units_keep = comparison | (set(tr["la_code"]) if treated_as_controls else set())
    pre = rows[rows["period"] < periods[g_min]]
    pre = pre[pre["la_code"].isin(units_keep)]
    placebo_periods = periods[:g_min]
    tpos = placebo_periods.get_indexer(pre["period"])
    pre = pre.assign(_t=tpos).sort_values(["la_code", "_t"], ignore_index=True)
    units = sorted(pre["la_code"].unique())
    upos = {u: i for i, u in enumerate(units)}
    u_idx = pre["la_code"].map(upos).to_numpy(np.int64)
    t_idx = pre["_t"].to_numpy(np.int64)
    first_g, last_g = int(g_placebo.min()), int(g_placebo.max())
    obs = pre.groupby("la_code")["_t"].agg(["min", "max"])
    drawable = sorted(u for u in units if u in comparison and obs.loc[u, "min"] < first_g and obs.loc[u, "max"] >= last_g)
    n_treat = int(waves.sum())
    if len(drawable) <= n_treat:
        raise ValueError(f"only {len(drawable)} comparison LAs can be drawn for {n_treat} pseudo-treated LAs")
    draw_idx = np.array([upos[u] for u in drawable])
    wave_g = np.repeat(g_placebo.astype(float), waves.to_numpy())

    rng = np.random.default_rng(seed)
    G = np.full((n_sims, len(units)), np.inf)
    for b in range(n_sims):
        chosen = draw_idx[rng.permutation(len(draw_idx))[:n_treat]]
        G[b, chosen] = wave_g
    if fit_one is None:
        engine = _TwfeDraws(pre["value"].to_numpy(float), u_idx, t_idx, len(units), len(placebo_periods))
        est, pv = [], []
        chunk = max(1, int(2e6 // max(len(pre), 1)))
        for s in range(0, n_sims, chunk):
            e, p = engine.fit(G[s:s + chunk])
            est.append(e)
            pv.append(p)
        estimates, p_values = np.concatenate(est), np.concatenate(pv)
    else:
        estimates, p_values = np.empty(n_sims), np.empty(n_sims)
        base = pre[["la_code", "period", "value"]].copy()
        for b in range(n_sims):
            g_unit = pd.Series(G[b], index=units)
            first = g_unit.map(lambda g: placebo_periods[int(g)] if np.isfinite(g) else pd.NaT)
            df = base.assign(first_treated=base["la_code"].map(first).astype("datetime64[ns]"))
            res = fit_one(df)
            estimates[b] = res.overall.estimate
            p_values[b] = res.overall.p_value if res.overall.p_value is not None else np.nan

    sd = float(np.std(estimates, ddof=1))
    mde = multiplier * sd
    rej = p_values[np.isfinite(p_values)]
    rate = float(np.mean(rej <= alpha)) if len(rej) else np.nan
    base_rows = rows[rows["la_code"].isin(tr["la_code"]) & rows["period"].eq(periods[g_min - 1])]
    baseline = float(base_rows["value"].mean()) if len(base_rows) else np.nan
    notes = [f"placebo design has {first_g} period(s) before its first wave; the real design has {g_min}"]
    if not treated_as_controls:
        notes.append("real treated LAs left out of the placebo panel")
    return PlaceboMDE(
        outcome=outcome, estimator=name, mde=mde, mde_mc_se=mde / np.sqrt(2 * (n_sims - 1)), sd_placebo=sd,
        mean_placebo=float(np.mean(estimates)), rejection_rate=rate,
        rejection_mc_se=float(np.sqrt(rate * (1 - rate) / len(rej))) if len(rej) else np.nan,
        n_sims=int(n_sims), alpha=float(alpha), power=float(power), frequency=frequency,
        wave_sizes=tuple(int(v) for v in waves.to_numpy()),
        real_first_treated=tuple(periods[g] for g in g_real),
        placebo_first_treated=tuple(placebo_periods[g] for g in g_placebo),
        placebo_window=(placebo_periods[0], placebo_periods[-1]),
        n_units=len(units), n_drawable=len(drawable), n_periods=len(placebo_periods),
        baseline_mean=baseline, mde_relative=mde / baseline if baseline else np.nan,
        seed=seed, estimates=estimates, p_values=p_values, notes=tuple(notes),
    )
