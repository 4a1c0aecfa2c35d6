"""Two-way fixed effects: static TWFE, the dynamic (event-study) TWFE and Sun & Abraham. csceval vs pyfixest.

Same simulated staggered panel for both, unit-clustered standard errors.
* ``twfe``: ``y ~ D | unit + period`` (pyfixest ``feols``, CRV1 by unit);
* ``event_study``: one dummy per event time except -1, never-treated units as the omitted group
  (pyfixest ``feols`` on the same dummies; csceval ``event_study_twfe`` with all event times, so the
  endpoints are not binned);
* ``sun_abraham``: interaction-weighted event study (pyfixest ``event_study(estimator="saturated")``
  plus ``aggregate()``, its port of ``fixest::sunab``).
Point estimates must agree; standard errors differ by the small-sample factor (csceval counts the
unit effects in the CR1 correction like linearmodels / Stata ``xtreg``; fixest does not, since they
are nested in the clusters), which is reported, not hidden.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from _data import max_abs_diff, staggered_panel
from _harness import Pair

TOL = 1e-8


def _event_dummies(df: pd.DataFrame) -> list[str]:
    rel = np.where(df["g"] > 0, df["period"] - df["g"], np.iinfo(np.int64).min)
    names = []
    for e in sorted(set(rel[df["g"] > 0].tolist()) - {-1}):
        name = f"ev_{'m' if e < 0 else 'p'}{abs(e)}"
        df[name] = (rel == e).astype(float)
        names.append(name)
    return names


def _event_time(name: str) -> int:
    return (-1 if name[3] == "m" else 1) * int(name[4:])


def pair(n_units: int = 150, n_periods: int = 48, n_cohorts: int = 3, kind: str = "event_study",
         max_runs: int | None = None) -> Pair:
    import pyfixest as pf

    from csceval.did import event_study_twfe, sun_abraham, twfe

    df = staggered_panel(n_units, n_periods, n_cohorts)
    df["D"] = ((df["g"] > 0) & (df["period"] >= df["g"])).astype(float)
    dummies = _event_dummies(df)

    def quiet(fn):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return fn()
        return run

    if kind == "twfe":
        ours = quiet(lambda: twfe(df, "y", unit="la_code", time="period", cohort="g"))
        peer = quiet(lambda: pf.feols("y ~ D | id + period", data=df, vcov={"CRV1": "id"}))

        def check(o, p) -> str:
            d = abs(o.overall.estimate - float(p.coef()["D"]))
            se_ratio = o.overall.std_error / float(p.se()["D"])
            return (f"{'equal' if d <= TOL else 'DIFFERENT'} estimate (|diff| {d:.1e}); "
                    f"SE ratio {se_ratio:.4f} (small-sample factor)")
        name = "twfe (static)"
    elif kind == "event_study":
        ours = quiet(lambda: event_study_twfe(df, "y", unit="la_code", time="period", cohort="g"))
        peer = quiet(lambda: pf.feols("y ~ " + " + ".join(dummies) + " | id + period", data=df, vcov={"CRV1": "id"}))

        def check(o, p) -> str:
            mine = o.coefficients.set_index("term")["estimate"]
            theirs = {f"event_time[{_event_time(n)}]": v for n, v in p.coef().items()}
            if set(theirs) - set(mine.index):
                return f"DIFFERENT terms: {sorted(set(theirs) - set(mine.index))[:5]}"
            keys = sorted(theirs)
            d = max_abs_diff([mine[k] for k in keys], [theirs[k] for k in keys])
            se = o.coefficients.set_index("term")["std_error"]
            ratio = np.median([se[f"event_time[{_event_time(n)}]"] / v for n, v in p.se().items()])
            return (f"{'equal' if d <= TOL else 'DIFFERENT'} estimates ({len(keys)} event times, max |diff| {d:.1e}); "
                    f"median SE ratio {ratio:.4f} (small-sample factor)")
        name = "event_study_twfe (all event times)"
    elif kind == "sun_abraham":
        ours = quiet(lambda: sun_abraham(df, "y", unit="la_code", time="period", cohort="g"))

        def run_peer():
            sat = pf.event_study(data=df, yname="y", idname="id", tname="period", gname="g", estimator="saturated")
            return sat.aggregate()
        peer = quiet(run_peer)

        def check(o, p) -> str:
            es = o.table("event_study")
            es = es[~es["reference"].astype(bool)].set_index("event_time")["estimate"]
            agg = p["Estimate"].astype(float)
            agg.index = agg.index.astype(int)
            common = sorted(set(es.index.astype(int)) & set(agg.index))
            if len(common) != len(agg):
                return f"DIFFERENT event times ({len(es)} vs {len(agg)})"
            d = max_abs_diff([es[k] for k in common], [agg[k] for k in common])
            return f"{'equal' if d <= TOL else 'DIFFERENT'} event-study estimates ({len(common)}, max |diff| {d:.1e})"
        name = "sun_abraham (event study)"
    else:
        raise ValueError(f"unknown kind {kind!r}")
    from importlib.metadata import version

    return Pair(f"{name} ({n_units:,} x {n_periods})", f"{n_units:,} units x {n_periods} periods, {n_cohorts} cohorts",
                ours, peer, f"pyfixest {version('pyfixest')}", check, max_runs=max_runs)
