"""Value for money of one programme: draws of its impact, then costs, present values and break-even.

The estimators' tidy outputs hold no draws, so this module makes them: a **stratified LA-cluster
bootstrap of the imputation estimator** (Borusyak, Jaravel & Spiess 2024; :func:`csceval.did.imputation`).

Bootstrap
---------
LAs are resampled with replacement *within strata*: each adoption cohort of treated LAs, and the
never-treated comparison LAs, so every draw has the programme's number of treated LAs per wave.
A resampled LA enters with a weight equal to the number of times it was drawn. For each draw the
two-way fixed-effects model :math:`y_{it} = \\alpha_i + \\lambda_t + \\varepsilon_{it}` is fitted to the
untreated observations by weighted least squares (alternating projections: LA means, then weighted
period means, to convergence; duplicated LAs share their fixed effect, so integer weights give the
same fit as duplicated rows) and the treated observations get :math:`\\hat\\tau_{it} = y_{it} -
\\hat\\alpha_i - \\hat\\lambda_t`. Draw 0 is the point estimate (every weight 1) and equals the
imputation estimator's.

What is costed is the **effect on the actual treated LAs' children**: for each financial year ``y``
the population-weighted mean of :math:`\\hat\\tau_{it}` over treated LA-years (weights: child
population x bootstrap weight), times the treated LAs' child population in ``y``. Effects are
costed only in treated years inside the clean window: no persistence beyond it is assumed.

With 2-10 treated LAs per stratum the bootstrap distribution is coarse and can understate the
uncertainty (few treated clusters): the report says so, next to the randomization-inference
headline the conclusions rest on.

Unit costs
----------
Unit costs that declare an uncertainty (:class:`csceval.economics.CostUncertainty`) are drawn once
per bootstrap draw, independently of the resampling and seeded separately
(``economics.draws.cost_seed``): bootstrap draw ``d`` is costed with unit-cost draw ``d``. The NPV
interval then carries both. The summary decomposes it: the interval from the impact draws at the
point unit costs, and from the unit-cost draws at the point impact, next to the joint one, so a
reader sees which uncertainty dominates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from csceval.economics import (
    GdpDeflator,
    OutcomeCosting,
    UnitCost,
    cost_per_unit_effect,
    outcome_cost_factors,
    present_value,
    unit_cost_draws,
    vfm_distribution,
)

__all__ = [
    "EffectDraws",
    "ProgrammeVfm",
    "bootstrap_weights",
    "financial_year",
    "imputation_draws",
    "programme_vfm",
]


def financial_year(period) -> np.ndarray:
    """Financial year (start year) of period start dates: April 2023 - March 2024 -> 2023."""
    p = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(period)))
    return np.where(p.month >= 4, p.year, p.year - 1).astype(int)


def bootstrap_weights(strata: Sequence, n_draws: int, seed: int) -> np.ndarray:
    """``(n_draws + 1, n_units)`` resampling counts, stratified: row 0 is all ones (the point estimate).

    Within each stratum of ``m`` units, ``m`` units are drawn with replacement, so every stratum
    keeps its size in every draw.
    """
    if n_draws < 1:
        raise ValueError(f"bootstrap_weights: n_draws must be at least 1, got {n_draws}")
    strata = np.array(["never" if pd.isna(x) else str(x) for x in strata], dtype=object)
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_draws + 1, len(strata)))
    weights[0] = 1.0
    for s in sorted(set(strata)):
        members = np.flatnonzero(strata == s)
        picks = rng.integers(0, len(members), size=(n_draws, len(members)))
        for j in range(len(members)):
            weights[1:, members[j]] = (picks == j).sum(axis=1)
    return weights


@dataclass(frozen=True)
class EffectDraws:
    """Bootstrap draws of one outcome's impact on the treated LAs.

    Attributes
    ----------
    outcome : str
    years : ndarray
        Financial years with treated LA-years, ascending.
    population : ndarray
        Child population of the treated LAs in each of ``years`` (actual, not resampled).
    profile : ndarray
        ``(n_draws + 1, n_years)`` population-weighted mean effect per year; row 0 is the point.
    att : ndarray
        ``(n_draws + 1,)`` imputation ATT (equal weight per treated LA-year, as BJS); row 0 is the point.
    units : tuple
        LA codes in the order of the weight columns.
    notes : tuple of str
    """

    outcome: str
    years: np.ndarray
    population: np.ndarray
    profile: np.ndarray
    att: np.ndarray
    units: tuple
    notes: tuple[str, ...] = field(default_factory=tuple)

    def tidy(self) -> pd.DataFrame:
        """Long table: ``outcome, draw, year, effect, population`` (draw 0 = point estimate)."""
        n, k = self.profile.shape
        return pd.DataFrame({
            "outcome": self.outcome,
            "draw": np.repeat(np.arange(n), k),
            "year": np.tile(self.years, n),
            "effect": self.profile.ravel(),
            "population": np.tile(self.population, n),
            "att": np.repeat(self.att, k),
        })


def imputation_draws(
    sample: pd.DataFrame,
    weights: np.ndarray,
    units: Sequence[str],
    *,
    outcome: str = "",
    value: str = "value",
    population: str = "denominator",
    unit: str = "la_code",
    time: str = "period",
    cohort: str = "first_treated",
    tol: float = 1e-10,
    max_iter: int = 5000,
) -> EffectDraws:
    """Imputation-estimator effects for every row of ``weights`` (one column per LA in ``units``).

    ``sample`` is an estimation sample (:func:`csceval.design.estimation_sample`): one row per LA x
    period with ``value``, the child ``population`` (the rate's denominator) and ``cohort`` (first
    treated period, missing for never treated). LAs of ``units`` absent from ``sample`` get no
    weight; LAs of ``sample`` absent from ``units`` raise.
    """
    need = [c for c in (unit, time, cohort, value, population) if c not in sample.columns]
    if need:
        raise KeyError(f"imputation_draws: the estimation sample lacks column(s) {need}")
    units = [str(u) for u in units]
    extra = sorted(set(sample[unit].astype(str)) - set(units))
    if extra:
        raise ValueError(f"imputation_draws: LAs {extra[:5]} are in the sample but not in the bootstrap units")
    W = np.asarray(weights, dtype=float)
    if W.ndim != 2 or W.shape[1] != len(units):
        raise ValueError(f"imputation_draws: weights must be (n_draws, {len(units)}), got {W.shape}")
    periods = np.sort(sample[time].unique())
    col = {u: j for j, u in enumerate(units)}
    pos = {p: k for k, p in enumerate(periods)}
    N, T = len(units), len(periods)
    Y = np.full((N, T), np.nan)
    P = np.zeros((N, T))
    D = np.zeros((N, T), dtype=bool)
    i = sample[unit].astype(str).map(col).to_numpy()
    t = sample[time].map(pos).to_numpy()
    Y[i, t] = sample[value].to_numpy(dtype=float)
    P[i, t] = sample[population].to_numpy(dtype=float)
    first = pd.to_datetime(sample[cohort])
    D[i, t] = (first.notna() & (pd.to_datetime(sample[time]) >= first)).to_numpy()
    observed = ~np.isnan(Y)
    M = observed & ~D
    Tm = observed & D
    notes = []
    no_base = Tm.any(axis=1) & ~M.any(axis=1)
    if no_base.any():
        notes.append(f"{int(no_base.sum())} treated LA(s) without untreated periods cannot be imputed and are left out")
        Tm[no_base] = False
    if not Tm.any():
        raise ValueError(f"imputation_draws: {outcome or value}: no treated LA-year with an untreated history to impute from")
    Y0 = np.where(M, Y, 0.0)
    Mf = M.astype(float)
    n_unit = Mf.sum(axis=1)
    # alternating projections for alpha (draws x N) and lambda (draws x T)
    alpha = np.where(n_unit > 0, Y0.sum(axis=1) / np.maximum(n_unit, 1), 0.0)[None, :].repeat(len(W), axis=0)
    WM = W @ Mf                                   # (draws, T): weight of untreated obs per period
    if (WM[:, Mf.sum(axis=0) > 0] <= 0).any():
        raise ValueError("imputation_draws: a bootstrap draw has no untreated observation in some period")
    WM_safe = np.where(WM > 0, WM, 1.0)
    lam = np.zeros((len(W), T))
    for _ in range(max_iter):
        lam_new = (W @ Y0 - (W * alpha) @ Mf) / WM_safe
        alpha_new = (Y0.sum(axis=1)[None, :] - lam_new @ Mf.T) / np.maximum(n_unit, 1)[None, :]
        change = max(np.abs(lam_new - lam).max(), np.abs(alpha_new - alpha).max())
        lam, alpha = lam_new, alpha_new
        if change < tol:
            break
    else:
        raise RuntimeError(f"imputation_draws: fixed effects did not converge in {max_iter} iterations (last change {change:g})")
    tm = Tm.astype(float)
    tau = Y[None, :, :] - alpha[:, :, None] - lam[:, None, :]           # (draws, N, T)
    tau = np.where(Tm[None], tau, 0.0)
    wt = W[:, :, None] * tm[None]                                        # weight of each treated LA-year
    att = (wt * tau).sum(axis=(1, 2)) / wt.sum(axis=(1, 2))
    years_of = financial_year(periods)
    years = np.array(sorted({int(y) for y, any_t in zip(years_of, Tm.any(axis=0)) if any_t}))
    profile = np.zeros((len(W), len(years)))
    pop = np.zeros(len(years))
    for k, y in enumerate(years):
        cols = years_of == y
        pw = wt[:, :, cols] * P[None][:, :, cols]
        profile[:, k] = (pw * tau[:, :, cols]).sum(axis=(1, 2)) / pw.sum(axis=(1, 2))
        pop[k] = (P[:, cols] * Tm[:, cols]).sum()
    return EffectDraws(outcome, years, pop, profile, att, tuple(units), tuple(notes))


@dataclass(frozen=True)
class ProgrammeVfm:
    """The value-for-money results of one programme (money in the price base, undiscounted unless PV)."""

    programme: str
    summary: pd.DataFrame
    break_even: pd.DataFrame
    npv_draws: np.ndarray
    point_npv: float
    pv_costs: float
    notes: tuple[str, ...]
    npv_draws_impact_only: np.ndarray | None = None


def _quantiles(values: np.ndarray, interval) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return (np.nan, np.nan)
    return float(np.quantile(v, interval[0])), float(np.quantile(v, interval[1]))


def programme_vfm(
    programme: str,
    draws: Mapping[str, EffectDraws],
    unit_costs: Mapping[str, UnitCost],
    costing: Mapping[str, OutcomeCosting],
    cost_flows: pd.Series,
    *,
    price_base_year: int,
    deflator: GdpDeflator | None,
    rate: float = 0.035,
    declining: bool = True,
    base_year: int | None = None,
    interval: tuple[float, float] = (0.05, 0.95),
    cost_draws: Mapping[str, np.ndarray] | None = None,
) -> ProgrammeVfm:
    """NPV, BCR, cost per outcome avoided and break-even of one programme from joint effect draws.

    ``draws``: the costed outcomes' :class:`EffectDraws` from the same bootstrap weights (joint).
    ``cost_flows``: real programme costs by financial year in ``price_base_year`` prices.
    ``cost_draws``: ``{unit-cost name: (n_draws,) draws relative to its value}``
    (:func:`csceval.economics.unit_cost_draws`), paired with bootstrap draws 1..n; costs not listed,
    or none given, stay at their values. Money is in pounds; the discount base year defaults to the
    first year of costs or effects.
    """
    costed = [o for o in draws if o in costing]
    if not costed:
        raise ValueError(f"programme_vfm: {programme}: none of the outcomes {list(draws)} has a costing (economics.outcome_costing)")
    n = {draws[o].profile.shape[0] for o in costed}
    if len(n) != 1:
        raise ValueError(f"programme_vfm: {programme}: draws of the costed outcomes are not joint (draw counts {sorted(n)})")
    k = cost_flows.astype(float)
    if base_year is None:
        base_year = int(min(k.index.min(), *(draws[o].years.min() for o in costed)))
    unit = pd.concat([
        cost_per_unit_effect([o], draws[o].years, unit_costs, costing,
                             population=pd.Series(draws[o].population, index=draws[o].years),
                             price_base_year=price_base_year, deflator=deflator)
        for o in costed
    ], ignore_index=True)
    n_boot = next(iter(n)) - 1
    factors = _cost_factors(costed, cost_draws, n_boot, unit_costs, costing, price_base_year, deflator)
    settings = {"rate": rate, "base_year": base_year, "declining": declining, "interval": interval}
    dist = vfm_distribution({o: draws[o].profile[1:] for o in costed}, unit, k, cost_factors=factors, **settings)
    impact_only = vfm_distribution({o: draws[o].profile[1:] for o in costed}, unit, k, **settings)
    costs_only = vfm_distribution({o: np.repeat(draws[o].profile[:1], n_boot, axis=0) for o in costed}, unit, k,
                                  cost_factors=factors, **settings)
    point = vfm_distribution({o: draws[o].profile[:1] for o in costed}, unit, k, **settings)
    pv_k = dist.pv_costs
    point_npv, point_bcr = float(point.npv[0]), float(point.bcr[0])
    lo, hi = interval
    common = {"programme": programme, "price_base": f"{price_base_year}-{(price_base_year + 1) % 100:02d} prices",
              "discount_base_year": int(base_year), "draws": int(len(dist.npv))}
    rows = [
        {"measure": "Present value of programme costs", "outcome": "all", "units": "GBP million",
         "point": pv_k / 1e6, "lower": pv_k / 1e6, "upper": pv_k / 1e6, "share_of_draws_positive": np.nan},
        {"measure": "Present value of savings (benefits)", "outcome": "all costed", "units": "GBP million",
         "point": (point_npv + pv_k) / 1e6, **dict(zip(("lower", "upper"), np.array(_quantiles(dist.npv + pv_k, interval)) / 1e6)),
         "share_of_draws_positive": float(np.mean(dist.npv + pv_k > 0))},
        {"measure": "Net present value", "outcome": "all costed", "units": "GBP million",
         "point": point_npv / 1e6, **dict(zip(("lower", "upper"), np.array(_quantiles(dist.npv, interval)) / 1e6)),
         "share_of_draws_positive": dist.prob_npv_positive},
        *(_npv_row(f"Net present value, {label} uncertainty only", part.npv, point_npv, interval)
          for label, part in (("impact", impact_only), ("unit-cost", costs_only))),
        {"measure": "Benefit-cost ratio", "outcome": "all costed", "units": "ratio",
         "point": point_bcr, **dict(zip(("lower", "upper"), _quantiles(dist.bcr, interval))),
         "share_of_draws_positive": float(np.mean(dist.bcr > 1))},
    ]
    be_rows = []
    for o in costed:
        d, c = draws[o], costing[o]
        avoided = -(d.profile * d.population[None, :]).sum(axis=1) / c.scale   # children (or child-years) avoided
        a_lo, a_hi = _quantiles(avoided[1:], interval)
        rows.append({"measure": "Entries avoided (children)" if "starts" in o else "Child-years avoided", "outcome": o,
                     "units": "number", "point": avoided[0], "lower": a_lo, "upper": a_hi,
                     "share_of_draws_positive": float(np.mean(avoided[1:] > 0))})
        cpo = [pv_k / a if a > 0 else np.nan for a in (avoided[0], a_hi, a_lo)]   # monotone decreasing in avoided
        rows.append({"measure": "Programme cost per outcome avoided", "outcome": o, "units": "GBP",
                     "point": cpo[0], "lower": cpo[1], "upper": cpo[2], "share_of_draws_positive": np.nan})
        u = unit[unit["outcome"] == o]
        pv_unit = present_value(u.groupby("year")["cost_change"].sum(), rate, base_year, declining=declining)
        breakeven = -pv_k / pv_unit if pv_unit else np.nan
        mean_effect = float(np.average(d.profile[0], weights=d.population))
        be_rows.append({"programme": programme, "outcome": o, "quantity": c.quantity,
                        "estimated_effect": mean_effect,
                        "estimated_effect_lower": _quantiles(np.average(d.profile[1:], weights=d.population, axis=1), interval)[0],
                        "estimated_effect_upper": _quantiles(np.average(d.profile[1:], weights=d.population, axis=1), interval)[1],
                        "break_even_effect": breakeven,
                        "share_of_draws_beyond_break_even": float(np.mean(np.average(d.profile[1:], weights=d.population, axis=1) <= breakeven))
                        if breakeven < 0 else float(np.mean(np.average(d.profile[1:], weights=d.population, axis=1) >= breakeven)),
                        "note": "effect per 10,000 children in every treated year at which savings on this outcome alone repay the programme"})
    summary = pd.DataFrame(rows).assign(**common)
    summary["lower_quantile"], summary["upper_quantile"] = lo, hi
    multiple = pv_k / (point_npv + pv_k) if (point_npv + pv_k) > 0 else np.nan
    be_rows.append({"programme": programme, "outcome": "all costed", "quantity": "multiple of the estimated effects",
                    "estimated_effect": 1.0, "estimated_effect_lower": np.nan, "estimated_effect_upper": np.nan,
                    "break_even_effect": multiple,
                    "share_of_draws_beyond_break_even": dist.prob_npv_positive,
                    "note": "multiple of all estimated effects at which NPV = 0 (below 1: breaks even with smaller effects)"})
    break_even = pd.DataFrame(be_rows).assign(**common)
    return ProgrammeVfm(programme, summary, break_even, dist.npv, point_npv, pv_k, dist.notes, impact_only.npv)


def _cost_factors(costed, cost_draws, n_boot, unit_costs, costing, price_base_year, deflator) -> dict[str, np.ndarray]:
    """Per-outcome unit-cost factors for the bootstrap draws (all ones without ``cost_draws``)."""
    used = {k for o in costed for k in costing[o].weights()}
    relative = {k: np.ones(n_boot) for k in used}
    for name, values in (cost_draws or {}).items():
        if name in used:
            values = np.asarray(values, dtype=float)
            if values.shape != (n_boot,):
                raise ValueError(f"programme_vfm: unit-cost draws of {name!r} have shape {values.shape}; need ({n_boot},), one per bootstrap draw")
            relative[name] = values
    return outcome_cost_factors(costed, unit_costs, costing, relative, price_base_year=price_base_year, deflator=deflator)


def _npv_row(measure: str, npv_draws: np.ndarray, point_npv: float, interval) -> dict:
    """A summary row of NPV draws (GBP million) with the point NPV."""
    lower, upper = _quantiles(npv_draws, interval)
    return {"measure": measure, "outcome": "all costed", "units": "GBP million", "point": point_npv / 1e6,
            "lower": lower / 1e6, "upper": upper / 1e6, "share_of_draws_positive": float(np.mean(npv_draws > 0))}


def programme_economics(panel: pd.DataFrame, timing: pd.DataFrame, programme: str, spec: Mapping, economics: Mapping,
                        frequency: str = "annual") -> tuple[ProgrammeVfm, pd.DataFrame]:
    """Everything rule ``economics`` computes for one programme, from the panel and its treatment timing.

    Returns the :class:`ProgrammeVfm` and the long table of effect draws (``outcome, draw, year,
    effect, population, att``; not publishable: it is kept under ``results/economics``).
    """
    from csceval.design import estimation_sample
    from csceval.economics import (
        GdpDeflator,
        outcome_costing_from_config,
        programme_cost_flows,
        programme_costs_from_config,
        unit_costs_from_config,
    )

    costing = outcome_costing_from_config(economics["outcome_costing"])
    outcomes = [o for o in spec["outcomes"] if o in costing]
    if not outcomes:
        raise ValueError(f"economics: programme {programme!r} estimates {spec['outcomes']}, none of which has an entry in economics.outcome_costing")
    if programme not in economics["programme_costs"]:
        raise KeyError(f"economics.programme_costs has no entry for programme {programme!r}")
    draws_cfg = {"n_draws": 999, "seed": 20240401, "interval": [0.05, 0.95], **(economics.get("draws") or {})}
    samples = {
        o: estimation_sample(panel, timing, o, spec["window_start"], spec["clean_window_end"], frequency) for o in outcomes
    }
    units = sorted(set().union(*(set(s["la_code"].astype(str)) for s in samples.values())))
    cohort = pd.concat(samples.values()).assign(la_code=lambda d: d["la_code"].astype(str)).groupby("la_code")["first_treated"].first()
    weights = bootstrap_weights(cohort.reindex(units).to_numpy(), int(draws_cfg["n_draws"]), int(draws_cfg["seed"]))
    draws = {o: imputation_draws(samples[o], weights, units, outcome=o) for o in outcomes}
    deflator = GdpDeflator.from_config(economics["gdp_deflator"]) if economics.get("gdp_deflator") else None
    base = int(economics.get("price_base_year", 2024))
    costs = programme_costs_from_config({programme: economics["programme_costs"][programme]})
    flows = programme_cost_flows(costs, price_base_year=base, deflator=deflator)
    unit_costs = unit_costs_from_config(economics["unit_costs"], economics.get("cost_uncertainty"))
    used = sorted({k for o in outcomes for k in costing[o].weights()})
    missing = [k for k in used if k not in unit_costs]
    if missing:
        raise KeyError(f"economics.outcome_costing of {outcomes} uses unit cost(s) {missing}, which economics.unit_costs does not configure")
    cost_seed = draws_cfg.get("cost_seed")
    cost_draws = unit_cost_draws(unit_costs, used, int(draws_cfg["n_draws"]),
                                 int(draws_cfg["seed"]) + 1 if cost_seed is None else int(cost_seed))
    result = programme_vfm(
        programme, draws, unit_costs, costing, flows,
        price_base_year=base, deflator=deflator, rate=float(economics.get("discount_rate", 0.035)),
        declining=bool(economics.get("declining_schedule", True)), base_year=economics.get("discount_base_year"),
        interval=tuple(draws_cfg["interval"]), cost_draws=cost_draws,
    )
    table = pd.concat([d.tidy() for d in draws.values()], ignore_index=True).assign(programme=programme)
    return result, table
