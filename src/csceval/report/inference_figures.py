"""Figures for few-treated-robust inference, in the house style.

* :func:`permutation_figure` — histogram of a randomization-inference permutation distribution
  with the actual statistic marked (:class:`csceval.inference.RandomizationResult`).
* :func:`sensitivity_figure` — HonestDiD sensitivity plot: robust confidence intervals by
  ``M``/``Mbar`` next to the original interval (:class:`csceval.did.honest_did.HonestDiDResult`).
* :func:`alt_text_permutation`, :func:`alt_text_sensitivity` — alt text for the report.

Figures are built on :class:`matplotlib.figure.Figure` (no pyplot) and saved with
:func:`csceval.report.figures.save_figure`.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from csceval.report.figures import _freeze_layout
from csceval.report.style import PALETTE, REFERENCE_COLOUR, house_style

if TYPE_CHECKING:  # pragma: no cover
    from csceval.did.honest_did import HonestDiDResult
    from csceval.inference import RandomizationResult

__all__ = ["alt_text_permutation", "alt_text_sensitivity", "permutation_figure", "sensitivity_figure"]


def permutation_figure(result: RandomizationResult, *, title: str | None = None, xlabel: str | None = None,
                       bins: int | str = "auto") -> Figure:
    """Histogram of the permutation distribution; the actual statistic (and its mirror) marked."""
    dist = np.asarray(result.distribution, float)
    dist = dist[np.isfinite(dist)]
    stat = float(result.statistic)
    with house_style():
        fig = Figure(layout="constrained")
        ax = fig.add_subplot()
        ax.hist(dist, bins=bins, color=PALETTE[0], alpha=0.85, edgecolor="white", linewidth=0.4)
        ax.axvline(stat, color=PALETTE[3], linewidth=2.0)
        ax.axvline(-stat, color=PALETTE[3], linewidth=1.0, linestyle=":")
        ymax = ax.get_ylim()[1]
        ax.annotate(f"Actual: {stat:.3g}\np = {result.p_value:.3f}", xy=(stat, ymax * 0.95), xytext=(6, 0),
                    textcoords="offset points", ha="left", va="top", color=PALETTE[3], fontsize=10)
        kind = "all assignments" if result.exact else f"{result.n_permutations:,} random assignments"
        ax.set_title(textwrap.fill(title or f"Randomization inference: {result.outcome} ({result.estimator})", 70))
        ax.set_xlabel(xlabel or f"{result.statistic_name.capitalize()} under re-assigned adoption patterns")
        ax.set_ylabel("Number of assignments")
        ax.annotate(
            textwrap.fill(f"Bars: {kind} of the programme's wave structure to the pool. Solid line: actual "
                          "assignment; dotted: its mirror (two-sided test).", 100),
            xy=(0.0, 0.0), xycoords=(ax.transAxes, ax.xaxis.label), xytext=(0, -6), textcoords="offset points",
            ha="left", va="top", fontsize=9, color=REFERENCE_COLOUR, annotation_clip=False,
        )
        _freeze_layout(fig)
    return fig


def alt_text_permutation(result: RandomizationResult) -> str:
    """One-paragraph alt text for :func:`permutation_figure`."""
    dist = np.asarray(result.distribution, float)
    return (
        f"Histogram of the {result.statistic_name} of the {result.estimator} estimator for {result.outcome} over "
        f"{result.n_permutations:,} assignments of the programme's adoption pattern to {len(result.pool)} units "
        f"(range {np.nanmin(dist):.3g} to {np.nanmax(dist):.3g}). The actual value is {result.statistic:.3g}; "
        f"{result.rank - (0 if result.exact else 1)} of the assignments are at least as extreme, two-sided p-value "
        f"{result.p_value:.3f}."
    )


def sensitivity_figure(result: HonestDiDResult, *, title: str | None = None, ylabel: str = "Effect",
                       xlabel: str | None = None) -> Figure:
    """HonestDiD sensitivity plot: robust CI per M/Mbar (blue) and the original CI (orange, left)."""
    table = result.table
    param = result.parameter
    vals = table[param].to_numpy(float)
    gap = float(np.min(np.diff(np.sort(vals)))) if len(vals) > 1 else (abs(vals[0]) or 1.0)
    x_orig = vals.min() - gap
    with house_style():
        fig = Figure(layout="constrained")
        ax = fig.add_subplot()
        ax.axhline(0.0, color=REFERENCE_COLOUR, linewidth=0.9, zorder=1)
        ax.vlines([x_orig], [result.original[0]], [result.original[1]], color=PALETTE[3], linewidth=3, zorder=3)
        ax.vlines(vals, table["lb"], table["ub"], color=PALETTE[0], linewidth=3, zorder=3)
        cap = gap * 0.15
        for x, lo, hi, c in [(x_orig, *result.original, PALETTE[3])] + [
            (v, lo, hi, PALETTE[0]) for v, lo, hi in zip(vals, table["lb"], table["ub"])
        ]:
            ax.hlines([lo, hi], x - cap, x + cap, color=c, linewidth=1.5, zorder=3)
        ax.annotate("Original", xy=(x_orig, result.original[1]), xytext=(0, 4), textcoords="offset points",
                    ha="center", va="bottom", color=PALETTE[3], fontsize=10)
        ax.annotate(f"Robust ({table['method'].iloc[0]})", xy=(vals.max(), table["ub"].iloc[-1]), xytext=(0, 4),
                    textcoords="offset points", ha="center", va="bottom", color=PALETTE[0], fontsize=10)
        if np.isfinite(result.breakdown) and result.breakdown > 0:
            ax.axvline(result.breakdown, color=REFERENCE_COLOUR, linestyle="--", linewidth=0.9)
        sym = "M" if param == "M" else "M̄"
        ax.set_xlabel(xlabel or (f"{sym}: bound on the change in slope of the differential trend" if param == "M"
                                 else f"{sym}: post-period trend change relative to the largest pre-period change"))
        ax.set_ylabel(ylabel)
        ax.set_title(textwrap.fill(title or f"Sensitivity to parallel-trends violations ({result.target})", 70))
        ax.annotate(
            textwrap.fill(f"Bars: {100 * (1 - result.alpha):g}% confidence intervals. Dashed line: breakdown value "
                          f"{sym} = {result.breakdown:.3g} (smallest value whose interval contains 0).", 100),
            xy=(0.0, 0.0), xycoords=(ax.transAxes, ax.xaxis.label), xytext=(0, -6), textcoords="offset points",
            ha="left", va="top", fontsize=9, color=REFERENCE_COLOUR, annotation_clip=False,
        )
        _freeze_layout(fig)
    return fig


def alt_text_sensitivity(result: HonestDiDResult) -> str:
    """One-paragraph alt text for :func:`sensitivity_figure`."""
    t = result.table
    p = result.parameter
    rows = "; ".join(f"{p} = {v:g}: {lo:.3g} to {hi:.3g}" for v, lo, hi in zip(t[p], t["lb"], t["ub"]))
    return (
        f"Robust {100 * (1 - result.alpha):g}% confidence intervals for the {result.target} under {result.delta}: "
        f"{rows}. Original interval {result.original[0]:.3g} to {result.original[1]:.3g}. "
        f"Breakdown value {p} = {result.breakdown:.3g}."
    )
