"""Figures for estimation results, in the house style, with alt text.

Estimators never draw: their results call :func:`result_figure`. Figures are built on
:class:`matplotlib.figure.Figure` directly (not pyplot), so no GUI backend or global figure registry
is involved and nothing leaks in long pipelines. :func:`save_figure` writes PNG and SVG that are
byte-identical across repeated saves.
"""

from __future__ import annotations

import textwrap

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from csceval.report.style import REFERENCE_COLOUR, TRUTH_COLOUR, house_style, series_colours

if TYPE_CHECKING:  # pragma: no cover
    from csceval.did._results import EstimationResult

__all__ = [
    "alt_text_bacon",
    "alt_text_event_study",
    "bacon_figure",
    "estimates_figure",
    "event_study_figure",
    "result_figure",
    "save_figure",
]

_SERIES_COLUMNS = ("event_time", "estimate", "ci_lower", "ci_upper")
_TRUTH_COLUMNS = ("event_time", "true_value")
_TRUTH_LABEL = "True effect"


def _freeze_layout(fig: Figure) -> Figure:
    """Run the (constrained) layout once and fix it.

    Constrained layout is iterative and moves axes by ~1e-6 pt on every draw, which changes the
    SVG coordinates and clip-path ids between saves; fixing the positions makes output repeatable.
    """
    if fig.get_layout_engine() is not None:
        fig.draw_without_rendering()
        fig.set_layout_engine("none")
    return fig


def _check_series(series: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    if not isinstance(series, Mapping) or not series:
        raise ValueError("series must be a non-empty dict of {label: DataFrame}")
    out = {}
    for label, frame in series.items():
        missing = [c for c in _SERIES_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"series {label!r} is missing column(s) {missing}; it needs {list(_SERIES_COLUMNS)}")
        f = frame[list(_SERIES_COLUMNS)].copy()
        f = f[f["event_time"].notna() & f["estimate"].notna()]
        f["event_time"] = f["event_time"].astype(int)
        for c in ("estimate", "ci_lower", "ci_upper"):
            f[c] = pd.to_numeric(f[c]).astype(float)
        out[str(label)] = f.sort_values("event_time").reset_index(drop=True)
    return out


def _check_truth(truth: pd.DataFrame | None) -> pd.DataFrame | None:
    if truth is None:
        return None
    missing = [c for c in _TRUTH_COLUMNS if c not in truth.columns]
    if missing:
        raise ValueError(f"truth is missing column(s) {missing}; it needs {list(_TRUTH_COLUMNS)}")
    t = truth[list(_TRUTH_COLUMNS)].dropna().copy()
    t["event_time"] = t["event_time"].astype(int)
    t["true_value"] = t["true_value"].astype(float)
    return t.sort_values("event_time").reset_index(drop=True)


def _spread_labels(ys: list[float], min_gap: float) -> list[float]:
    """Move label positions apart (keeping their order) so neighbours are ``min_gap`` apart."""
    if len(ys) < 2:
        return list(ys)
    order = np.argsort(ys, kind="stable")
    pos = np.asarray(ys, dtype=float)[order]
    for i in range(1, len(pos)):
        pos[i] = max(pos[i], pos[i - 1] + min_gap)
    # centre the block shift so labels stay near their series
    shift = (np.asarray(ys, dtype=float)[order] - pos).mean()
    pos = pos + shift
    out = np.empty_like(pos)
    out[order] = pos
    return list(out)


def _direct_labels(ax, items: list[tuple[str, float, str]]) -> None:
    """Labels (text, y, colour) just right of the plotting area, spread to avoid overlap."""
    if not items:
        return
    lo, hi = ax.get_ylim()
    gap = 0.065 * (hi - lo)
    ys = _spread_labels([y for _, y, _ in items], gap)
    trans = blended_transform_factory(ax.transAxes, ax.transData)
    for (text, _, colour), y in zip(items, ys):
        ax.text(1.01, y, text, transform=trans, color=colour, va="center", ha="left", clip_on=False,
                fontweight="bold")


def event_study_figure(
    series: Mapping[str, pd.DataFrame],
    *,
    title: str,
    ylabel: str,
    xlabel: str = "Periods relative to start",
    truth: pd.DataFrame | None = None,
    ci_level: float = 0.95,
) -> Figure:
    """Event-study chart of one or more estimators.

    Parameters
    ----------
    series : dict of {label: DataFrame}
        Each DataFrame has ``event_time``, ``estimate``, ``ci_lower``, ``ci_upper`` (missing CI =
        no bar, e.g. a reference period). Labels are written at the right end of each series.
    title, ylabel, xlabel : str
        Chart title (left-aligned) and axis labels.
    truth : DataFrame, optional
        ``event_time``, ``true_value``: drawn as a dark grey line labelled "True effect".
    ci_level : float
        Level of the intervals, for the caption under the chart.

    Returns
    -------
    Figure
        Points with confidence-interval bars per estimator (small horizontal offsets so overlaid
        estimators stay visible), a zero line, a dashed vertical line between periods -1 and 0.
    """
    data = _check_series(series)
    truth = _check_truth(truth)
    colours = series_colours(len(data), reserve_truth=truth is not None)
    with house_style():
        fig = Figure(layout="constrained")
        ax = fig.add_subplot()
        n = len(data)
        width = min(0.5, 0.15 * (n - 1)) if n > 1 else 0.0
        offsets = np.linspace(-width / 2, width / 2, n) if n > 1 else np.zeros(1)
        ax.axhline(0.0, color=REFERENCE_COLOUR, linewidth=0.9, zorder=1)
        ax.axvline(-0.5, color=REFERENCE_COLOUR, linewidth=0.9, linestyle="--", zorder=1)
        labels: list[tuple[str, float, str]] = []
        x_all: list[float] = []
        if truth is not None and len(truth):
            ax.plot(truth["event_time"], truth["true_value"], color=TRUTH_COLOUR, linewidth=1.6,
                    marker="s", markersize=3.5, zorder=2, label=_TRUTH_LABEL)
            labels.append((_TRUTH_LABEL, float(truth["true_value"].iloc[-1]), TRUTH_COLOUR))
            x_all += list(truth["event_time"])
        for (label, frame), colour, off in zip(data.items(), colours, offsets):
            if frame.empty:
                continue
            x = frame["event_time"].to_numpy(float) + off
            y = frame["estimate"].to_numpy(float)
            lower = np.clip(np.nan_to_num(y - frame["ci_lower"].to_numpy(float), nan=0.0), 0, None)
            upper = np.clip(np.nan_to_num(frame["ci_upper"].to_numpy(float) - y, nan=0.0), 0, None)
            ax.errorbar(x, y, yerr=np.vstack([lower, upper]), fmt="o", color=colour, markersize=5,
                        elinewidth=1.6, capsize=0, zorder=3, label=label)
            labels.append((label, float(y[-1]), colour))
            x_all += list(frame["event_time"])
        ax.set_title(textwrap.fill(title, 70))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if x_all:
            ax.set_xlim(min(x_all) - 0.6, max(x_all) + 0.6)
        _direct_labels(ax, labels)
        # caption under the x-axis label, inside the axes' layout box so it never overlaps
        ax.annotate(
            f"Points: estimates; bars: {100 * ci_level:g}% confidence intervals. Dashed line: start of the programme.",
            xy=(0.0, 0.0), xycoords=(ax.transAxes, ax.xaxis.label), xytext=(0, -6), textcoords="offset points",
            ha="left", va="top", fontsize=9, color=REFERENCE_COLOUR, annotation_clip=False,
        )
        _freeze_layout(fig)
    return fig


def estimates_figure(
    table: pd.DataFrame,
    *,
    labels: Sequence[str],
    title: str,
    xlabel: str,
    colour: str | None = None,
) -> Figure:
    """Dot-and-whisker chart of a few estimates (one row each), e.g. overall effects.

    ``table`` has ``estimate``, ``ci_lower``, ``ci_upper``; ``labels`` names each row.
    """
    if len(labels) != len(table):
        raise ValueError(f"labels has {len(labels)} entries for {len(table)} rows")
    with house_style():
        fig = Figure(layout="constrained", figsize=(8.0, max(2.2, 1.0 + 0.5 * len(table))))
        ax = fig.add_subplot()
        ax.grid(False)
        ax.grid(True, axis="x")
        y = np.arange(len(table))[::-1].astype(float)
        est = table["estimate"].to_numpy(float)
        lower = np.clip(np.nan_to_num(est - table["ci_lower"].to_numpy(float), nan=0.0), 0, None)
        upper = np.clip(np.nan_to_num(table["ci_upper"].to_numpy(float) - est, nan=0.0), 0, None)
        ax.errorbar(est, y, xerr=np.vstack([lower, upper]), fmt="o", color=colour or series_colours(1)[0],
                    markersize=6, elinewidth=1.8, capsize=0)
        ax.axvline(0.0, color=REFERENCE_COLOUR, linewidth=0.9)
        ax.set_yticks(y, list(labels))
        ax.set_ylim(-0.7, len(table) - 0.3)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        _freeze_layout(fig)
    return fig


def result_figure(result: EstimationResult, *, title: str | None = None, ylabel: str | None = None,
                  truth: pd.DataFrame | None = None, **kwargs: Any) -> Figure:
    """The default figure of an :class:`~csceval.did.EstimationResult`.

    An event-study chart if the result has ``event_study`` rows, otherwise a dot-and-whisker chart
    of its ``overall`` estimate (and any group/calendar rows).
    """
    level = 1.0 - float(result.alpha)
    es = result.table("event_study")
    if len(es):
        return event_study_figure(
            {result.display_name: es},
            title=title or f"{result.display_name}: {result.outcome}",
            ylabel=ylabel or result.outcome,
            truth=truth,
            ci_level=level,
            **kwargs,
        )
    tidy = result.tidy()
    if tidy.empty:
        raise ValueError(f"result of {result.estimator!r} has no estimates to plot")
    labels = []
    for row in tidy.itertuples(index=False):
        if row.aggregation == "overall":
            labels.append("Overall")
        elif row.aggregation == "group":
            labels.append(f"Cohort {_fmt_time(row.cohort)}")
        elif row.aggregation == "calendar":
            labels.append(f"Period {_fmt_time(row.period)}")
        else:
            labels.append(f"{row.aggregation} {_fmt_time(row.cohort)} {_fmt_time(row.period)}".strip())
    return estimates_figure(
        tidy,
        labels=labels,
        title=title or f"{result.display_name}: {result.outcome}",
        xlabel=ylabel or f"Estimated effect on {result.outcome} ({100 * level:g}% CI)",
        **kwargs,
    )


def _fmt_time(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


# ---------------------------------------------------------------------------------------- alt text
def _fmt(x: float) -> str:
    """A number for prose: three significant figures, no exponent, no '-0'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "not available"
    x = float(x)
    if abs(x) >= 1000:
        text = f"{x:,.0f}"
    else:
        text = f"{x:.3g}"
        if "e" in text:
            text = f"{x:.6f}".rstrip("0").rstrip(".")
    if text in ("-0", "-0.0"):
        text = "0"
    return text


def _ci_text(row: pd.Series, ci: str) -> str:
    if pd.isna(row["ci_lower"]) or pd.isna(row["ci_upper"]):
        return ""
    return f" ({ci} {_fmt(row['ci_lower'])} to {_fmt(row['ci_upper'])})"


def _range_text(frame: pd.DataFrame) -> str:
    lo, hi = frame["estimate"].min(), frame["estimate"].max()
    e0, e1 = int(frame["event_time"].min()), int(frame["event_time"].max())
    periods = f"period {e0}" if e0 == e1 else f"periods {e0} to {e1}"
    if len(frame) == 1 or lo == hi:
        return f"{periods}: {_fmt(lo)}"
    return f"{periods}: range from {_fmt(lo)} to {_fmt(hi)}"


def alt_text_event_study(
    series: Mapping[str, pd.DataFrame],
    *,
    title: str,
    ylabel: str,
    truth: pd.DataFrame | None = None,
    ci_level: float = 0.95,
) -> str:
    """Plain-language alt text for :func:`event_study_figure`, with the numbers it shows.

    Describes, for each estimator, the range of the pre-period estimates and how many of their
    intervals include zero, the reference period (estimate 0 with no interval), the estimate at
    period 0 and at the last period with their intervals, and the true effect if given.
    """
    data = _check_series(series)
    truth = _check_truth(truth)
    ci = f"{100 * ci_level:g}% CI"
    names = list(data)
    all_e = [e for f in data.values() for e in f["event_time"]]
    parts = [f"Chart titled '{title}'."]
    if all_e:
        parts.append(
            f"It shows estimates of {ylabel} for each period relative to the start of the programme, "
            f"from period {min(all_e)} to {max(all_e)}, with {ci.replace('CI', 'confidence intervals')}, "
            f"from {len(names)} estimator{'s' if len(names) > 1 else ''}: {', '.join(names)}."
        )
    parts.append("A dashed vertical line marks the start between periods -1 and 0; a horizontal line marks zero.")
    for name, f in data.items():
        if f.empty:
            parts.append(f"{name}: no estimates.")
            continue
        is_ref = f["ci_lower"].isna() & f["ci_upper"].isna() & (f["estimate"] == 0)
        refs = f[is_ref]
        est = f[~is_ref]
        pre = est[est["event_time"] < 0]
        post = est[est["event_time"] >= 0]
        sentences = []
        if len(pre):
            has_ci = pre["ci_lower"].notna() & pre["ci_upper"].notna()
            covers = int(((pre["ci_lower"] <= 0) & (pre["ci_upper"] >= 0) & has_ci).sum())
            s = f"pre-period estimates ({_range_text(pre)})"
            if has_ci.any():
                s += f"; {covers} of {int(has_ci.sum())} of their intervals include zero"
            sentences.append(s)
        if len(refs):
            r = ", ".join(str(int(e)) for e in refs["event_time"])
            sentences.append(f"period {r} is the reference period, fixed at 0")
        if len(post):
            first = post.iloc[0]
            sentences.append(
                f"the estimate at period {int(first['event_time'])} is {_fmt(first['estimate'])}{_ci_text(first, ci)}"
            )
            if len(post) > 1:
                last = post.iloc[-1]
                sentences.append(
                    f"post-period estimates ({_range_text(post)}); the estimate at the last period, "
                    f"{int(last['event_time'])}, is {_fmt(last['estimate'])}{_ci_text(last, ci)}"
                )
        parts.append(f"{name}: " + "; ".join(sentences) + ".")
    if truth is not None and len(truth):
        tpre = truth[truth["event_time"] < 0]
        tpost = truth[truth["event_time"] >= 0]
        bits = []
        if len(tpre):
            bits.append(f"before the start ({_range_text(tpre.rename(columns={'true_value': 'estimate'}))})")
        if len(tpost):
            bits.append(f"from the start ({_range_text(tpost.rename(columns={'true_value': 'estimate'}))})")
        parts.append("The true effect, drawn as a dark grey line, is " + "; ".join(bits) + ".")
    return " ".join(parts)


# ------------------------------------------------------------------------------------------ saving
#: Metadata that removes timestamps and version strings, so repeated saves are byte-identical.
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None}


def save_figure(fig: Figure, path_without_suffix: str | Path, dpi: int = 150) -> list[Path]:
    """Write ``<path>.png`` (``dpi``, 150 by default) and ``<path>.svg`` deterministically.

    PNG is written without the "Software" text chunk, SVG without "Date" and "Creator" and with a
    fixed ``svg.hashsalt`` (matplotlib otherwise derives clip-path ids from a random uuid). Parent
    folders are created. The suffixes are appended (a dot in the name is kept). A figure with a
    layout engine has its layout computed once and fixed first (it is modified in place).

    Returns
    -------
    list of Path
        The PNG and SVG paths, in that order.
    """
    base = Path(path_without_suffix)
    base.parent.mkdir(parents=True, exist_ok=True)
    _freeze_layout(fig)
    png = base.parent / f"{base.name}.png"
    svg = base.parent / f"{base.name}.svg"
    with mpl.rc_context({"svg.hashsalt": "csceval", "svg.fonttype": "path"}):
        fig.savefig(png, format="png", dpi=dpi, metadata=PNG_METADATA)
        fig.savefig(svg, format="svg", metadata=SVG_METADATA)
    return [png, svg]


# --------------------------------------------------------------------------------- Bacon decomposition
#: Order (and so colour) of the Goodman-Bacon comparison types.
_BACON_TYPES = ("Treated vs Untreated", "Earlier vs Later Treated", "Later vs Earlier Treated",
                "Later vs Always Treated")


def bacon_figure(
    table: pd.DataFrame,
    *,
    twfe_estimate: float | None = None,
    robust_estimate: tuple[str, float] | None = None,
    title: str = "Goodman-Bacon decomposition",
    xlabel: str = "Weight in the TWFE estimate",
    ylabel: str = "2x2 DiD estimate",
) -> Figure:
    """Scatter of Goodman-Bacon 2x2 estimates against their weights, coloured by comparison type.

    ``table`` has ``type``, ``estimate`` and ``weight`` (e.g. ``BaconResult.table``). A dashed line
    marks the TWFE estimate (the weighted sum) if given, and a solid line zero. ``robust_estimate``
    (label, value), e.g. the Callaway-Sant'Anna overall ATT, adds a dotted line so the reader sees how
    far the TWFE estimate is from a heterogeneity-robust one. Comparison types are named in a legend
    below the plot (a scatter has no line ends to label directly).
    """
    missing = [c for c in ("type", "estimate", "weight") if c not in table.columns]
    if missing:
        raise ValueError(f"table is missing column(s) {missing}; it needs type, estimate, weight")
    if table.empty:
        raise ValueError("table has no comparisons to plot")
    types = [t for t in _BACON_TYPES if t in set(table["type"])] + sorted(set(table["type"]) - set(_BACON_TYPES))
    colours = dict(zip(types, series_colours(len(types), reserve_truth=True)))
    markers = dict(zip(types, ["o", "s", "^", "D", "v", "P"]))
    with house_style():
        fig = Figure(layout="constrained")
        ax = fig.add_subplot()
        ax.axhline(0.0, color=REFERENCE_COLOUR, linewidth=0.9)
        if twfe_estimate is not None and np.isfinite(twfe_estimate):
            ax.axhline(float(twfe_estimate), color=TRUTH_COLOUR, linewidth=1.2, linestyle="--")
            ax.annotate(f"TWFE estimate {_fmt(float(twfe_estimate))}", xy=(1.0, float(twfe_estimate)),
                        xycoords=("axes fraction", "data"), xytext=(-4, 4), textcoords="offset points",
                        ha="right", va="bottom", color=TRUTH_COLOUR, fontsize=9)
        if robust_estimate is not None and np.isfinite(robust_estimate[1]):
            label, value = robust_estimate[0], float(robust_estimate[1])
            ax.axhline(value, color=REFERENCE_COLOUR, linewidth=1.2, linestyle=":")
            below = twfe_estimate is not None and np.isfinite(twfe_estimate) and value < float(twfe_estimate)
            ax.annotate(f"{label} {_fmt(value)}", xy=(1.0, value), xycoords=("axes fraction", "data"),
                        xytext=(-4, -4 if below else 4), textcoords="offset points", ha="right",
                        va="top" if below else "bottom", color=REFERENCE_COLOUR, fontsize=9)
        for t in types:
            sub = table[table["type"] == t]
            ax.scatter(sub["weight"].astype(float), sub["estimate"].astype(float), s=46, color=colours[t],
                       marker=markers[t], label=f"{t} (weight {sub['weight'].sum():.2f})", zorder=3)
        ax.set_xlim(left=0.0)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        fig.legend(loc="outside lower center", ncol=2, frameon=False, handletextpad=0.3, columnspacing=1.2)
        _freeze_layout(fig)
    return fig


def alt_text_bacon(table: pd.DataFrame, *, twfe_estimate: float | None = None, outcome: str = "the outcome",
                   robust_estimate: tuple[str, float] | None = None) -> str:
    """Alt text for :func:`bacon_figure`: weights and weighted averages by comparison type."""
    parts = [f"Scatter chart of {len(table)} two-by-two difference-in-differences estimates of {outcome} "
             "against their weight in the two-way fixed effects estimate."]
    for t, sub in table.groupby("type", sort=True):
        w = float(sub["weight"].sum())
        avg = float((sub["estimate"] * sub["weight"]).sum() / w) if w > 0 else float("nan")
        parts.append(f"{t}: {len(sub)} comparison(s), total weight {w:.2f}, weighted average {_fmt(avg)}.")
    if twfe_estimate is not None:
        parts.append(f"The TWFE estimate, their weighted sum, is {_fmt(float(twfe_estimate))}.")
    if robust_estimate is not None and np.isfinite(robust_estimate[1]):
        parts.append(f"A dotted line marks the {robust_estimate[0]} estimate, {_fmt(float(robust_estimate[1]))}.")
    return " ".join(parts)
