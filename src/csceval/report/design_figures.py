"""Figures of the evaluation design, in the house style, with alt text.

* :func:`mean_paths_figure` -- mean outcome by period of the treated LAs and of the comparison
  pool, with each wave's start marked (data: :func:`csceval.design.balance.pre_trend_means`).
* :func:`balance_figure` -- standardised mean differences before and after matching (a "love
  plot"), with the 0.1 and 0.25 reference lines (data: :func:`csceval.design.balance.balance_table`).
* :func:`alt_text_mean_paths`, :func:`alt_text_balance` -- alt text with the numbers shown.

Figures are built on :class:`matplotlib.figure.Figure` (no pyplot) and saved with
:func:`csceval.report.figures.save_figure`.
"""

from __future__ import annotations

import textwrap

import pandas as pd
from matplotlib.figure import Figure

from csceval.report.figures import _direct_labels, _fmt, _freeze_layout
from csceval.report.style import PALETTE, REFERENCE_COLOUR, house_style

__all__ = ["alt_text_balance", "alt_text_mean_paths", "balance_figure", "mean_paths_figure"]

_GROUPS = ("Treated LAs", "Comparison LAs")


def _wave_starts(timing: pd.DataFrame | None) -> list[tuple[pd.Timestamp, str]]:
    if timing is None:
        return []
    tr = timing[timing["role"].eq("treated") & timing["first_treated"].notna()]
    out = []
    for first, rows in tr.groupby("first_treated", sort=True):
        waves = sorted({w for w in rows["wave"] if isinstance(w, str) and w})
        out.append((pd.Timestamp(first), ", ".join(waves) or "start"))
    return out


def _label(outcome: str) -> str:
    try:
        from csceval.panel import OUTCOMES

        return OUTCOMES[outcome].short_label + " per 10,000 children" if outcome in OUTCOMES else outcome
    except Exception:  # pragma: no cover - labels are cosmetic
        return outcome


def _period_ticks(ax, periods) -> None:
    """Annual periods (starting 1 April) labelled by reporting year ("2023-24"), at most 8 ticks;
    other frequencies keep matplotlib's date ticks."""
    p = pd.DatetimeIndex(sorted(pd.to_datetime(pd.Index(periods).unique())))
    annual = len(p) > 1 and all(d.month == 4 and d.day == 1 for d in p) and (p.year[1:] - p.year[:-1] == 1).all()
    if not annual:
        ax.set_xlabel("Period (start date)")
        return
    step = -(-len(p) // 8)
    ticks = p[::step]
    ax.set_xticks(ticks, [f"{d.year}-{(d.year + 1) % 100:02d}" for d in ticks])
    ax.set_xlabel("Reporting year (April to March)")


def mean_paths_figure(
    means: pd.DataFrame,
    *,
    timing: pd.DataFrame | None = None,
    outcome: str = "",
    title: str | None = None,
    ylabel: str | None = None,
) -> Figure:
    """Treated vs comparison mean paths.

    Parameters
    ----------
    means : ``period, group, mean, n_las`` (groups "Treated LAs", "Comparison LAs").
    timing : treatment timing table; each distinct first treated period gets a dashed line
        labelled with its wave(s), just left of the period it starts in.
    outcome, title, ylabel : labels.
    """
    with house_style():
        fig = Figure(layout="constrained")
        ax = fig.add_subplot()
        labels = []
        for group, colour in zip(_GROUPS, PALETTE):
            g = means[means["group"].eq(group)].sort_values("period")
            if g.empty:
                continue
            n = int(g["n_las"].max())
            ax.plot(g["period"], g["mean"], color=colour, marker="o", markersize=4, linewidth=2)
            labels.append((f"{group} ({n})", float(g["mean"].iloc[-1]), colour))
        ymin, ymax = ax.get_ylim()
        for i, (start, wave) in enumerate(_wave_starts(timing)):
            x = start - pd.Timedelta(days=45)
            ax.axvline(x, color=REFERENCE_COLOUR, linestyle="--", linewidth=0.9)
            ax.text(x, ymax - (ymax - ymin) * (0.04 + 0.07 * i), f" {wave} ", color=REFERENCE_COLOUR, fontsize=9,
                    ha="right", va="top")
        ax.set_title(textwrap.fill(title or f"{_label(outcome)}: treated and comparison LAs", 70))
        ax.set_ylabel(ylabel or ("Rate per 10,000 children" if "per_10k" in outcome else outcome))
        _period_ticks(ax, means["period"])
        _direct_labels(ax, labels)
        ax.annotate(
            textwrap.fill("Lines: mean over the LAs with a value in each period (a matched pool's LAs carry their "
                          "matching weights). Dashed lines: first period treated.", 110),
            xy=(0.0, 0.0), xycoords=(ax.transAxes, ax.xaxis.label), xytext=(0, -6), textcoords="offset points",
            ha="left", va="top", fontsize=9, color=REFERENCE_COLOUR, annotation_clip=False,
        )
        _freeze_layout(fig)
    return fig


def alt_text_mean_paths(means: pd.DataFrame, *, timing: pd.DataFrame | None = None, outcome: str = "",
                        title: str | None = None) -> str:
    """Alt text for :func:`mean_paths_figure`: each group's first and last values and the gap."""
    parts = [f"Chart titled '{title or f'{_label(outcome)}: treated and comparison LAs'}'."]
    first_start = min((s for s, _ in _wave_starts(timing)), default=None)
    for group in _GROUPS:
        g = means[means["group"].eq(group)].sort_values("period")
        if g.empty:
            continue
        a, b = g.iloc[0], g.iloc[-1]
        parts.append(f"{group} ({int(g['n_las'].max())} LAs): {_fmt(a['mean'])} in the period starting "
                     f"{a['period']:%B %Y}, {_fmt(b['mean'])} in the period starting {b['period']:%B %Y}.")
    wide = means.pivot_table(index="period", columns="group", values="mean")
    if set(_GROUPS) <= set(wide.columns):
        gap = (wide[_GROUPS[0]] - wide[_GROUPS[1]]).dropna()
        pre = gap[gap.index < first_start] if first_start is not None else gap
        if len(pre):
            parts.append(f"Before treatment the treated mean minus the comparison mean ranges from {_fmt(pre.min())} "
                         f"to {_fmt(pre.max())}.")
    for start, wave in _wave_starts(timing):
        parts.append(f"A dashed line marks {wave}, first treated in the period starting {start:%B %Y}.")
    return " ".join(parts)


def balance_figure(table: pd.DataFrame, *, title: str = "Standardised mean differences, treated vs comparison LAs",
                   kinds: tuple[str, ...] = ("level", "trend", "covariate")) -> Figure:
    """Love plot of SMDs: one row per variable, one marker per sample (before / after matching)."""
    t = table[table["kind"].isin(kinds)]
    variables = list(dict.fromkeys(t["variable"]))
    samples = list(dict.fromkeys(t["sample"]))
    with house_style():
        fig = Figure(layout="constrained", figsize=(8.0, max(2.5, 1.2 + 0.35 * len(variables))))
        ax = fig.add_subplot()
        ax.grid(False)
        ax.grid(True, axis="x")
        y = {v: len(variables) - 1 - i for i, v in enumerate(variables)}
        for s, colour, marker in zip(samples, PALETTE, ("o", "D", "s", "^")):
            rows = t[t["sample"].eq(s)]
            ax.scatter(rows["smd"], rows["variable"].map(y), color=colour, marker=marker, s=36, zorder=3, label=s)
        for x in (-0.25, -0.1, 0.1, 0.25):
            ax.axvline(x, color=REFERENCE_COLOUR, linewidth=0.8, linestyle=":" if abs(x) == 0.25 else "--")
        ax.axvline(0.0, color=REFERENCE_COLOUR, linewidth=0.9)
        ax.set_yticks(list(y.values()), list(y.keys()))
        ax.set_ylim(-0.7, len(variables) - 0.3)
        ax.set_xlabel("Standardised mean difference (pooled SD)")
        ax.set_title(textwrap.fill(title, 70))
        fig.legend(loc="outside lower center", ncols=min(2, max(1, len(samples))), frameon=False)
        _freeze_layout(fig)
    return fig


def alt_text_balance(table: pd.DataFrame, *, kinds: tuple[str, ...] = ("level", "trend", "covariate")) -> str:
    """Alt text for :func:`balance_figure`: per sample, the largest |SMD| and how many exceed 0.1 / 0.25."""
    t = table[table["kind"].isin(kinds) & table["smd"].notna()]
    parts = [f"Dot chart of standardised mean differences for {t['variable'].nunique()} variables."]
    for s, rows in t.groupby("sample", sort=False):
        worst = rows.loc[rows["smd"].abs().idxmax()]
        parts.append(f"{s}: {int((rows['smd'].abs() > 0.1).sum())} variable(s) above 0.1 in absolute value and "
                     f"{int((rows['smd'].abs() > 0.25).sum())} above 0.25; the largest is {worst['variable']} at "
                     f"{_fmt(worst['smd'])}.")
    return " ".join(parts)
