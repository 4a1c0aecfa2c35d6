"""Staggered-adoption panels with heterogeneous, dynamic effects, for the robust DiD estimators.

Built on ``helpers_panels.simulate_panel``. The design makes static TWFE fail: effects grow with
time since treatment and differ by cohort, an early cohort is treated for most of the window and
only few units are never treated, so TWFE leans on "later vs earlier treated" comparisons that use
already-treated units (whose effects are still growing) as controls.
"""

from __future__ import annotations

import pandas as pd

from helpers_panels import simulate_panel

#: cohort period index -> number of units; 8 of 56 units are never treated
STAGGERED_COHORTS = {3: 20, 6: 16, 9: 12}


def dynamic_effect(e: int, g: int) -> float:
    """tau(e, g) = (1 + e) * (1 + 0.25 * (g - 3)): growing with event time, larger for later cohorts."""
    return (1.0 + e) * (1.0 + 0.25 * (g - 3))


def staggered_panel(seed: int = 7, n_units: int = 56, n_periods: int = 12, time_kind: str = "timestamp",
                    noise_sd: float = 1.0) -> pd.DataFrame:
    """Panel with :data:`STAGGERED_COHORTS`, :func:`dynamic_effect` and a known ``true_effect`` column."""
    return simulate_panel(n_units=n_units, n_periods=n_periods, cohorts=STAGGERED_COHORTS, effect=dynamic_effect,
                          noise_sd=noise_sd, seed=seed, time_kind=time_kind)


def true_event_time_effects(df: pd.DataFrame) -> pd.Series:
    """Mean true effect over treated observations at each event time >= 0 (the ATT by horizon)."""
    treated = df[df["event_time"].notna() & (df["event_time"] >= 0)]
    return treated.groupby(treated["event_time"].astype(int))["true_effect"].mean()


def true_overall_effect(df: pd.DataFrame) -> float:
    """Mean true effect over all treated observations (the overall ATT)."""
    treated = df[df["event_time"].notna() & (df["event_time"] >= 0)]
    return float(treated["true_effect"].mean())
