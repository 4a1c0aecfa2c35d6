"""Figures for synthetic control and synthetic DiD results, in the house style, with alt text.

* :func:`sc_paths_figure` — treated vs synthetic paths (one panel per treated unit, at most 4 shown).
* :func:`placebo_gaps_figure` — gap of the treated unit(s) (highlighted) over the placebo gaps (grey).
* :func:`donor_weights_figure` — horizontal bars of donor (unit) weights.
* :func:`sdid_paths_figure` — SDID: treated average vs synthetic control, with the time weights.
* :func:`time_weights_figure` — SDID time weights (lambda) by pre-period.
* ``alt_text_*`` — one plain-language alt text per figure, with the numbers shown.

Figures are :class:`matplotlib.figure.Figure` objects (no pyplot); save them deterministically with
:func:`csceval.report.figures.save_figure`. Labels are written directly on the lines, not in legends.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from csceval.report.figures import _direct_labels, _fmt, _freeze_layout
from csceval.report.style import PALETTE, REFERENCE_COLOUR, house_style

if TYPE_CHECKING:  # pragma: no cover
    from csceval.did.synthetic_control import SyntheticControlResult
    from csceval.did.synthetic_did import SyntheticDiDResult

__all__ = [
    "alt_text_donor_weights",
    "alt_text_placebo_gaps",
    "alt_text_sc_paths",
    "alt_text_sdid_paths",
    "alt_text_time_weights",
    "donor_weights_figure",
    "placebo_gaps_figure",
    "sc_paths_figure",
    "sdid_paths_figure",
    "time_weights_figure",
]

_PLACEBO_GREY = "#BFBFBF"
_MAX_PANELS = 4


def _caption(ax, text: str) -> None:
    ax.annotate(textwrap.fill(text, 110), xy=(0.0, 0.0), xycoords=(ax.transAxes, ax.xaxis.label), xytext=(0, -6),
                textcoords="offset points", ha="left", va="top", fontsize=9, color=REFERENCE_COLOUR,
                annotation_clip=False)


def _numeric_x(values: pd.Series) -> np.ndarray:
    v = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(v):
        return v.to_numpy()
    return v.to_numpy(dtype=float)


def _bar_width(periods: pd.Series):
    """80% of the smallest gap between periods, as a timedelta for dates (a plain number would be nanoseconds)."""
    v = pd.Series(periods).drop_duplicates().sort_values()
    if pd.api.types.is_datetime64_any_dtype(v):
        gaps = v.diff().dropna()
        step = gaps.min() if len(gaps) else pd.Timedelta(days=365)
        return (step * 0.8).to_timedelta64()
    gaps = np.diff(v.to_numpy(float))
    return 0.8 * (float(gaps.min()) if len(gaps) else 1.0)


def _start_x(periods: pd.Series, event_time: pd.Series):
    """x position of the start line: halfway between event times -1 and 0 when numeric."""
    p = pd.Series(list(periods))
    e = pd.Series(list(event_time))
    at0 = p[e == 0]
    atm1 = p[e == -1]
    if not len(at0):
        return None
    if len(atm1) and not pd.api.types.is_datetime64_any_dtype(p):
        return (float(at0.iloc[0]) + float(atm1.iloc[0])) / 2
    return at0.iloc[0]


# ------------------------------------------------------------------------------- synthetic control
def sc_paths_figure(result: SyntheticControlResult, *, title: str | None = None, ylabel: str | None = None) -> Figure:
    """Treated unit's outcome (dark blue) and its synthetic control (turquoise, dashed), by period."""
    paths = result.paths
    units = list(dict.fromkeys(paths["treated_unit"]))[:_MAX_PANELS]
    with house_style():
        fig = Figure(layout="constrained", figsize=(8.0, 3.6 * len(units) if len(units) > 1 else 4.5))
        axes = fig.subplots(len(units), 1, squeeze=False)[:, 0]
        for ax, u in zip(axes, units):
            p = paths[paths["treated_unit"] == u]
            x = _numeric_x(p["period"])
            ax.plot(x, p["treated"], color=PALETTE[0], linewidth=2.0)
            ax.plot(x, p["synthetic"], color=PALETTE[1], linewidth=2.0, linestyle="--")
            sx = _start_x(p["period"], p["event_time"])
            if sx is not None:
                ax.axvline(sx, color=REFERENCE_COLOUR, linewidth=0.9, linestyle=":")
            ax.set_ylabel(ylabel or result.outcome)
            ax.set_title(f"{u}" if len(units) > 1 else textwrap.fill(title or f"{u}: actual and synthetic {result.outcome}", 70))
            _direct_labels(ax, [(str(u), float(p["treated"].iloc[-1]), PALETTE[0]),
                                ("Synthetic", float(p["synthetic"].iloc[-1]), PALETTE[1])])
        axes[-1].set_xlabel("Period")
        if len(units) > 1 and title:
            fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
        _caption(axes[-1], "Solid: treated unit; dashed: synthetic control (weighted donors). Dotted line: start of the programme.")
        _freeze_layout(fig)
    return fig


def alt_text_sc_paths(result: SyntheticControlResult) -> str:
    parts = []
    for u in dict.fromkeys(result.paths["treated_unit"]):
        p = result.paths[result.paths["treated_unit"] == u]
        r = result.rmspe[(result.rmspe["role"] == "treated") & (result.rmspe["unit"] == u)].iloc[0]
        post = p[p["event_time"] >= 0]
        parts.append(
            f"{u}: pre-period RMSPE {_fmt(r['pre_rmspe'])}; after the start the treated value goes from "
            f"{_fmt(post['treated'].iloc[0])} to {_fmt(post['treated'].iloc[-1])} and the synthetic control from "
            f"{_fmt(post['synthetic'].iloc[0])} to {_fmt(post['synthetic'].iloc[-1])}.")
    return (f"Line chart of {result.outcome} by period for each treated unit (solid) and its synthetic control "
            f"(dashed), with a dotted line at the start of the programme. " + " ".join(parts))


def placebo_gaps_figure(result: SyntheticControlResult, *, title: str | None = None, ylabel: str | None = None,
                        kept_only: bool = True) -> Figure:
    """Gap (treated - synthetic) by event time: placebos in grey, treated unit(s) highlighted."""
    pl = result.placebos
    if pl is None or pl.empty:
        raise ValueError("the result has no placebo gaps (run with placebo_in_space=True)")
    paths = result.paths
    with house_style():
        fig = Figure(layout="constrained")
        ax = fig.add_subplot()
        ax.axhline(0.0, color=REFERENCE_COLOUR, linewidth=0.9)
        ax.axvline(-0.5, color=REFERENCE_COLOUR, linewidth=0.9, linestyle=":")
        sel = pl[pl["kept"]] if kept_only else pl
        for (_, _), g in sel.groupby(["treated_unit", "placebo_unit"], sort=True):
            ax.plot(g["event_time"], g["gap"], color=_PLACEBO_GREY, linewidth=0.8, zorder=1)
        labels = []
        colours = [PALETTE[i % len(PALETTE)] for i in (0, 2, 3, 1)]
        for i, u in enumerate(dict.fromkeys(paths["treated_unit"])):
            p = paths[paths["treated_unit"] == u]
            c = colours[i % len(colours)]
            ax.plot(p["event_time"], p["gap"], color=c, linewidth=2.2, zorder=3)
            labels.append((str(u), float(p["gap"].dropna().iloc[-1]), c))
        if len(sel):
            last = sel.sort_values("event_time").groupby("placebo_unit")["gap"].last()
            labels.append(("Placebos", float(np.median(last)), "#7F7F7F"))
        ax.set_title(textwrap.fill(title or f"Gap in {result.outcome}: treated vs placebo units", 70))
        ax.set_xlabel("Periods relative to start")
        ax.set_ylabel(ylabel or f"Gap in {result.outcome}")
        _direct_labels(ax, labels)
        p_txt = "" if result.overall is None or result.overall.p_value is None else f" Permutation p-value {result.overall.p_value:.3f}."
        _caption(ax, "Grey: each donor refitted as if treated (placebo in space); coloured: treated unit(s)."
                 + (" Placebos with a poor pre-period fit removed." if kept_only and not sel["kept"].all() else "") + p_txt)
        _freeze_layout(fig)
    return fig


def alt_text_placebo_gaps(result: SyntheticControlResult) -> str:
    pl = result.placebos
    n_pl = pl[["treated_unit", "placebo_unit"]].drop_duplicates().shape[0]
    post = result.paths[result.paths["event_time"] >= 0]
    avg = post.groupby("treated_unit")["gap"].mean()
    ppost = pl[(pl["event_time"] >= 0) & pl["kept"]].groupby(["treated_unit", "placebo_unit"])["gap"].mean()
    p = result.overall.p_value if result.overall is not None else None
    text = (f"Line chart of the gap between actual and synthetic {result.outcome} by period relative to the start, "
            f"for the treated unit(s) (coloured) and {n_pl} placebo fits (grey). Average post-period gap: "
            + "; ".join(f"{u} {_fmt(v)}" for u, v in avg.items()) + ".")
    if len(ppost):
        text += f" Placebo average post-period gaps range from {_fmt(ppost.min())} to {_fmt(ppost.max())}."
    if p is not None:
        text += f" Permutation p-value (post/pre RMSPE ratio): {p:.3f}."
    return text


def donor_weights_figure(weights: pd.DataFrame, *, title: str | None = None, top: int = 15,
                         min_weight: float = 0.001) -> Figure:
    """Horizontal bars of the largest donor weights (``weights`` has ``donor``/``unit`` and ``weight``).

    With several treated units (a ``treated_unit`` column) the weights are averaged over them.
    """
    w = weights.copy()
    name = "donor" if "donor" in w.columns else "unit"
    if "treated_unit" in w.columns and w["treated_unit"].nunique() > 1:
        w = w.groupby(name, as_index=False)["weight"].mean()
    w = w[w["weight"] >= min_weight].sort_values(["weight", name], ascending=[False, True]).head(top)
    with house_style():
        fig = Figure(layout="constrained", figsize=(8.0, max(2.4, 0.9 + 0.32 * len(w))))
        ax = fig.add_subplot()
        ax.grid(False)
        ax.grid(True, axis="x")
        y = np.arange(len(w))[::-1]
        ax.barh(y, w["weight"], color=PALETTE[0], height=0.7)
        for yi, val in zip(y, w["weight"]):
            ax.text(val, yi, f" {val:.3f}", va="center", ha="left", fontsize=9, color=PALETTE[4])
        ax.set_yticks(y, [str(v) for v in w[name]])
        ax.set_xlim(0, max(0.05, float(w["weight"].max()) * 1.18) if len(w) else 1)
        ax.set_xlabel("Weight")
        ax.set_title(title or "Donor weights of the synthetic control")
        _caption(ax, f"Units with weight of at least {min_weight:g}; the weights of all donors sum to 1.")
        _freeze_layout(fig)
    return fig


def alt_text_donor_weights(weights: pd.DataFrame, top: int = 15, min_weight: float = 0.001) -> str:
    name = "donor" if "donor" in weights.columns else "unit"
    w = weights
    if "treated_unit" in w.columns and w["treated_unit"].nunique() > 1:
        w = w.groupby(name, as_index=False)["weight"].mean()
    w = w.sort_values(["weight", name], ascending=[False, True])
    shown = w[w["weight"] >= min_weight].head(top)
    n_pos = int((w["weight"] > 0).sum())
    return (f"Bar chart of donor weights: {n_pos} of {len(w)} donors have positive weight. Largest: "
            + ", ".join(f"{u} {v:.3f}" for u, v in zip(shown[name], shown["weight"])) + ".")


# ------------------------------------------------------------------------------------ synthetic DiD
def sdid_paths_figure(result: SyntheticDiDResult, *, title: str | None = None, ylabel: str | None = None) -> Figure:
    """Treated average and SDID synthetic control (with the counterfactual), time weights below."""
    p = result.paths
    tw = result.time_weights
    x = _numeric_x(p["period"])
    with house_style():
        fig = Figure(layout="constrained", figsize=(8.0, 5.6))
        ax, axw = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 1]})
        ax.plot(x, p["treated"], color=PALETTE[0], linewidth=2.0)
        ax.plot(x, p["synthetic"], color=PALETTE[1], linewidth=2.0, linestyle="--")
        post = p["event_time"] >= 0
        ax.plot(x[post.to_numpy()], p.loc[post, "counterfactual"], color=PALETTE[3], linewidth=1.6, linestyle=":",
                marker="o", markersize=4)
        sx = _start_x(p["period"], p["event_time"])
        if sx is not None:
            ax.axvline(sx, color=REFERENCE_COLOUR, linewidth=0.9, linestyle=":")
            axw.axvline(sx, color=REFERENCE_COLOUR, linewidth=0.9, linestyle=":")
        n1 = result.n_treated
        treated_label = "Treated" if n1 == 1 else f"Treated (mean of {n1})"
        _direct_labels(ax, [(treated_label, float(p["treated"].iloc[-1]), PALETTE[0]),
                            ("Synthetic", float(p["synthetic"].iloc[-1]), PALETTE[1]),
                            ("Counterfactual", float(p["counterfactual"].iloc[-1]), PALETTE[3])])
        ax.set_ylabel(ylabel or result.outcome)
        est = result.overall.estimate
        ax.set_title(textwrap.fill(title or f"Synthetic DiD: {result.outcome} (estimate {_fmt(est)})", 70))
        axw.bar(_numeric_x(tw["period"]), tw["weight"], color=PALETTE[1], width=_bar_width(tw["period"]))
        axw.set_ylabel("Time\nweight")
        axw.set_xlabel("Period")
        _caption(axw, "Solid: treated; dashed: synthetic control (unit-weighted donors); dotted orange: counterfactual "
                      "(synthetic shifted by the time-weighted pre-period difference). Bars: time weights.")
        _freeze_layout(fig)
    return fig


def alt_text_sdid_paths(result: SyntheticDiDResult) -> str:
    p = result.paths
    o = result.overall
    tw = result.time_weights.sort_values("weight", ascending=False)
    top = tw[tw["weight"] > 0].head(3)
    ci = "" if o.ci_lower is None else f", {100 * (1 - result.alpha):g}% CI {_fmt(o.ci_lower)} to {_fmt(o.ci_upper)}"
    return (f"Line chart of {result.outcome} by period: treated average, synthetic control and the counterfactual after "
            f"the start, with time weights as bars below. The synthetic DiD estimate is {_fmt(o.estimate)}{ci}. "
            f"After the start the treated average goes from {_fmt(p.loc[p['event_time'] >= 0, 'treated'].iloc[0])} "
            f"to {_fmt(p['treated'].iloc[-1])}, the counterfactual from "
            f"{_fmt(p.loc[p['event_time'] >= 0, 'counterfactual'].iloc[0])} to {_fmt(p['counterfactual'].iloc[-1])}. "
            "Largest time weights: " + ", ".join(f"{per} {w:.2f}" for per, w in zip(top["period"], top["weight"])) + ".")


def time_weights_figure(result: SyntheticDiDResult, *, title: str | None = None) -> Figure:
    """Bar chart of the SDID time weights (lambda) over the pre-periods."""
    tw = result.time_weights
    with house_style():
        fig = Figure(layout="constrained")
        ax = fig.add_subplot()
        ax.bar(tw["event_time"], tw["weight"], color=PALETTE[1], width=0.8)
        for e, w in zip(tw["event_time"], tw["weight"]):
            if w > 0:
                ax.text(e, w, f"{w:.2f}", ha="center", va="bottom", fontsize=9, color=PALETTE[4])
        ax.set_xlabel("Periods relative to start")
        ax.set_ylabel("Time weight")
        ax.set_title(title or "Synthetic DiD time weights (pre-periods)")
        _caption(ax, "Weights of pre-periods in the baseline the post-period is compared with; they sum to 1.")
        _freeze_layout(fig)
    return fig


def alt_text_time_weights(result: SyntheticDiDResult) -> str:
    tw = result.time_weights
    pos = tw[tw["weight"] > 0].sort_values("event_time")
    return (f"Bar chart of synthetic DiD time weights for {len(tw)} pre-periods; {len(pos)} are positive: "
            + ", ".join(f"period {per} (event time {int(e)}) {w:.2f}" for per, e, w in zip(pos["period"], pos["event_time"], pos["weight"]))
            + ".")

