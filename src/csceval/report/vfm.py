"""Value-for-money outputs: publishable tables (rounded), the NPV distribution figure, the RCC cost-per-child-week
figure and their alt text."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from csceval.disclosure import DisclosureRules
from csceval.placement_costs import PlacementCosts
from csceval.report.style import FIGSIZE, PALETTE, REFERENCE_COLOUR, house_style

__all__ = [
    "alt_text_placement_costs",
    "alt_text_vfm",
    "placement_cost_figure",
    "publishable_break_even",
    "publishable_placement_costs",
    "publishable_scale_estimate",
    "publishable_summary",
    "vfm_figure",
]

#: Significant figures of money in published VfM tables: estimates this uncertain do not deserve more.
_ROUND = {"GBP million": 2, "GBP": 0, "ratio": 2, "number": 0}


def publishable_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The VfM summary rounded for publication (GBP m to 2 dp, GBP to whole pounds, ratios 2 dp,
    numbers of children to whole numbers; shares of draws to 3 dp)."""
    out = summary.copy()
    for col in ("point", "lower", "upper"):
        out[col] = [round(float(v), _ROUND.get(u, 2)) if pd.notna(v) else np.nan for v, u in zip(out[col], out["units"])]
    out["share_of_draws_positive"] = out["share_of_draws_positive"].round(3)
    return out


def publishable_break_even(table: pd.DataFrame) -> pd.DataFrame:
    """Break-even table rounded for publication (effects per 10k to 2 dp, shares to 3 dp)."""
    out = table.copy()
    for col in ("estimated_effect", "estimated_effect_lower", "estimated_effect_upper", "break_even_effect"):
        out[col] = out[col].astype(float).round(2)
    out["share_of_draws_beyond_break_even"] = out["share_of_draws_beyond_break_even"].round(3)
    return out


def _money(value_m: float) -> str:
    """GBP million with the sign before the pound sign: -2.04 -> '-£2.0m'."""
    return f"{'-' if value_m < 0 else ''}£{abs(value_m):,.1f}m"


def _differs(a: np.ndarray, b: np.ndarray | None) -> bool:
    return b is not None and not np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float))


def vfm_figure(npv_draws: np.ndarray, point_npv: float, *, title: str, interval: tuple[float, float] = (0.05, 0.95),
               synthetic: bool = False, impact_only: np.ndarray | None = None) -> Figure:
    """Histogram of NPV draws (GBP m) with the point estimate, the interval and zero marked by direct labels.

    ``impact_only``: the NPV draws at the point unit costs; when they differ from ``npv_draws`` (unit
    costs are uncertain) their histogram is outlined over the joint one, so the figure shows how much
    the unit costs widen the distribution.
    """
    values = np.asarray(npv_draws, dtype=float) / 1e6
    point = point_npv / 1e6
    lo, hi = np.quantile(values, interval)
    with house_style():
        fig = Figure(figsize=FIGSIZE, layout="constrained")
        ax = fig.add_subplot()
        _, edges, _ = ax.hist(values, bins=40, color=PALETTE[0], alpha=0.85, label="impact and unit-cost uncertainty")
        if _differs(npv_draws, impact_only):
            ax.hist(np.asarray(impact_only, dtype=float) / 1e6, bins=edges, histtype="step", color=PALETTE[3], lw=1.5,
                    label="impact uncertainty only")
            ax.legend(loc="upper right", frameon=False, fontsize=8)
        top = ax.get_ylim()[1]
        ax.set_ylim(0, top * 1.5)          # headroom for the direct labels, clear of the bars
        ax.axvspan(lo, hi, color=PALETTE[1], alpha=0.15, lw=0)
        ax.axvline(0.0, color=REFERENCE_COLOUR, lw=1.2, ls="--")
        ax.axvline(point, color=PALETTE[2], lw=2)
        box = {"facecolor": "white", "edgecolor": "none", "pad": 1.5}
        side = ("left", " ") if point >= 0 else ("right", "")
        ax.text(0.0, top * 1.45, " NPV = 0 (break-even)", color=REFERENCE_COLOUR, va="top", ha="left", fontsize=9, bbox=box)
        left, right = min(ax.get_xlim()[0], 0.0), max(ax.get_xlim()[1], 0.0)
        pad = 0.04 * (right - left)
        ax.set_xlim(left - pad, right + pad)     # break-even always in view, clear of the axis
        ax.text(point, top * 1.3, f" point estimate {_money(point)} ", color=PALETTE[2], va="top", ha=side[0], fontsize=9, bbox=box)
        ax.text((lo + hi) / 2, top * 1.14, f"{100 * (interval[1] - interval[0]):g}% of draws: {_money(lo)} to {_money(hi)}",
                color="#1F6F68", va="top", ha="center", fontsize=9, bbox=box)
        ax.set_xlabel("Net present value (£ million)")
        ax.set_ylabel("Bootstrap draws")
        ax.set_title(title + (" (SYNTHETIC DATA)" if synthetic else ""), loc="left")
    return fig


def alt_text_vfm(npv_draws: np.ndarray, point_npv: float, pv_costs: float, *, programme_name: str, price_base: str,
                 interval: tuple[float, float] = (0.05, 0.95), synthetic: bool = False,
                 impact_only: np.ndarray | None = None) -> str:
    """A sentence-level description of the NPV distribution (and the impact-only one, if different) for screen readers."""
    values = np.asarray(npv_draws, dtype=float) / 1e6
    lo, hi = np.quantile(values, interval)
    share = float(np.mean(values > 0))
    width = f"{100 * (interval[1] - interval[0]):g}%"
    uncertain_costs = _differs(npv_draws, impact_only)
    drawn = "its estimated impact and of the unit costs" if uncertain_costs else "its estimated impact"
    text = (
        f"Histogram of the net present value of the {programme_name} over {len(values)} bootstrap draws of {drawn}, "
        f"in £ million ({price_base}, discounted at the Green Book rate). The point estimate is {_money(point_npv / 1e6)} "
        f"against programme costs with a present value of {_money(pv_costs / 1e6)}. {width} of draws lie "
        f"between {_money(lo)} and {_money(hi)}; {100 * share:.0f}% of draws have a positive net present value. "
        "A dashed line marks zero, where savings just repay the programme."
    )
    if uncertain_costs:
        i_lo, i_hi = np.quantile(np.asarray(impact_only, dtype=float) / 1e6, interval)
        text += (f" An outline shows the draws at the point unit costs (impact uncertainty only): {width} of them lie between "
                 f"{_money(i_lo)} and {_money(i_hi)}.")
    if synthetic:
        text = "Synthetic data, not findings about the programme. " + text
    return text


# ======================================================================= RCC: cost per child-week vs size
def publishable_placement_costs(units: pd.DataFrame, rules: DisclosureRules | None = None) -> pd.DataFrame:
    """Cost per child-week table for publication: pounds whole, expenditure in GBP million (2 dp).

    A number of children looked after in the suppression range (1-5 by default) is published as
    ``c`` with the costs computed from it, which would give it back (expenditure / cost / 52.18).
    """
    rules = rules or DisclosureRules()
    out = units.copy()
    out["expenditure_gbp_million"] = (out.pop("expenditure").astype(float) / 1e6).round(2)
    for col in ("weekly_cost", "predicted_weekly_cost"):
        out[col] = out[col].astype(float).round(0)
    n = out["children_looked_after"].astype(float)
    small = (n >= rules.min_count) & (n <= rules.max_suppressed_count)
    out["children_looked_after"] = n.astype(object).where(n.isna(), n.round(0))
    for col in ("children_looked_after", "weekly_cost", "predicted_weekly_cost"):
        out[col] = out[col].astype(object)
        out.loc[small, col] = rules.symbol
    columns = ["unit_code", "unit_type", "name", "members", "financial_year", "children_looked_after", "expenditure_gbp_million",
               "weekly_cost", "predicted_weekly_cost", "in_fit", "note"]
    return out[columns]


def publishable_scale_estimate(table: pd.DataFrame) -> pd.DataFrame:
    """Scale elasticity table rounded for publication (elasticities and shares 3 dp, p-value 4 dp)."""
    out = table.copy()
    for col in ("elasticity", "std_error", "ci_lower", "ci_upper", "r_squared", "ci_level", "cost_change_per_doubling", "true_elasticity"):
        out[col] = out[col].astype(float).round(3)
    out["p_value"] = out["p_value"].astype(float).round(4)
    return out


def _pounds(value: float) -> str:
    return f"£{value:,.0f}"


def placement_cost_figure(costs: PlacementCosts, *, title: str, synthetic: bool = False) -> Figure:
    """Cost per child-week against children looked after (log-log): LAs, the fitted line, cooperatives labelled."""
    units = costs.units
    with house_style():
        fig = Figure(figsize=FIGSIZE, layout="constrained")
        ax = fig.add_subplot()
        ax.set_title(title + (" (SYNTHETIC DATA)" if synthetic else ""), loc="left")
        fit = units[units["in_fit"].astype(bool)] if costs.estimate is not None else units.iloc[0:0]
        if fit.empty:
            ax.set_axis_off()
            ax.text(0.5, 0.5, "\n".join(costs.notes) or "not computed", ha="center", va="center", wrap=True, transform=ax.transAxes)
            return fig
        e = costs.estimate
        ax.scatter(fit["children_looked_after"], fit["weekly_cost"], s=14, color=PALETTE[0], alpha=0.7, lw=0)
        coops = units[units["unit_type"].eq("cooperative") & units["weekly_cost"].notna()]
        span = np.geomspace(fit["children_looked_after"].min(), max(fit["children_looked_after"].max(),
                                                                     coops["children_looked_after"].max() if len(coops) else 0), 50)
        ax.plot(span, np.exp(e.intercept + e.elasticity * np.log(span)), color=PALETTE[2], lw=2)
        box = {"facecolor": "white", "edgecolor": "none", "pad": 1.5, "alpha": 0.9}
        ax.text(0.99, 0.97, f"log-log line over {e.n} LAs: elasticity {e.elasticity:.2f} "
                f"({100 * (1 - e.alpha):g}% CI {e.ci_lower:.2f} to {e.ci_upper:.2f})",
                transform=ax.transAxes, color=PALETTE[2], fontsize=9, va="top", ha="right", bbox=box)
        ax.scatter(coops["children_looked_after"], coops["weekly_cost"], s=60, marker="D", color=PALETTE[3], zorder=3)
        for _, c in coops.iterrows():
            ax.annotate(f"{c['name']} (members summed)", (c["children_looked_after"], c["weekly_cost"]), color=PALETTE[3],
                        fontsize=9, ha="right", va="bottom", xytext=(-6, 6), textcoords="offset points", bbox=box, zorder=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"£{y:,.0f}"))
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"Children looked after on 31 March {costs.year + 1} (log scale)")
        ax.set_ylabel("Expenditure per child-week (£, log scale)")
    return fig


def alt_text_placement_costs(costs: PlacementCosts, *, synthetic: bool = False) -> str:
    """A sentence-level description of the cost-per-child-week figure for screen readers."""
    e = costs.estimate
    if e is None:
        text = "No chart of expenditure per child looked after against size: " + ("; ".join(costs.notes) or "not computed") + "."
    else:
        units = costs.units
        coops = units[units["unit_type"].eq("cooperative") & units["weekly_cost"].notna()]
        text = (
            f"Scatter plot, both axes on log scales, of S251 expenditure on children looked after per child-week in "
            f"{costs.year}-{(costs.year + 1) % 100:02d} against the number of children looked after, for {e.n} local authorities, "
            f"with the fitted log-log line. The elasticity is {e.elasticity:.2f} ({100 * (1 - e.alpha):g}% confidence interval "
            f"{e.ci_lower:.2f} to {e.ci_upper:.2f}): a doubling of size goes with a {100 * (2**e.elasticity - 1):+.1f}% change "
            "in cost per child-week. "
        )
        for _, c in coops.iterrows():
            text += (f"{c['name']} (its {int(c['members'])} members summed) costs {_pounds(c['weekly_cost'])} a child-week "
                     f"against {_pounds(c['predicted_weekly_cost'])} the line predicts at its size. ")
        text += "This is a cross-sectional association, not the effect of forming a cooperative."
    return ("Synthetic data, not findings about the programme. " + text) if synthetic else text
