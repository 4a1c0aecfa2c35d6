"""Small simulated LA panels with known treatment effects, for estimator tests.

``simulate_panel`` draws y_it = a_i + l_t + tau_it + e_it with unit effects a_i ~ N(0, 2^2), period
effects l_t (a trend plus N(0, 1) shocks), noise e_it ~ N(0, noise_sd^2) and a known effect tau_it
for treated cells, given as a function of (event_time, cohort_index). The true effect of every cell
is returned in the column ``true_effect`` (0 for untreated cells).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd


def constant_effect(value: float) -> Callable[[int, int], float]:
    """tau = value at every event time >= 0."""
    return lambda e, g: value


def simulate_panel(
    *,
    n_units: int = 60,
    n_periods: int = 12,
    cohorts: Mapping[int, int] | None = None,
    effect: Callable[[int, int], float] = constant_effect(-5.0),
    noise_sd: float = 1.0,
    seed: int = 20240401,
    time_kind: str = "timestamp",
    freq: str = "QS-APR",
    start: str = "2021-04-01",
    x_coef: float = 0.5,
) -> pd.DataFrame:
    """Simulated long panel.

    Parameters
    ----------
    cohorts : {cohort period index: number of units}
        Staggered cohorts; remaining units are never treated. Default: 3 cohorts at period indexes
        4, 6 and 8 with 8 units each (36 never-treated units of 60).
    effect : callable (event_time, cohort_index) -> float
        Treatment effect of a treated cell (event_time >= 0).
    time_kind : "timestamp" or "int"
        Periods as quarter start dates from ``start`` or as integers 1..n_periods.

    Returns
    -------
    DataFrame with ``la_code`` (str), ``period``, ``first_treated`` (NaT/NaN for never treated),
    ``y``, ``x`` (a time-varying covariate with true coefficient ``x_coef``), ``true_effect``,
    ``cohort_index`` and ``event_time`` (NaN for never treated).
    """
    rng = np.random.default_rng(seed)
    cohorts = dict(cohorts or {4: 8, 6: 8, 8: 8})
    if sum(cohorts.values()) > n_units:
        raise ValueError("more treated units than units")
    if time_kind == "timestamp":
        periods = pd.date_range(start, periods=n_periods, freq=freq)
    elif time_kind == "int":
        periods = pd.Index(np.arange(1, n_periods + 1), dtype="int64")
    else:
        raise ValueError(time_kind)
    codes = [f"{800 + i:03d}" for i in range(n_units)]
    cohort_of = np.full(n_units, -1)
    pos = 0
    for g, n in sorted(cohorts.items()):
        cohort_of[pos : pos + n] = g
        pos += n
    unit_fe = rng.normal(0.0, 2.0, n_units)
    time_fe = 0.3 * np.arange(n_periods) + rng.normal(0.0, 1.0, n_periods)
    rows = []
    for i, code in enumerate(codes):
        g = cohort_of[i]
        for t in range(n_periods):
            e = t - g if g >= 0 else None
            tau = float(effect(e, g)) if (e is not None and e >= 0) else 0.0
            x = rng.normal(0.0, 1.0) + 0.1 * t
            y = 10.0 + unit_fe[i] + time_fe[t] + tau + x_coef * x + rng.normal(0.0, noise_sd)
            rows.append(
                {
                    "la_code": code,
                    "period": periods[t],
                    "first_treated": periods[g] if g >= 0 else None,
                    "y": y,
                    "x": x,
                    "true_effect": tau,
                    "cohort_index": g if g >= 0 else np.nan,
                    "event_time": e if e is not None else np.nan,
                }
            )
    df = pd.DataFrame(rows)
    if time_kind == "timestamp":
        df["first_treated"] = pd.to_datetime(df["first_treated"])
    else:
        df["first_treated"] = df["first_treated"].astype(float)
    return df
