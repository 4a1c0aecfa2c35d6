"""Goodman-Bacon decomposition figure of one programme x outcome, with alt text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from csceval.panel import OUTCOMES
from csceval.report.event_study import ESTIMATOR_LABELS
from csceval.report.figures import alt_text_bacon, bacon_figure, save_figure


def robust_overall(estimates: pd.DataFrame | None) -> tuple[str, float] | None:
    """(label, value) of a robust estimator's overall estimate to set against TWFE, if one was run.

    Prefers Callaway-Sant'Anna, then the imputation estimator.
    """
    if estimates is None or estimates.empty:
        return None
    overall = estimates[estimates["aggregation"].eq("overall")]
    for name in ("callaway_santanna", "imputation"):
        row = overall[overall["estimator"].eq(name)]
        if len(row):
            return ESTIMATOR_LABELS[name], float(row["estimate"].iloc[0])
    return None


def write_bacon_figure(table: pd.DataFrame, *, programme_name: str, outcome: str, png, svg, alt_text,
                       robust: tuple[str, float] | None = None, dpi: int = 150) -> list[Path]:
    """Scatter of the 2x2 comparisons behind the static TWFE estimate; PNG + SVG + alt text.

    ``table`` is the decomposition written by rule ``bacon`` (type, estimate, weight, twfe_estimate,
    units_left_out). Units left out for lack of a complete series are named in the alt text.
    """
    if table.empty:
        raise ValueError(f"no Goodman-Bacon comparisons for {outcome}")
    twfe = float(table["twfe_estimate"].iloc[0])
    label = OUTCOMES[outcome].short_label
    title = f"{programme_name}: Goodman-Bacon decomposition of the TWFE estimate\n{label}"
    fig = bacon_figure(table, twfe_estimate=twfe, robust_estimate=robust, title=title,
                       ylabel="2x2 difference-in-differences estimate")
    written = save_figure(fig, Path(png).with_suffix(""), dpi=dpi)
    text = alt_text_bacon(table, twfe_estimate=twfe, outcome=label[0].lower() + label[1:], robust_estimate=robust)
    left_out = str(table["units_left_out"].iloc[0]) if "units_left_out" in table else ""
    if left_out:
        text += f" Left out because not observed in every period: LA {left_out}."
    Path(alt_text).write_text(text + "\n", encoding="utf-8")
    expected = {Path(png), Path(svg)}
    if not expected <= set(map(Path, written)):
        raise RuntimeError(f"figure files {sorted(map(str, written))} do not include {sorted(map(str, expected))}")
    return [*written, Path(alt_text)]
