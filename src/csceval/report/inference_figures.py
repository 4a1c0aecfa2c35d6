"""Figures for few-treated-robust inference, in the house style.

* :func:`permutation_figure` — histogram of a randomization-inference permutation distribution
  with the actual statistic marked (:class:`csceval.inference.RandomizationResult`).
* :func:`sensitivity_figure` — HonestDiD sensitivity plot: robust confidence intervals by
  ``M``/``Mbar`` next to the original interval (:class:`csceval.did.honest_did.HonestDiDResult`).
* :func:`sensitivity_panels_figure` — the smoothness and relative-magnitude analyses side by side.
* :func:`leave_one_out_figure` — forest plot of the estimate with each treated LA dropped, by wave.
* :func:`alt_text_permutation`, :func:`alt_text_sensitivity`, :func:`alt_text_sensitivity_panels`,
  :func:`alt_text_leave_one_out` — alt text for the report.

Figures are built on :class:`matplotlib.figure.Figure` (no pyplot) and saved with
:func:`csceval.report.figures.save_figure`.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from csceval.report.figures import _freeze_layout
from csceval.report.style import PALETTE, REFERENCE_COLOUR, house_style
from csceval.report.event_study import ESTIMATOR_LABELS

if TYPE_CHECKING:  # pragma: no cover
    from csceval.did.honest_did import HonestDiDResult
    from csceval.inference import RandomizationResult

__all__ = [
    "alt_text_leave_one_out",
    "alt_text_permutation",
    "alt_text_sensitivity",
    "alt_text_sensitivity_panels",
    "leave_one_out_figure",
    "permutation_figure",
    "sensitivity_figure",
    "sensitivity_panels_figure",
]


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


def _draw_sensitivity(ax, result: HonestDiDResult, *, ylabel: str, xlabel: str | None, title: str | None,
                      caption: bool = True) -> None:
    table = result.table
    param = result.parameter
    vals = table[param].to_numpy(float)
    gap = float(np.min(np.diff(np.sort(vals)))) if len(vals) > 1 else (abs(vals[0]) or 1.0)
    x_orig = vals.min() - gap
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
    top = table["ub"].iloc[-1]
    if np.isfinite(top):
        ax.annotate(f"Robust ({table['method'].iloc[0]})", xy=(vals.max(), top), xytext=(0, 4),
                    textcoords="offset points", ha="center", va="bottom", color=PALETTE[0], fontsize=10)
    if np.isfinite(result.breakdown) and result.breakdown > 0:
        ax.axvline(result.breakdown, color=REFERENCE_COLOUR, linestyle="--", linewidth=0.9)
    sym = "M" if param == "M" else "M̄"
    ax.set_xlabel(xlabel or (f"{sym}: bound on the change in slope of the differential trend" if param == "M"
                             else f"{sym}: post-period trend change relative to the largest pre-period change"))
    ax.set_ylabel(ylabel)
    ax.set_title(textwrap.fill(title or f"Sensitivity to parallel-trends violations ({result.target})", 70))
    if caption:
        ax.annotate(
            textwrap.fill(f"Bars: {100 * (1 - result.alpha):g}% confidence intervals. Dashed line: breakdown value "
                          f"{sym} = {result.breakdown:.3g} (smallest value whose interval contains 0).", 100),
            xy=(0.0, 0.0), xycoords=(ax.transAxes, ax.xaxis.label), xytext=(0, -6), textcoords="offset points",
            ha="left", va="top", fontsize=9, color=REFERENCE_COLOUR, annotation_clip=False,
        )


def sensitivity_figure(result: HonestDiDResult, *, title: str | None = None, ylabel: str = "Effect",
                       xlabel: str | None = None) -> Figure:
    """HonestDiD sensitivity plot: robust CI per M/Mbar (blue) and the original CI (orange, left)."""
    with house_style():
        fig = Figure(layout="constrained")
        ax = fig.add_subplot()
        _draw_sensitivity(ax, result, ylabel=ylabel, xlabel=xlabel, title=title)
        _freeze_layout(fig)
    return fig


def sensitivity_panels_figure(results: dict, *, title: str | None = None, ylabel: str = "Effect") -> Figure:
    """One panel per HonestDiD analysis (e.g. ``{"smoothness": r1, "relative_magnitudes": r2}``), shared y axis."""
    if not results:
        raise ValueError("no HonestDiD results to plot")
    names = {"smoothness": "Smoothness (FLCI)", "relative_magnitudes": "Relative magnitudes"}
    items = list(results.items())
    with house_style():
        fig = Figure(layout="constrained", figsize=(5.2 * len(items), 5.0))
        axes = fig.subplots(1, len(items), squeeze=False, sharey=True)[0]
        for ax, (key, res) in zip(axes, items):
            sym = "M" if res.parameter == "M" else "M̄"
            _draw_sensitivity(ax, res, ylabel=ylabel, xlabel=f"{sym} ({'slope change bound' if sym == 'M' else 'relative to pre-period'})",
                              title=f"{names.get(key, key)}\nbreakdown {sym} = {res.breakdown:.3g}", caption=False)
        for ax in axes[1:]:
            ax.set_ylabel("")
        first = items[0][1]
        fig.suptitle(textwrap.fill(title or f"Sensitivity to parallel-trends violations ({first.target})", 90),
                     x=0.01, ha="left", fontweight="bold")
        fig.supxlabel(
            textwrap.fill(f"Orange: original {100 * (1 - first.alpha):g}% interval (parallel trends). Blue: robust "
                          "intervals as the allowed violation grows. Dashed: breakdown value, the smallest violation "
                          "whose interval contains 0.", 120),
            x=0.01, ha="left", fontsize=9, color=REFERENCE_COLOUR,
        )
        _freeze_layout(fig)
    return fig


def alt_text_sensitivity_panels(results: dict) -> str:
    """Alt text for :func:`sensitivity_panels_figure`: one sentence group per analysis."""
    return " ".join(f"Panel {i + 1}: " + alt_text_sensitivity(r) for i, r in enumerate(results.values()))


def leave_one_out_figure(table: pd.DataFrame, *, title: str | None = None, ylabel: str | None = None,
                         names: dict | None = None) -> Figure:
    """Forest plot: overall estimate (and CI) per estimator with each treated LA dropped, grouped by wave.

    ``table`` has the columns of :func:`csceval.robustness.leave_one_out`; the full-sample estimate
    (empty ``dropped_la``) is drawn as a line and a band. ``names`` maps LA codes to names for labels.
    """
    names = names or {}
    estimators = list(dict.fromkeys(table["estimator"]))
    with house_style():
        drop = table[table["dropped_la"].astype(str) != ""]
        n_rows = drop["dropped_la"].nunique()
        fig = Figure(layout="constrained", figsize=(4.2 * len(estimators) + 1.5, max(3.0, 1.4 + 0.38 * n_rows)))
        axes = fig.subplots(1, len(estimators), squeeze=False, sharey=True)[0]
        for k, (ax, est) in enumerate(zip(axes, estimators)):
            t = table[table["estimator"] == est]
            full = t[t["dropped_la"].astype(str) == ""]
            d = t[t["dropped_la"].astype(str) != ""].sort_values(["dropped_wave_start", "dropped_la"],
                                                                 ascending=[False, False])
            y = np.arange(len(d))
            waves = list(dict.fromkeys(d["dropped_wave_start"]))
            colours = {w: PALETTE[i % len(PALETTE)] for i, w in enumerate(sorted(waves))}
            if len(full):
                f = full.iloc[0]
                if pd.notna(f["ci_lower"]):
                    ax.axvspan(f["ci_lower"], f["ci_upper"], color="#BFBFBF", alpha=0.35, zorder=0)
                ax.axvline(f["estimate"], color=REFERENCE_COLOUR, linewidth=1.2, linestyle="--", zorder=1)
            ax.axvline(0.0, color="#3D3D3D", linewidth=0.8, zorder=1)
            for yi, r in zip(y, d.itertuples(index=False)):
                c = colours[r.dropped_wave_start]
                if pd.notna(r.ci_lower):
                    ax.hlines(yi, r.ci_lower, r.ci_upper, color=c, linewidth=1.6, zorder=2)
                ax.plot([r.estimate], [yi], "o", color=c, markersize=6, zorder=3)
            ax.set_yticks(y, [f"{c} {names.get(str(c), '')}".strip() for c in d["dropped_la"]])
            ax.set_title(ESTIMATOR_LABELS.get(est, est.replace("_", " ")))
            ax.set_xlabel(ylabel or "Overall effect without this LA")
            ax.grid(False)
            ax.grid(True, axis="x")
            if k == len(estimators) - 1:
                for w, c in colours.items():
                    ys = y[(d["dropped_wave_start"] == w).to_numpy()]
                    label = f"Wave starting {pd.Timestamp(w).strftime('%b %Y')}" if pd.notna(w) else "Wave"
                    ax.annotate(label, xy=(1.0, float(ys.mean()) if len(ys) else 0.0), xycoords=("axes fraction", "data"),
                                xytext=(6, 0), textcoords="offset points", color=c, fontsize=10, va="center")
        fig.suptitle(textwrap.fill(title or "Estimate with each treated LA left out", 90), x=0.01, ha="left",
                     fontweight="bold")
        fig.supxlabel(
            textwrap.fill("Dots and bars: estimate and confidence interval without the LA named on the left, "
                          "coloured by the LA's wave. Dashed line and grey band: estimate and interval with all LAs.", 120),
            x=0.01, ha="left", fontsize=9, color=REFERENCE_COLOUR,
        )
        _freeze_layout(fig)
    return fig


def alt_text_leave_one_out(table: pd.DataFrame, names: dict | None = None) -> str:
    """Alt text for :func:`leave_one_out_figure`, with the range and the most influential LA per estimator."""
    names = names or {}
    parts = []
    for est, t in table.groupby("estimator", sort=False):
        full = t[t["dropped_la"].astype(str) == ""]
        d = t[t["dropped_la"].astype(str) != ""]
        if d.empty:
            continue
        base = float(full["estimate"].iloc[0]) if len(full) else float("nan")
        far = d.iloc[int(np.argmax(np.abs(d["estimate"].to_numpy(float) - base)))] if np.isfinite(base) else d.iloc[0]
        la = f"{far['dropped_la']} {names.get(str(far['dropped_la']), '')}".strip()
        parts.append(f"{est.replace('_', ' ')}: all LAs {base:.3g}; leaving one LA out gives {d['estimate'].min():.3g} "
                     f"to {d['estimate'].max():.3g}; the largest change comes from leaving out {la} ({far['estimate']:.3g}).")
    return ("Forest plot of the overall estimate with each treated LA left out in turn, grouped by wave. "
            + " ".join(parts))


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
