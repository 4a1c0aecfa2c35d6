"""Value for money: from impact estimates to costs, present values and their uncertainty.

HM Treasury Green Book conventions
----------------------------------
* **Real terms.** All money is converted to one price base (``price_base_year``) with the GDP
  deflator before discounting: ``value_in_b = value_in_a x D[b] / D[a]`` (:class:`GdpDeflator`).
  The deflator series is configuration: HM Treasury's *GDP deflators at market prices, and money
  GDP* (published after each Quarterly National Accounts and fiscal event). The numbers in the
  example configuration are placeholders to be replaced from that release (UNVERIFIED).
* **Discounting.** Social time preference rate 3.5% a year for years 0-30, then the Green Book's
  declining long-term schedule: 3.0% for years 31-75, 2.5% for 76-125, 2.0% for 126-200, 1.5% for
  201-300 and 1.0% from 301 (Green Book, Annex 6 / Table 6.1, "The declining long term discount
  rate"). The discount factor of year ``t`` after the base year is
  ``D_t = prod_{s=1..t} 1 / (1 + r_s)``; the base year is undiscounted (``D_0 = 1``). Flows are
  annual totals placed at the year, the Green Book default.
* **Years** are financial years named by the calendar year they start in (``2024`` = 2024-25); the
  config may write ``"2024-25"``.

From impacts to money (:func:`cost_changes`)
--------------------------------------------
An impact estimate is a change in a rate (per 10,000 children aged 0-17, or a percentage). With
the child population ``P`` of the treated LAs, the change in the number of children is
``effect x P / scale`` (``scale`` = 10,000 or 100), the change in units of service is that times
``units_per_child`` (e.g. 52.18 placement-weeks per child looked after for a year: the stock on 31
March stands in for the average stock over the year, an assumption), and the cost change is units
x unit cost in the price base. A unit cost may be a weighted mix of configured unit costs (the
placement mix of children looked after: residential, in-house foster, IFA, kinship); weights may be
negative to cost a *switch* between placement types. Negative cost changes are savings; the
benefits of a programme are the savings (``-cost_change``), its costs the programme costs.

Unit costs (weekly costs by placement type, a care proceedings case, a child protection plan-year,
a social worker hour) are configuration with their source, price year and verification status.
The LAIT weekly unit costs derived from S251 outturn are used with an UNVERIFIED definition
(what is in the numerator, how weeks are counted): say so wherever they are reported.

Uncertainty (:func:`vfm_distribution`) is carried from draws of the impact (bootstrap, or
permutation / placebo draws re-centred on the estimate), never from the point estimate alone, and
from draws of the unit costs (:class:`CostUncertainty`, :func:`unit_cost_draws`), made independently
of the impact draws and of each other and paired with them by draw index.

Unit-cost uncertainty
---------------------
A unit cost may declare how uncertain it is, or take the default of its status
(``economics.cost_uncertainty``):

* **log-normal with a coefficient of variation** ``cv`` (the default): the configured value is the
  *mean*, so ``sigma^2 = ln(1 + cv^2)`` and ``mu = ln(value) - sigma^2 / 2``. Costs are positive and
  right-skewed (a few very expensive placements), and keeping the mean at the configured value
  widens the NPV interval without moving its centre.
* **triangular over a range** ``[low, high]`` with the configured value as the mode: for a source
  that gives a plausible minimum and maximum around a best estimate. Its mean is
  ``(low + value + high) / 3``, so an asymmetric range moves the centre of the NPV draws: intended,
  the range says the value is more likely too low (or too high).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "GREEN_BOOK_DISCOUNT_SCHEDULE",
    "GdpDeflator",
    "OutcomeCosting",
    "CostUncertainty",
    "ScaleEstimate",
    "UnitCost",
    "VfmDistribution",
    "benefit_cost_ratio",
    "break_even",
    "break_even_scale",
    "cost_changes",
    "cost_per_outcome_avoided",
    "cost_per_unit_effect",
    "discount_factors",
    "economies_of_scale",
    "npv",
    "outcome_cost_factors",
    "outcome_costing_from_config",
    "present_value",
    "programme_cost_flows",
    "programme_costs_from_config",
    "unit_cost_draws",
    "unit_costs_from_config",
    "vfm_distribution",
]

#: Green Book declining long-term discount rate: (first year of the band, annual rate).
GREEN_BOOK_DISCOUNT_SCHEDULE: tuple[tuple[int, float], ...] = (
    (0, 0.035),
    (31, 0.030),
    (76, 0.025),
    (126, 0.020),
    (201, 0.015),
    (301, 0.010),
)
#: Weeks in a year (365.25 / 7): placement-weeks per child looked after for a whole year.
WEEKS_PER_YEAR = 365.25 / 7


def _year(key) -> int:
    """A financial year as the calendar year it starts in: 2024, "2024", "2024-25", "202425" -> 2024."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key)
    match = re.fullmatch(r"\s*(\d{4})(?:[-/]?\d{2,4})?\s*", str(key))
    if not match:
        raise ValueError(f"{key!r} is not a year (use 2024 or '2024-25' for the financial year 2024-25)")
    return int(match.group(1))


def _flows(flows) -> pd.Series:
    """Annual flows (mapping or Series year -> value) as a float Series indexed by int year, summed per year."""
    if isinstance(flows, pd.Series):
        items = list(flows.items())
    elif isinstance(flows, Mapping):
        items = list(flows.items())
    else:
        raise TypeError(f"flows must be a mapping or Series of year -> value, got {type(flows).__name__}")
    series = pd.Series([float(v) for _, v in items], index=[_year(k) for k, _ in items], dtype="float64")
    return series.groupby(level=0).sum().sort_index()


# ================================================================================== discounting
def discount_factors(years, base_year: int, rate: float = 0.035, *, declining: bool = True) -> np.ndarray:
    """Green Book discount factors ``D_t`` for ``years`` (``t = year - base_year >= 0``).

    ``rate`` applies to years 1-30 after the base year. With ``declining=True`` (default) later
    years use the Green Book long-term schedule (3.0% from year 31, 2.5% from 76, 2.0% from 126,
    1.5% from 201, 1.0% from 301); with ``declining=False`` ``rate`` applies throughout.
    """
    ts = np.asarray([_year(y) - int(base_year) for y in np.atleast_1d(years)], dtype=int)
    if (ts < 0).any():
        raise ValueError(f"flows before the base year {base_year} cannot be discounted (Green Book: past costs are sunk); years {sorted(set(ts[ts < 0] + base_year))}")
    horizon = int(ts.max(initial=0))
    rates = np.full(horizon + 1, float(rate))
    if declining:
        for first, r in GREEN_BOOK_DISCOUNT_SCHEDULE[1:]:
            rates[first:] = r
    growth = np.ones(horizon + 1)
    if horizon:
        growth[1:] = np.cumprod(1.0 + rates[1:])
    return 1.0 / growth[ts]


def present_value(flows, rate: float = 0.035, base_year: int | None = None, *, declining: bool = True) -> float:
    """Present value at ``base_year`` (default: the first year of ``flows``) of annual flows."""
    series = _flows(flows)
    if series.empty:
        return 0.0
    base = int(series.index.min()) if base_year is None else _year(base_year)
    return float((series.to_numpy() * discount_factors(series.index, base, rate, declining=declining)).sum())


def npv(flows, rate: float = 0.035, base_year: int | None = None, *, declining: bool = True) -> float:
    """Net present value of net annual flows (benefits minus costs), Green Book discounting.

    .. math:: NPV = \\sum_t D_t (B_t - C_t), \\quad D_t = \\prod_{s=1}^{t} (1 + r_s)^{-1}

    A constant flow ``C`` in years 1..n (n <= 30) has ``NPV = C (1 - (1+r)^{-n}) / r``.
    """
    return present_value(flows, rate, base_year, declining=declining)


def benefit_cost_ratio(benefits, costs, rate: float = 0.035, base_year: int | None = None, *, declining: bool = True) -> float:
    """``PV(benefits) / PV(costs)`` at a common base year (default: the first year of either)."""
    b, c = _flows(benefits), _flows(costs)
    if base_year is None:
        base_year = int(min(b.index.min() if len(b) else np.inf, c.index.min() if len(c) else np.inf))
    pv_costs = present_value(c, rate, base_year, declining=declining)
    if pv_costs <= 0:
        raise ValueError(f"benefit_cost_ratio: the present value of costs is {pv_costs:g}; a ratio needs positive costs")
    return present_value(b, rate, base_year, declining=declining) / pv_costs


def cost_per_outcome_avoided(
    costs,
    outcomes_avoided,
    rate: float = 0.035,
    base_year: int | None = None,
    *,
    declining: bool = True,
    discount_outcomes: bool = False,
) -> float:
    """Present value of programme costs per outcome avoided (e.g. per care entry avoided).

    ``outcomes_avoided``: annual numbers avoided (positive = fewer). Outcomes are summed
    undiscounted unless ``discount_outcomes`` (the Green Book allows both; state which). Returns
    NaN when no outcome was avoided in total (the ratio has no meaning then).
    """
    c, o = _flows(costs), _flows(outcomes_avoided)
    if base_year is None:
        base_year = int(min(c.index.min(), o.index.min()))
    total = present_value(o, rate, base_year, declining=declining) if discount_outcomes else float(o.sum())
    if total <= 0:
        return float("nan")
    return present_value(c, rate, base_year, declining=declining) / total


# ========================================================================== prices and unit costs
@dataclass(frozen=True)
class GdpDeflator:
    """A GDP deflator series (financial year -> index) for price-base conversion.

    Attributes
    ----------
    index : mapping
        Financial year (start year) -> index level (any base).
    source : str
        Where the series comes from (HM Treasury GDP deflators release and its date).
    status : str
        ``"verified"`` or ``"UNVERIFIED"`` (placeholders).
    growth_after : float or None
        If set, years after the last one in ``index`` are extended at this annual growth rate (an
        assumption, e.g. the OBR forecast): state it wherever results use it.
    """

    index: Mapping[int, float]
    source: str = ""
    status: str = "UNVERIFIED"
    growth_after: float | None = None

    def __post_init__(self) -> None:
        clean = {_year(k): float(v) for k, v in dict(self.index).items()}
        if not clean or any(v <= 0 for v in clean.values()):
            raise ValueError("GDP deflator: need at least one year and positive index values")
        object.__setattr__(self, "index", dict(sorted(clean.items())))

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "GdpDeflator":
        """From ``economics.gdp_deflator``: ``series`` (year -> index), ``source``, ``status``, ``growth_after``."""
        return cls(cfg["series"], str(cfg.get("source", "")), str(cfg.get("status", "UNVERIFIED")), cfg.get("growth_after"))

    def level(self, year) -> float:
        """Index level of ``year`` (extended at ``growth_after`` beyond the series if configured)."""
        y = _year(year)
        if y in self.index:
            return self.index[y]
        last = max(self.index)
        if y > last and self.growth_after is not None:
            return self.index[last] * (1.0 + float(self.growth_after)) ** (y - last)
        raise KeyError(f"GDP deflator has no value for {y} (series covers {min(self.index)}-{last}); extend economics.gdp_deflator.series")

    def factor(self, from_year, to_year) -> float:
        """Multiply a value in ``from_year`` prices by this to get ``to_year`` prices."""
        return self.level(to_year) / self.level(from_year)

    def convert(self, value, from_year, to_year):
        """``value`` (number or array) from ``from_year`` prices to ``to_year`` prices."""
        return value * self.factor(from_year, to_year)

    def rebased(self, year) -> "GdpDeflator":
        """The same series with ``year`` = 100 (conversions are unchanged)."""
        ref = self.level(year)
        return GdpDeflator({y: 100.0 * v / ref for y, v in self.index.items()}, self.source, self.status, self.growth_after)


#: Distributions a unit cost's uncertainty may take (see the module docstring).
COST_DISTRIBUTIONS = ("lognormal", "triangular")


@dataclass(frozen=True)
class CostUncertainty:
    """How uncertain a unit cost is: a log-normal with mean = value and ``cv``, or a triangular over ``[low, high]``.

    Attributes
    ----------
    distribution : ``"lognormal"`` or ``"triangular"``
    cv : float or None
        Coefficient of variation (sd / mean) of the log-normal; 0 means no uncertainty.
    low, high : float or None
        Range of the triangular, whose mode is the configured value (``low <= value <= high``).
    """

    distribution: str
    cv: float | None = None
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.distribution not in COST_DISTRIBUTIONS:
            raise ValueError(f"unit-cost uncertainty: distribution must be one of {COST_DISTRIBUTIONS}, got {self.distribution!r}")
        if self.distribution == "lognormal" and (self.cv is None or self.cv < 0 or self.low is not None or self.high is not None):
            raise ValueError("unit-cost uncertainty: a lognormal needs cv >= 0 (and no range)")
        if self.distribution == "triangular" and (self.low is None or self.high is None or self.cv is not None or self.low > self.high):
            raise ValueError("unit-cost uncertainty: a triangular needs range [low, high] with low <= high (and no cv)")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, where: str = "unit cost") -> "CostUncertainty | None":
        """``{distribution, cv}`` or ``{distribution, range: [low, high]}`` (distribution defaults by key); None stays None."""
        if cfg is None:
            return None
        unknown = sorted(set(cfg) - {"distribution", "cv", "range"})
        if unknown:
            raise ValueError(f"{where}: unknown uncertainty key(s) {unknown}; use distribution with cv or range")
        rng = cfg.get("range")
        distribution = str(cfg.get("distribution", "triangular" if rng is not None else "lognormal"))
        if rng is not None and (len(rng) != 2):
            raise ValueError(f"{where}: range must be [low, high], got {rng!r}")
        try:
            return cls(distribution, None if cfg.get("cv") is None else float(cfg["cv"]),
                       None if rng is None else float(rng[0]), None if rng is None else float(rng[1]))
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None

    def is_certain(self, value: float) -> bool:
        """True if every draw equals ``value`` (cv 0, or a range collapsed on the value)."""
        if self.distribution == "lognormal":
            return self.cv == 0
        return self.low == self.high == value

    def draw(self, value: float, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws of a unit cost whose configured (point) value is ``value``."""
        if self.is_certain(value):
            return np.full(n, float(value))
        if self.distribution == "lognormal":
            sigma2 = math.log1p(self.cv**2)
            return rng.lognormal(math.log(value) - sigma2 / 2, math.sqrt(sigma2), n)
        if not self.low <= value <= self.high:
            raise ValueError(f"triangular unit-cost range [{self.low:g}, {self.high:g}] does not contain the value {value:g} (its mode)")
        return rng.triangular(self.low, value, self.high, n)


@dataclass(frozen=True)
class UnitCost:
    """One configured unit cost with where it comes from and, optionally, how uncertain it is."""

    name: str
    value: float
    unit: str
    price_year: int
    source: str
    status: str = "UNVERIFIED"
    note: str = ""
    uncertainty: CostUncertainty | None = None

    def in_prices_of(self, year, deflator: GdpDeflator | None) -> float:
        """The cost in ``year`` prices (unchanged if ``year`` is the price year)."""
        if math.isnan(self.value):
            raise ValueError(f"unit cost {self.name!r} has no value ({self.status}: {self.source}); fill in economics.unit_costs.{self.name}.value")
        if _year(year) == self.price_year:
            return float(self.value)
        if deflator is None:
            raise ValueError(f"unit cost {self.name!r} is in {self.price_year} prices; a GDP deflator is needed for {year} prices")
        return float(deflator.convert(self.value, self.price_year, year))


def unit_costs_from_config(cfg: Mapping[str, Mapping[str, Any]],
                           default_uncertainty: Mapping[str, Mapping[str, Any] | None] | None = None) -> dict[str, UnitCost]:
    """``economics.unit_costs`` -> ``{name: UnitCost}`` (keys ``value, unit, price_year, source, status, note, uncertainty``).

    ``value: null`` records a unit cost that has no source yet: it is kept (so the gap is visible in
    the config and the manifest) and raises only if an outcome is costed with it. A cost without
    an ``uncertainty`` takes ``default_uncertainty[status]`` (``economics.cost_uncertainty``), if any;
    ``uncertainty: null`` declares a cost certain.
    """
    defaults = default_uncertainty or {}
    out = {}
    for name, spec in cfg.items():
        missing = [k for k in ("value", "unit", "price_year", "source") if k not in spec]
        if missing:
            raise ValueError(f"economics.unit_costs.{name}: missing {missing}")
        value = float("nan") if spec["value"] is None else float(spec["value"])
        if value < 0:
            raise ValueError(f"economics.unit_costs.{name}.value: a unit cost cannot be negative, got {value}")
        status = str(spec.get("status", "UNVERIFIED"))
        uncertainty = spec["uncertainty"] if "uncertainty" in spec else defaults.get(status)
        out[name] = UnitCost(str(name), value, str(spec["unit"]), _year(spec["price_year"]), str(spec["source"]),
                             status, str(spec.get("note", "")),
                             CostUncertainty.from_config(uncertainty, f"economics.unit_costs.{name}.uncertainty"))
    return out


def unit_cost_draws(unit_costs: Mapping[str, UnitCost], names: Sequence[str], n_draws: int, seed: int) -> dict[str, np.ndarray]:
    """``{name: (n_draws,) draws / value}``: each named unit cost's draws relative to its configured value.

    Costs are drawn independently of each other (an assumption: placement costs of different types
    probably move together, which would widen the NPV interval further) and of the impact draws; draw
    ``d`` is meant to be paired with impact draw ``d``. Each cost has its own generator, seeded with
    ``seed`` and its name, so its draws do not depend on which other costs are drawn. A cost without
    uncertainty gets exact ones.
    """
    out = {}
    for name in sorted(set(names)):
        cost = unit_costs[name]
        if cost.uncertainty is None or cost.uncertainty.is_certain(cost.value):
            out[name] = np.ones(n_draws)
            continue
        if not cost.value > 0:
            raise ValueError(f"unit cost {name!r}: an uncertain cost needs a positive value to draw around, got {cost.value:g}")
        rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=tuple(name.encode())))
        out[name] = cost.uncertainty.draw(cost.value, n_draws, rng) / cost.value
    return out


@dataclass(frozen=True)
class OutcomeCosting:
    """How a change in one outcome turns into units of service and money.

    Attributes
    ----------
    outcome : str
        Outcome name as in the estimates table (``cla_rate_per_10k``).
    unit_cost : str or mapping
        A unit-cost name, or ``{unit-cost name: weight}`` (a mix, e.g. the placement mix; weights
        may be negative to cost a switch between types).
    units_per_child : float
        Units of service per child per year (52.18 placement-weeks for a stock of children looked
        after; 1 for a flow such as a care proceedings case or a CP plan-year).
    scale : float
        The outcome's denominator: 10,000 for rates per 10k, 100 for percentages.
    quantity : str
        What the units are ("placement-weeks", "care proceedings cases"), for tables.
    """

    outcome: str
    unit_cost: str | Mapping[str, float]
    units_per_child: float = 1.0
    scale: float = 10_000.0
    quantity: str = "units"

    def weights(self) -> dict[str, float]:
        return {self.unit_cost: 1.0} if isinstance(self.unit_cost, str) else {str(k): float(v) for k, v in self.unit_cost.items()}


def outcome_costing_from_config(cfg: Mapping[str, Mapping[str, Any]]) -> dict[str, OutcomeCosting]:
    """``economics.outcome_costing`` -> ``{outcome: OutcomeCosting}``."""
    return {
        str(o): OutcomeCosting(str(o), spec["unit_cost"], float(spec.get("units_per_child", 1.0)), float(spec.get("scale", 10_000)),
                               str(spec.get("quantity", "units")))
        for o, spec in cfg.items()
    }


def _population_lookup(population, years) -> dict[int, float]:
    if population is None:
        raise ValueError("cost_changes: give the child population (a `population` column in impacts, or the `population` argument)")
    if isinstance(population, (int, float, np.integer, np.floating)):
        return {y: float(population) for y in years}
    pops = _flows(population)
    missing = sorted(set(years) - set(pops.index))
    if missing:
        raise KeyError(f"cost_changes: no child population for year(s) {missing}")
    return {int(y): float(v) for y, v in pops.items()}


def cost_changes(
    impacts: pd.DataFrame,
    unit_costs: Mapping[str, UnitCost],
    costing: Mapping[str, OutcomeCosting],
    *,
    population=None,
    price_base_year: int | None = None,
    deflator: GdpDeflator | None = None,
) -> pd.DataFrame:
    """Cost changes by outcome and year implied by impact estimates.

    Parameters
    ----------
    impacts : DataFrame
        Columns ``outcome``, ``year``, ``effect`` (in the outcome's units, e.g. per 10,000
        children), optionally ``population`` (children aged 0-17 in the treated LAs) and any
        grouping columns (``la_code``...), which are kept.
    unit_costs : dict of UnitCost
    costing : dict of OutcomeCosting, keyed by outcome
    population : number, mapping year -> number or Series, optional
        Used when ``impacts`` has no ``population`` column.
    price_base_year : int, optional
        Price base of the result (default: the price year of the first unit cost used).
    deflator : GdpDeflator, optional
        Needed when unit costs are in other price years.

    Returns
    -------
    DataFrame
        The impact columns plus ``population``, ``children`` (change in the number of children),
        ``units`` (change in units of service), ``quantity``, ``unit_cost`` (per unit, price
        base), ``price_base_year`` and ``cost_change`` (negative = saving).

    Examples
    --------
    -2 per 10,000 on ``cla_rate_per_10k`` with 50,000 children is -10 children, x 52.18 weeks =
    -521.8 placement-weeks, x GBP 1,000 a week = GBP -521,786 a year.
    """
    need = [c for c in ("outcome", "year", "effect") if c not in impacts.columns]
    if need:
        raise KeyError(f"cost_changes: impacts lack column(s) {need}")
    out = impacts.copy()
    out["year"] = [_year(y) for y in out["year"]]
    unknown = sorted(set(out["outcome"]) - set(costing))
    if unknown:
        raise KeyError(f"cost_changes: no costing configured for outcome(s) {unknown} (economics.outcome_costing)")
    if price_base_year is None:
        first = costing[out["outcome"].iloc[0]].weights()
        price_base_year = unit_costs[next(iter(first))].price_year
    if "population" not in out.columns:
        lookup = _population_lookup(population, sorted(set(out["year"])))
        out["population"] = [lookup[y] for y in out["year"]]
    per_unit = {}
    for outcome in out["outcome"].unique():
        c = costing[outcome]
        missing = [k for k in c.weights() if k not in unit_costs]
        if missing:
            raise KeyError(f"cost_changes: outcome {outcome!r} uses unit cost(s) {missing}, which are not configured")
        per_unit[outcome] = sum(w * unit_costs[k].in_prices_of(price_base_year, deflator) for k, w in c.weights().items())
    scale = out["outcome"].map(lambda o: costing[o].scale).astype(float)
    out["children"] = out["effect"].astype(float) * out["population"].astype(float) / scale
    out["units"] = out["children"] * out["outcome"].map(lambda o: costing[o].units_per_child).astype(float)
    out["quantity"] = out["outcome"].map(lambda o: costing[o].quantity)
    out["unit_cost"] = out["outcome"].map(per_unit).astype(float)
    out["price_base_year"] = int(price_base_year)
    out["cost_change"] = out["units"] * out["unit_cost"]
    return out.reset_index(drop=True)


def cost_per_unit_effect(
    outcomes: Sequence[str],
    years: Sequence[int],
    unit_costs: Mapping[str, UnitCost],
    costing: Mapping[str, OutcomeCosting],
    *,
    population=None,
    price_base_year: int | None = None,
    deflator: GdpDeflator | None = None,
) -> pd.DataFrame:
    """:func:`cost_changes` of an effect of +1 (outcome unit) in every year: the linear map from effects to money."""
    impacts = pd.DataFrame([(o, _year(y), 1.0) for o in outcomes for y in years], columns=["outcome", "year", "effect"])
    return cost_changes(impacts, unit_costs, costing, population=population, price_base_year=price_base_year, deflator=deflator)


def outcome_cost_factors(
    outcomes: Sequence[str],
    unit_costs: Mapping[str, UnitCost],
    costing: Mapping[str, OutcomeCosting],
    factors: Mapping[str, np.ndarray],
    *,
    price_base_year: int,
    deflator: GdpDeflator | None = None,
) -> dict[str, np.ndarray]:
    """Draws of each outcome's cost per unit of service relative to its point value.

    With unit-cost draws ``f_k`` relative to the values (:func:`unit_cost_draws`) and the mix
    weights ``w_k`` of an outcome, its cost per unit in draw ``d`` is ``sum_k w_k U_k f_kd`` and the
    factor is that over ``sum_k w_k U_k`` (``U_k`` in the price base). A factor multiplies the
    cost change of every year of the outcome (unit costs do not vary by year).
    """
    out = {}
    for o in outcomes:
        weights = costing[o].weights()
        prices = {k: w * unit_costs[k].in_prices_of(price_base_year, deflator) for k, w in weights.items()}
        point = sum(prices.values())
        if point == 0:
            raise ValueError(f"outcome {o!r}: its unit-cost mix {weights} is worth 0, so cost draws cannot be relative to it")
        out[o] = sum(v * np.asarray(factors[k], dtype=float) for k, v in prices.items()) / point
    return out


def programme_costs_from_config(cfg: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """``economics.programme_costs`` -> long table ``programme, la_code, year, cost, price_year, source, status``.

    Each programme has ``price_year`` (a year, or ``cash`` when each year's cost is in that year's
    prices), ``source``, ``status`` and ``by_la: {la_code: {year: cost}}``.
    """
    rows = []
    for programme, spec in cfg.items():
        price = spec.get("price_year", "cash")
        for la_code, by_year in (spec.get("by_la") or {}).items():
            for year, cost in by_year.items():
                y = _year(year)
                rows.append((str(programme), str(la_code), y, float(cost), y if str(price) == "cash" else _year(price),
                             str(spec.get("source", "")), str(spec.get("status", "UNVERIFIED"))))
    return pd.DataFrame(rows, columns=["programme", "la_code", "year", "cost", "price_year", "source", "status"])


def programme_cost_flows(costs: pd.DataFrame, *, price_base_year: int, deflator: GdpDeflator | None = None, programme: str | None = None) -> pd.Series:
    """Real programme costs by year (price base ``price_base_year``), summed over LAs."""
    table = costs if programme is None else costs[costs["programme"] == programme]
    if table.empty:
        raise ValueError(f"no programme costs{'' if programme is None else f' for {programme!r}'}")
    real = [
        cost if int(py) == int(price_base_year) else _require(deflator, "programme costs").convert(cost, py, price_base_year)
        for cost, py in zip(table["cost"], table["price_year"])
    ]
    return pd.Series(real, index=table["year"].astype(int).to_numpy()).groupby(level=0).sum().sort_index().rename("cost")


def _require(deflator, what):
    if deflator is None:
        raise ValueError(f"{what} are in several price years; a GDP deflator is needed")
    return deflator


# ===================================================================================== break-even
def _unit_pv(unit: pd.DataFrame, outcome: str, rate, base_year, declining) -> float:
    rows = unit[unit["outcome"] == outcome]
    if rows.empty:
        raise KeyError(f"no cost per unit effect for outcome {outcome!r}")
    return present_value(rows.groupby("year")["cost_change"].sum(), rate, base_year, declining=declining)


def break_even(
    programme_costs,
    unit_cost_changes: pd.DataFrame,
    *,
    outcome: str | None = None,
    rate: float = 0.035,
    base_year: int | None = None,
    declining: bool = True,
) -> float:
    """The effect size (outcome units, the same in every year) at which NPV = 0.

    With ``c_t`` the cost change of a +1 effect in year t (:func:`cost_per_unit_effect`) and
    ``K`` the programme costs, ``NPV(e) = -e PV(c) - PV(K)`` so ``e* = -PV(K) / PV(c)``: a
    reduction (negative) for outcomes that cost money. Effects beyond ``e*`` (larger reductions)
    give a positive NPV.
    """
    outcomes = list(dict.fromkeys(unit_cost_changes["outcome"]))
    if outcome is None:
        if len(outcomes) != 1:
            raise ValueError(f"break_even: several outcomes {outcomes}; name one (or use break_even_scale)")
        outcome = outcomes[0]
    k = _flows(programme_costs)
    if base_year is None:
        base_year = int(min(k.index.min(), unit_cost_changes["year"].min()))
    pv_unit = _unit_pv(unit_cost_changes, outcome, rate, base_year, declining)
    if pv_unit == 0:
        return float("nan")
    return -present_value(k, rate, base_year, declining=declining) / pv_unit


def break_even_scale(
    effects: Mapping[str, float],
    programme_costs,
    unit_cost_changes: pd.DataFrame,
    *,
    rate: float = 0.035,
    base_year: int | None = None,
    declining: bool = True,
) -> float:
    """The multiple ``m`` of the estimated effects (``{outcome: effect}``) at which NPV = 0.

    ``m < 1``: the programme breaks even with smaller effects than estimated.
    """
    k = _flows(programme_costs)
    if base_year is None:
        base_year = int(min(k.index.min(), unit_cost_changes["year"].min()))
    pv_effects = sum(float(e) * _unit_pv(unit_cost_changes, o, rate, base_year, declining) for o, e in effects.items())
    if pv_effects == 0:
        return float("nan")
    return -present_value(k, rate, base_year, declining=declining) / pv_effects


# =================================================================================== from draws
@dataclass(frozen=True)
class VfmDistribution:
    """NPV and BCR over draws of the impact: report these, not the point estimate alone."""

    npv: np.ndarray
    bcr: np.ndarray
    pv_costs: float
    interval: tuple[float, float]
    point_npv: float | None = None
    point_bcr: float | None = None
    draws_kind: str = "effect"
    base_year: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def prob_npv_positive(self) -> float:
        """Share of draws with NPV > 0."""
        return float(np.mean(self.npv > 0))

    def summary(self) -> pd.DataFrame:
        """One row per statistic (``npv``, ``bcr``): point, mean, median, interval, sd, P(NPV > 0), draws."""
        lo, hi = self.interval
        rows = []
        for name, values, point in (("npv", self.npv, self.point_npv), ("bcr", self.bcr, self.point_bcr)):
            rows.append({
                "statistic": name,
                "point": np.nan if point is None else point,
                "mean": float(np.mean(values)),
                "median": float(np.median(values)),
                f"p{100 * lo:g}": float(np.quantile(values, lo)),
                f"p{100 * hi:g}": float(np.quantile(values, hi)),
                "sd": float(np.std(values, ddof=1)) if len(values) > 1 else np.nan,
                "prob_npv_positive": self.prob_npv_positive,
                "n_draws": int(len(values)),
            })
        return pd.DataFrame(rows)


def vfm_distribution(
    effect_draws: Mapping[str, Sequence[float] | np.ndarray],
    unit_cost_changes: pd.DataFrame,
    programme_costs,
    *,
    rate: float = 0.035,
    base_year: int | None = None,
    declining: bool = True,
    interval: tuple[float, float] = (0.05, 0.95),
    draws_kind: str = "effect",
    point_effects: Mapping[str, float] | None = None,
    cost_factors: Mapping[str, np.ndarray] | None = None,
) -> VfmDistribution:
    """Distribution of NPV and BCR from draws of the impact of one or more outcomes.

    Parameters
    ----------
    effect_draws : dict
        ``{outcome: draws}``; draws of different outcomes are joint (draw ``d`` of every outcome
        comes from the same resample), so all arrays have the same number of draws. A 1-D array
        is an effect applied to every year; a 2-D array ``(n_draws, n_years)`` gives a profile
        over the years of ``unit_cost_changes`` for that outcome, in ascending order.
    unit_cost_changes : DataFrame
        :func:`cost_per_unit_effect` (``outcome, year, cost_change`` for a +1 effect).
    programme_costs : mapping or Series year -> real cost
    draws_kind : ``"effect"`` or ``"null"``
        ``"effect"``: bootstrap draws of the effect itself. ``"null"``: permutation / placebo draws
        under no effect; they are re-centred on ``point_effects`` (``point + draw - mean(draw)``),
        assuming the estimation error has the same distribution as the placebo estimates (the
        Conley-Taber argument behind few-treated inference): an assumption to state.
    point_effects : dict, optional
        The point estimates (required for ``"null"``); also reported as ``point``.
    cost_factors : dict, optional
        ``{outcome: (n_draws,) draws}`` of the outcome's unit cost relative to the one in
        ``unit_cost_changes`` (:func:`outcome_cost_factors`), paired with the effect draws by index:
        draw ``d``'s savings on the outcome are multiplied by its factor ``d``. Outcomes not listed
        (or no argument) keep their point unit cost.

    Notes
    -----
    Benefits are the savings ``B_d = -sum_o f_{o,d} sum_t e_{o,t,d} c_{o,t} D_t`` (``f = 1`` without
    cost factors); ``NPV_d = B_d - PV(K)``,
    ``BCR_d = B_d / PV(K)``. Intervals are the ``interval`` quantiles of the draws (numpy's linear
    interpolation).
    """
    if draws_kind not in ("effect", "null"):
        raise ValueError(f"draws_kind must be 'effect' or 'null', got {draws_kind!r}")
    if draws_kind == "null" and point_effects is None:
        raise ValueError("vfm_distribution: permutation (null) draws need point_effects to be re-centred on")
    k = _flows(programme_costs)
    if base_year is None:
        base_year = int(min(k.index.min(), unit_cost_changes["year"].min()))
    pv_k = present_value(k, rate, base_year, declining=declining)
    if pv_k <= 0:
        raise ValueError(f"vfm_distribution: present value of programme costs is {pv_k:g}; need positive costs")
    n_draws = {len(np.asarray(v)) for v in effect_draws.values()}
    if len(n_draws) != 1:
        raise ValueError(f"vfm_distribution: every outcome needs the same number of (joint) draws, got {sorted(n_draws)}")
    benefits = np.zeros(n_draws.pop())
    point_b = 0.0 if point_effects is not None else None
    for outcome, draws in effect_draws.items():
        rows = unit_cost_changes[unit_cost_changes["outcome"] == outcome]
        if rows.empty:
            raise KeyError(f"vfm_distribution: no cost per unit effect for outcome {outcome!r}")
        per_year = rows.groupby("year")["cost_change"].sum().sort_index()
        weights = per_year.to_numpy() * discount_factors(per_year.index, base_year, rate, declining=declining)
        d = np.asarray(draws, dtype=float)
        if draws_kind == "null":
            d = float(point_effects[outcome]) + (d - d.mean(axis=0))
        if d.ndim == 1:
            saving = d * weights.sum()
        elif d.ndim == 2 and d.shape[1] == len(weights):
            saving = d @ weights
        else:
            raise ValueError(f"vfm_distribution: draws of {outcome!r} have shape {d.shape}; need (n_draws,) or (n_draws, {len(weights)})")
        if cost_factors is not None and outcome in cost_factors:
            factor = np.asarray(cost_factors[outcome], dtype=float)
            if factor.shape != saving.shape:
                raise ValueError(f"vfm_distribution: cost factors of {outcome!r} have shape {factor.shape}; need {saving.shape} (one per draw)")
            saving = saving * factor
        benefits -= saving
        if point_effects is not None:
            point_b -= float(point_effects[outcome]) * weights.sum()
    notes = []
    if draws_kind == "null":
        notes.append("permutation draws re-centred on the point estimate (error distribution assumed equal to the placebo distribution)")
    return VfmDistribution(
        npv=benefits - pv_k,
        bcr=benefits / pv_k,
        pv_costs=pv_k,
        interval=tuple(interval),
        point_npv=None if point_b is None else point_b - pv_k,
        point_bcr=None if point_b is None else point_b / pv_k,
        draws_kind=draws_kind,
        base_year=int(base_year),
        notes=tuple(notes),
    )


# =============================================================================== RCC: scale
@dataclass(frozen=True)
class ScaleEstimate:
    """Log-log regression ``log(cost per placement) = a + b log(cooperative size) + e``."""

    elasticity: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float
    intercept: float
    intercept_se: float
    n: int
    r_squared: float
    df_resid: int
    alpha: float

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def economies_of_scale(cost_per_placement, cooperative_size, *, alpha: float = 0.05) -> ScaleEstimate:
    """Elasticity of cost per placement with respect to the size of the commissioning unit.

    OLS of ``log(cost)`` on ``log(size)`` with an intercept. ``b < 0``: economies of scale (a
    doubling of size changes cost per placement by ``2^b - 1``). Standard errors are the classical
    homoskedastic OLS ones, ``sqrt(s^2 (X'X)^{-1})`` with ``s^2 = RSS / (n - 2)``; intervals and
    p-values use the t distribution with ``n - 2`` degrees of freedom. This is a descriptive,
    cross-sectional association (size is not randomly assigned; with a handful of cooperatives the
    interval is wide and the normality behind it unchecked), not a causal effect of joining an RCC.
    """
    y = np.asarray(cost_per_placement, dtype=float)
    x = np.asarray(cooperative_size, dtype=float)
    if y.shape != x.shape or y.ndim != 1:
        raise ValueError(f"economies_of_scale: need two 1-D arrays of equal length, got {y.shape} and {x.shape}")
    ok = np.isfinite(y) & np.isfinite(x)
    y, x = y[ok], x[ok]
    if (y <= 0).any() or (x <= 0).any():
        raise ValueError("economies_of_scale: costs and sizes must be positive to take logs")
    n = len(y)
    if n < 3:
        raise ValueError(f"economies_of_scale: need at least 3 units with cost and size, got {n}")
    X = np.column_stack([np.ones(n), np.log(x)])
    ly = np.log(y)
    beta, *_ = np.linalg.lstsq(X, ly, rcond=None)
    resid = ly - X @ beta
    df = n - 2
    s2 = float(resid @ resid) / df
    cov = s2 * np.linalg.inv(X.T @ X)
    se = np.sqrt(np.diag(cov))
    tcrit = stats.t.ppf(1 - alpha / 2, df)
    tstat = beta[1] / se[1] if se[1] > 0 else math.inf
    tss = float(((ly - ly.mean()) ** 2).sum())
    return ScaleEstimate(
        elasticity=float(beta[1]),
        std_error=float(se[1]),
        ci_lower=float(beta[1] - tcrit * se[1]),
        ci_upper=float(beta[1] + tcrit * se[1]),
        p_value=float(2 * stats.t.sf(abs(tstat), df)),
        intercept=float(beta[0]),
        intercept_se=float(se[0]),
        n=int(n),
        r_squared=float(1 - (resid @ resid) / tss) if tss > 0 else float("nan"),
        df_resid=int(df),
        alpha=float(alpha),
    )
