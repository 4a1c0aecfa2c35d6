"""House chart style: the Government Analysis Function style (``afcharts``) at report size.

Use :func:`house_style` as a context manager around figure *creation* (fonts, sizes, grid and
colours are fixed when the artists are made)::

    with house_style():
        fig = Figure()
        ...

or :func:`apply_house_style` to set it globally (e.g. in a notebook). Conventions, following the
Analysis Function guidance on charts: categorical palette :data:`PALETTE` in that order, left-aligned
titles, horizontal (y) gridlines only, no top/right spines, and direct labels at the end of the
series rather than a legend where practical.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib.style
from cycler import cycler

__all__ = [
    "AFCHARTS_STYLE",
    "FIGSIZE",
    "HOUSE_RC",
    "PALETTE",
    "REFERENCE_COLOUR",
    "TRUTH_COLOUR",
    "apply_house_style",
    "house_style",
    "series_colours",
]

#: Analysis Function categorical palette (dark blue, turquoise, dark pink, orange, dark grey, light purple).
PALETTE: tuple[str, ...] = ("#12436D", "#28A197", "#801650", "#F46A25", "#3D3D3D", "#A285D1")
#: Colour of a "true effect" line (dark grey from the palette; kept out of the series colours then).
TRUTH_COLOUR = "#3D3D3D"
#: Colour of reference lines (zero line, treatment-start line).
REFERENCE_COLOUR = "#6E6E6E"
#: Default figure size in inches (width, height).
FIGSIZE: tuple[float, float] = (8.0, 4.5)
#: The matplotlib style shipped by the afcharts package.
AFCHARTS_STYLE = "afcharts.afcharts"

#: Overrides applied on top of the afcharts style.
HOUSE_RC: dict[str, object] = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.figsize": FIGSIZE,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "axes.spines.top": False,
    "axes.spines.right": False,
    # room at the figure edges so direct labels just outside the axes are never cut off when saved
    "figure.constrained_layout.w_pad": 0.12,
    "figure.constrained_layout.h_pad": 0.08,
    # deterministic SVG output (ids are hashed from this salt instead of a random uuid)
    "svg.hashsalt": "csceval",
    "svg.fonttype": "path",
}


def _styles() -> list[object]:
    return [AFCHARTS_STYLE, HOUSE_RC]


@contextmanager
def house_style() -> Iterator[None]:
    """Context in which new figures get the house style (afcharts + :data:`HOUSE_RC`)."""
    with matplotlib.style.context(_styles()):
        yield


def apply_house_style() -> None:
    """Apply the house style globally (``plt.style.use("afcharts.afcharts")`` plus overrides)."""
    matplotlib.style.use(_styles())


def series_colours(n: int, *, reserve_truth: bool = False) -> list[str]:
    """``n`` colours from :data:`PALETTE`, skipping the truth colour if ``reserve_truth``.

    Cycles if more colours are needed than the palette has (more than six series is too many for
    one chart; split it).
    """
    palette = [c for c in PALETTE if not (reserve_truth and c == TRUTH_COLOUR)]
    return [palette[i % len(palette)] for i in range(n)]

