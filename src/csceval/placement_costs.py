"""Regional Care Cooperatives: expenditure on children looked after per child-week against commissioning size.

Definition
----------
**Cost per child-week** of a unit in financial year ``y`` = its S251 expenditure on children looked
after in ``y`` (the configured line, by default "Total Children Looked After", gross
``total_expenditure``; :func:`csceval.ingest.s251.cla_expenditure`) divided by its children looked
after on 31 March at the end of ``y`` (the panel's ``cla_rate_per_10k`` numerator) x 365.25 / 7
weeks. The 31 March stock stands in for the average number looked after during the year (the same
assumption as the CLA costing in :mod:`csceval.economics`), and the numerator holds more than
placement fees (the line's other services), so this is expenditure per child-week looked after,
not a placement price. A **cooperative**'s cost is its members' summed expenditure over their
summed child-weeks; its **size** is the members' summed number of children looked after.

Economies of scale
------------------
The elasticity of cost per child-week with respect to size is the log-log OLS slope over LAs, each
LA being its own commissioning unit in year ``y`` (:func:`csceval.economics.economies_of_scale`):
a cross-sectional association, not the effect of joining a cooperative. Cooperatives are shown
next to the LA fit with the cost the fit predicts at their size; a cooperative is usually larger
than any LA, so that prediction extrapolates, and the table says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from csceval.economics import WEEKS_PER_YEAR, ScaleEstimate, economies_of_scale
from csceval.reference import la_name
from csceval.vfm import financial_year

__all__ = ["PlacementCosts", "cla_stock", "placement_costs", "skipped"]

#: The panel outcome whose numerator is the number of children looked after on 31 March.
CLA_OUTCOME = "cla_rate_per_10k"
DEFINITION = ("S251 expenditure on children looked after in the financial year / (children looked after on 31 March "
              "at its end x 52.18 weeks)")


@dataclass(frozen=True)
class PlacementCosts:
    """Cost per child-week of every LA and cooperative in one year, and the scale elasticity over LAs.

    Attributes
    ----------
    units : DataFrame
        ``unit_code, unit_type, name, members, financial_year, children_looked_after, expenditure,
        weekly_cost, predicted_weekly_cost, in_fit, note`` (money in pounds).
    estimate : ScaleEstimate or None
        None when the costs could not be computed (``notes`` says why).
    year : int or None
    notes : tuple of str
    """

    units: pd.DataFrame
    estimate: ScaleEstimate | None
    year: int | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def estimate_table(self, true_elasticity: float | None = None) -> pd.DataFrame:
        """One row: the elasticity, its interval, the change per doubling of size, the definition and notes."""
        e = self.estimate
        row: dict[str, Any] = {"financial_year": self.year, "definition": DEFINITION,
                               "local_authorities_in_fit": np.nan if e is None else e.n}
        for key in ("elasticity", "std_error", "ci_lower", "ci_upper", "p_value", "r_squared"):
            row[key] = np.nan if e is None else getattr(e, key)
        row["ci_level"] = np.nan if e is None else 1 - e.alpha
        row["cost_change_per_doubling"] = np.nan if e is None else 2.0**e.elasticity - 1
        row["true_elasticity"] = np.nan if true_elasticity is None else float(true_elasticity)
        row["note"] = "; ".join(self.notes)
        return pd.DataFrame([row])


#: In a sub-annual panel, the month in which the period ending 31 March starts, by periods per year.
_LAST_PERIOD_MONTH = {4: 1, 12: 3}


def cla_stock(panel: pd.DataFrame) -> pd.DataFrame:
    """Children looked after on 31 March by LA and financial year: ``la_code, year, children, status``.

    A panel period starting 1 April ``y`` is the year ending 31 March ``y + 1``: financial year ``y``.
    Quarterly and monthly panels (record-level runs) give the stock at the end of each period: the one
    at 31 March is the January-March quarter's, or March's.
    """
    rows = panel[panel["outcome"] == CLA_OUTCOME]
    if rows.empty:
        raise ValueError(f"placement costs: the panel has no {CLA_OUTCOME} rows, so no numbers of children looked after")
    month = pd.DatetimeIndex(pd.to_datetime(rows["period"])).month
    n_months = len(set(month))
    if n_months > 1:
        if n_months not in _LAST_PERIOD_MONTH:
            raise ValueError(f"placement costs: the panel's {CLA_OUTCOME} periods start in {n_months} different months; "
                             "expected an annual, quarterly or monthly panel")
        rows = rows[month == _LAST_PERIOD_MONTH[n_months]]
    return pd.DataFrame({"la_code": rows["la_code"].astype(str).to_numpy(), "year": financial_year(rows["period"]),
                         "children": rows["numerator"].astype(float).to_numpy(),
                         "status": rows["status"].fillna("").astype(str).to_numpy()})


def _latest_common_year(expenditure: pd.DataFrame, stock: pd.DataFrame) -> int | None:
    have_e = set(expenditure.loc[expenditure["expenditure"].notna(), "year"].astype(int))
    have_n = set(stock.loc[stock["children"].notna() & (stock["children"] > 0), "year"].astype(int))
    common = have_e & have_n
    return max(common) if common else None


def _la_units(expenditure: pd.DataFrame, stock: pd.DataFrame, year: int) -> pd.DataFrame:
    e = expenditure[expenditure["year"] == year].set_index("la_code")
    n = stock[stock["year"] == year].groupby("la_code")["children"].sum(min_count=1)
    codes = sorted(set(e.index) | set(n.index))
    out = pd.DataFrame({"unit_code": codes, "unit_type": "local authority", "members": 1, "financial_year": year})
    out["name"] = [_safe_name(la_name, c) for c in codes]
    out["children_looked_after"] = n.reindex(codes).to_numpy()
    out["expenditure"] = e["expenditure"].reindex(codes).to_numpy()
    out["note"] = [_la_note(c, e, n) for c in codes]
    return out


def _safe_name(lookup, code: str) -> str:
    try:
        return lookup(code)
    except (KeyError, ValueError):
        return f"LA {code}"


def _la_note(code: str, e: pd.DataFrame, n: pd.Series) -> str:
    if code not in e.index:
        return "no S251 row"
    if pd.isna(e.at[code, "expenditure"]):
        return f"S251 expenditure not available ({e.at[code, 'status'] or 'blank'})"
    if code not in n.index or pd.isna(n[code]) or n[code] <= 0:
        return "no number of children looked after"
    return ""


def _cooperative_units(las: pd.DataFrame, cooperatives: Mapping[str, Mapping[str, Any]], year: int) -> pd.DataFrame:
    by_code = las.set_index("unit_code")
    rows = []
    for code, coop in cooperatives.items():
        members = [str(c) for c in coop["la_codes"]]
        usable = [m for m in members if m in by_code.index and by_code.at[m, "note"] == ""]
        lacking = [m for m in members if m not in usable]
        rows.append({"unit_code": code, "unit_type": "cooperative", "name": coop["name"], "members": len(members),
                     "financial_year": year,
                     "children_looked_after": by_code.loc[usable, "children_looked_after"].sum() if not lacking else np.nan,
                     "expenditure": by_code.loc[usable, "expenditure"].sum() if not lacking else np.nan,
                     "note": f"member(s) {lacking} without cost or count: not computed" if lacking else
                     "members summed; prediction extrapolates the LA fit"})
    return pd.DataFrame(rows)


def placement_costs(
    expenditure: pd.DataFrame,
    stock: pd.DataFrame,
    cooperatives: Mapping[str, Mapping[str, Any]],
    *,
    year: int | None = None,
    alpha: float = 0.05,
) -> PlacementCosts:
    """Cost per child-week of every LA and cooperative in ``year`` (default: the latest year with both) and the scale fit.

    ``expenditure``: :func:`csceval.ingest.s251.cla_expenditure`; ``stock``: :func:`cla_stock`;
    ``cooperatives``: ``{code: {"name", "la_codes"}}`` (:func:`csceval.rcc.cooperatives`).
    """
    if year is None:
        year = _latest_common_year(expenditure, stock)
        if year is None:
            return skipped("no financial year has both S251 expenditure and numbers of children looked after")
    las = _la_units(expenditure, stock, int(year))
    coops = _cooperative_units(las, cooperatives, int(year))
    units = pd.concat([coops, las], ignore_index=True)
    units["weekly_cost"] = units["expenditure"] / (units["children_looked_after"] * WEEKS_PER_YEAR)
    units["in_fit"] = units["unit_type"].eq("local authority") & units["note"].eq("")
    notes = [f"{int((units['unit_type'].eq('local authority') & ~units['in_fit']).sum())} LA(s) left out of the fit (see their note)"]
    fit = units[units["in_fit"]]
    if len(fit) < 3:
        units["predicted_weekly_cost"] = np.nan
        return PlacementCosts(_order(units), None, int(year), (*notes, f"only {len(fit)} LA(s) with cost and count in {year}: no fit"))
    estimate = economies_of_scale(fit["weekly_cost"], fit["children_looked_after"], alpha=alpha)
    units["predicted_weekly_cost"] = np.exp(estimate.intercept + estimate.elasticity * np.log(units["children_looked_after"]))
    return PlacementCosts(_order(units), estimate, int(year), tuple(notes))


def _order(units: pd.DataFrame) -> pd.DataFrame:
    columns = ["unit_code", "unit_type", "name", "members", "financial_year", "children_looked_after", "expenditure",
               "weekly_cost", "predicted_weekly_cost", "in_fit", "note"]
    return units[columns].reset_index(drop=True)


def skipped(reason: str) -> PlacementCosts:
    """The result when cost per child-week cannot be computed: no units, no estimate, the reason as its note."""
    columns = ["unit_code", "unit_type", "name", "members", "financial_year", "children_looked_after", "expenditure",
               "weekly_cost", "predicted_weekly_cost", "in_fit", "note"]
    units = pd.DataFrame([{c: np.nan for c in columns} | {"unit_type": "none", "note": f"not computed: {reason}"}])
    return PlacementCosts(units[columns], None, None, (f"not computed: {reason}",))
