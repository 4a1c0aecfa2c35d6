"""Simulated staggered-adoption panels with known heterogeneous, dynamic effects (Callaway-Sant'Anna tests).

``simulate_staggered`` draws y_it = a_i + l_t + tau(g_i, t - g_i) 1{t >= g_i} + e_it (vectorised, so panels
of thousands of units are cheap) and returns the truth needed to check an estimator:

* the true ATT(g, t) of every cohort and period (0 before treatment),
* the true event-study effects (cohort-share weighted averages of ATT(g, g + e) over the cohorts observed
  at event time e, the estimand of ``aggte(type = "dynamic")``),
* the true simple ATT (cohort-share weighted average of all post-treatment ATT(g, t), ``aggte(type="simple")``).

Unit effects are correlated with the cohort (early cohorts have higher levels), so levels comparisons are
biased while parallel trends hold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd


def dynamic_heterogeneous_effect(e: np.ndarray, g: np.ndarray) -> np.ndarray:
    """tau(g, e) = (2 + 0.5 g) (1 + 0.6 e): larger for later cohorts, growing with exposure."""
    return (2.0 + 0.5 * g) * (1.0 + 0.6 * e)


def simulate_staggered(
    *,
    n_units: int = 200,
    n_periods: int = 10,
    cohorts: Mapping[int, int] | None = None,
    effect: Callable[[np.ndarray, np.ndarray], np.ndarray] = dynamic_heterogeneous_effect,
    noise_sd: float = 1.0,
    seed: int = 1,
    time_kind: str = "int",
) -> tuple[pd.DataFrame, dict]:
    """Long panel ``la_code, period, first_treated, y, true_effect`` and the truth.

    Parameters
    ----------
    cohorts : {period index: number of units}
        First treated period (index 0 .. n_periods-1) of each treated cohort; other units never treated.
        Default: cohorts at 3, 5 and 7 with n_units // 8 units each.
    time_kind : "int" (periods 2001, 2002, ...) or "timestamp" (quarter starts from 2019-04-01).

    Returns
    -------
    (DataFrame, dict) with truth keys ``att_gt`` (DataFrame cohort_index, period_index, true_att),
    ``event_study`` (DataFrame event_time, true_value), ``simple`` (float), ``cohort_share``.
    """
    rng = np.random.default_rng(seed)
    cohorts = dict(cohorts or {3: n_units // 8, 5: n_units // 8, 7: n_units // 8})
    g = np.full(n_units, -1)
    pos = 0
    for c, k in sorted(cohorts.items()):
        g[pos:pos + k] = c
        pos += k
    if pos > n_units:
        raise ValueError("more treated units than units")
    T = n_periods
    t = np.arange(T)
    unit_fe = rng.normal(0.0, 1.0, n_units) + 0.3 * np.where(g >= 0, T - g, 0)
    time_fe = 0.5 * t + rng.normal(0.0, 0.5, T)
    e = t[None, :] - g[:, None]
    treated = (g[:, None] >= 0) & (e >= 0)
    tau = np.where(treated, effect(np.maximum(e, 0), np.broadcast_to(g[:, None], e.shape)), 0.0)
    y = unit_fe[:, None] + time_fe[None, :] + tau + rng.normal(0.0, noise_sd, (n_units, T))
    if time_kind == "int":
        periods = pd.Index(2001 + t)
    elif time_kind == "timestamp":
        periods = pd.date_range("2019-04-01", periods=T, freq="QS-APR")
    else:
        raise ValueError(time_kind)
    first = np.where(g >= 0, g, 0)
    if time_kind == "int":
        cohort_val = np.where(g >= 0, periods[first], 0)
    else:
        cohort_val = pd.DatetimeIndex(np.where(g >= 0, periods[first].to_numpy(), np.datetime64("NaT")))
    df = pd.DataFrame({
        "la_code": np.repeat([f"{800 + i:04d}" for i in range(n_units)], T),
        "period": np.tile(periods, n_units),
        "first_treated": np.repeat(cohort_val, T),
        "y": y.reshape(-1),
        "true_effect": tau.reshape(-1),
    })
    # truth
    shares = {c: k / n_units for c, k in cohorts.items()}
    rows = []
    for c in sorted(cohorts):
        for tt in range(T):
            ee = tt - c
            val = float(effect(np.array([ee]), np.array([c]))[0]) if ee >= 0 else 0.0
            rows.append((c, tt, ee, val))
    att = pd.DataFrame(rows, columns=["cohort_index", "period_index", "event_time", "true_att"])
    post = att[att["event_time"] >= 0].copy()
    post["w"] = post["cohort_index"].map(shares)
    es = (post.groupby("event_time").apply(lambda d: np.sum(d["w"] * d["true_att"]) / d["w"].sum(),
                                           include_groups=False)
          .rename("true_value").reset_index())
    simple = float(np.sum(post["w"] * post["true_att"]) / post["w"].sum())
    truth = {"att_gt": att, "event_study": es, "simple": simple, "cohort_share": shares, "periods": periods}
    return df, truth
