"""Inputs shared by the benchmarks: simulated staggered-adoption panels (numpy only, seeded)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def staggered_panel(n_units: int, n_periods: int, n_cohorts: int, *, treated_share: float = 0.5,
                    seed: int = 11) -> pd.DataFrame:
    """Balanced panel ``id`` (int), ``la_code`` (str), ``period`` (1..T), ``g`` (first treated period, 0 = never), ``y``.

    ``n_cohorts`` cohorts of equal size share ``treated_share`` of the units; their first treated periods
    are spread evenly over the second half of the window (each cohort has at least 4 pre-periods and 2
    post-periods). The outcome has unit and period effects, AR(1) noise and an effect growing with
    time since treatment and differing by cohort, so every estimator has something to find.
    """
    rng = np.random.default_rng(seed)
    starts = np.unique(np.linspace(max(5, n_periods // 2), n_periods - 2, n_cohorts).astype(int))
    per = int(n_units * treated_share) // len(starts)
    g = np.zeros(n_units, dtype=int)
    for k, s in enumerate(starts):
        g[k * per:(k + 1) * per] = s
    t = np.arange(1, n_periods + 1)
    eps = np.empty((n_units, n_periods))
    eps[:, 0] = rng.normal(size=n_units)
    for j in range(1, n_periods):
        eps[:, j] = 0.5 * eps[:, j - 1] + rng.normal(0, np.sqrt(0.75), n_units)
    e = t[None, :] - g[:, None]
    effect = np.where((g[:, None] > 0) & (e >= 0), (1 + 0.2 * e) * (1 + 0.1 * (g[:, None] - starts[0])), 0.0)
    y = rng.normal(size=n_units)[:, None] + 0.05 * t[None, :] + rng.normal(0, 0.3, n_periods)[None, :] + eps + effect
    ids = np.arange(1, n_units + 1)
    return pd.DataFrame({
        "id": np.repeat(ids, n_periods),
        "la_code": np.repeat([f"E{i:08d}" for i in ids], n_periods),
        "period": np.tile(t, n_units),
        "g": np.repeat(g, n_periods),
        "y": y.ravel(),
    })


def max_abs_diff(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return np.inf
    return float(np.nanmax(np.abs(a - b))) if a.size else 0.0
