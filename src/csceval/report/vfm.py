"""Value-for-money outputs: publishable tables (rounded), the NPV distribution figure and its alt text."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from csceval.report.style import FIGSIZE, PALETTE, REFERENCE_COLOUR, house_style

__all__ = ["alt_text_vfm", "publishable_break_even", "publishable_summary", "vfm_figure"]

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


def vfm_figure(npv_draws: np.ndarray, point_npv: float, *, title: str, interval: tuple[float, float] = (0.05, 0.95),
               synthetic: bool = False) -> Figure:
    """Histogram of NPV draws (GBP m) with the point estimate, the interval and zero marked by direct labels."""
    values = np.asarray(npv_draws, dtype=float) / 1e6
    point = point_npv / 1e6
    lo, hi = np.quantile(values, interval)
    with house_style():
        fig = Figure(figsize=FIGSIZE, layout="constrained")
        ax = fig.add_subplot()
        ax.hist(values, bins=40, color=PALETTE[0], alpha=0.85)
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
                 interval: tuple[float, float] = (0.05, 0.95), synthetic: bool = False) -> str:
    """A sentence-level description of the NPV distribution for screen readers."""
    values = np.asarray(npv_draws, dtype=float) / 1e6
    lo, hi = np.quantile(values, interval)
    share = float(np.mean(values > 0))
    text = (
        f"Histogram of the net present value of the {programme_name} over {len(values)} bootstrap draws of its estimated "
        f"impact, in £ million ({price_base}, discounted at the Green Book rate). The point estimate is {_money(point_npv / 1e6)} "
        f"against programme costs with a present value of {_money(pv_costs / 1e6)}. {100 * (interval[1] - interval[0]):g}% of draws lie "
        f"between {_money(lo)} and {_money(hi)}; {100 * share:.0f}% of draws have a positive net present value. "
        "A dashed line marks zero, where savings just repay the programme."
    )
    if synthetic:
        text = "Synthetic data, not findings about the programme. " + text
    return text
