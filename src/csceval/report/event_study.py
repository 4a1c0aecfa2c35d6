"""Event-study figure of one programme x outcome, estimators overlaid, with alt text."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from csceval.panel import OUTCOMES  # noqa: E402
from csceval.report.figures import alt_text_event_study, event_study_figure, save_figure  # noqa: E402

ESTIMATOR_LABELS = {
    "twfe": "TWFE (static)",
    "event_study_twfe": "Event-study TWFE",
    "callaway_santanna": "Callaway-Sant'Anna",
    "sun_abraham": "Sun-Abraham",
    "imputation": "Imputation (BJS)",
    "two_stage": "Two-stage (Gardner)",
}


def write_event_study_figure(tidy_tables, truth, *, programme_name: str, outcome: str, png, svg, alt_text, dpi: int = 150,
                             window: tuple[int, int] | None = None):
    """Draw the event-study estimates of every estimator that has them, save PNG + SVG + alt text.

    ``truth`` holds the synthetic run's targets (aggregation, event_time, true_value) or is None.
    ``window`` = (leads, lags) keeps event times -leads..lags: estimators that report every event
    time (Callaway-Sant'Anna, imputation) are cut to the window the binned estimators show.
    """
    series = {}
    for tidy in tidy_tables:
        rows = tidy[tidy["aggregation"].eq("event_study")]
        if window is not None:
            rows = rows[rows["event_time"].astype(float).between(-window[0], window[1])]
        if len(rows):
            name = tidy["estimator"].iloc[0]
            series[ESTIMATOR_LABELS.get(name, name)] = rows[["event_time", "estimate", "ci_lower", "ci_upper"]].astype(float)
    if not series:
        raise ValueError(f"no event-study estimates for {outcome}: add event_study_twfe to estimation.estimators")
    truth_line = None
    if truth is not None:
        truth_line = truth[truth["aggregation"].eq("event_study")][["event_time", "true_value"]].astype(float)
    spec = OUTCOMES[outcome]
    title = f"{programme_name}: {spec.short_label}"
    ylabel = "Change per 10,000 children aged 0-17" if spec.unit.startswith("per 10,000") else f"Change ({spec.unit})"
    fig = event_study_figure(series, title=title, ylabel=ylabel, truth=truth_line)
    written = save_figure(fig, Path(png).with_suffix(""), dpi=dpi)
    plt.close(fig)
    text = alt_text_event_study(series, title=title, ylabel=ylabel, truth=truth_line)
    Path(alt_text).write_text(text + "\n", encoding="utf-8")
    expected = {Path(png), Path(svg)}
    if not expected <= set(map(Path, written)):
        raise RuntimeError(f"figure files {sorted(map(str, written))} do not include {sorted(map(str, expected))}")
    return [*written, Path(alt_text)]
