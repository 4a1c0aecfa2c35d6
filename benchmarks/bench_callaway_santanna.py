"""Callaway & Sant'Anna: ATT(g,t), 999 multiplier-bootstrap draws, all aggregations. csceval vs diff-diff / moderndid.

Same simulated balanced panel for both (never-treated comparison group, no covariates, varying base
period, Rademacher multiplier bootstrap with 999 draws and uniform bands). csceval computes the
ATT(g,t) and all four aggregations (simple, dynamic, group, calendar) in the one call; the peer is
asked for everything it offers (diff-diff: ``aggregate="all"`` = simple, event study and group -- it
has no calendar aggregation; moderndid: ``att_gt`` plus ``aggte`` for each of the four types, each
with its own bootstrap). Point estimates must agree (the bootstrap draws differ between packages, so
standard errors agree only up to Monte Carlo error and are not compared).
"""

from __future__ import annotations

import warnings

import numpy as np

from _data import max_abs_diff, staggered_panel
from _harness import Pair

KINDS = ("simple", "dynamic", "group", "calendar")
TOL = 1e-8


def _ours(df):
    from csceval.did import callaway_santanna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return callaway_santanna(df, "y", unit="id", time="period", cohort="g", control_group="never_treated",
                                 n_boot=999, seed=1)


def _our_numbers(res) -> dict:
    gt = res.att_gt
    out = {"att_gt": dict(zip(zip(gt["cohort"].astype(int), gt["time"].astype(int)), gt["estimate"]))}
    dyn = res.aggregate("dynamic").table
    out["dynamic"] = dict(zip(dyn["event_time"].astype(int), dyn["estimate"]))
    grp = res.aggregate("group").table
    out["group"] = dict(zip(grp["cohort"].astype(int), grp["estimate"]))
    cal = res.aggregate("calendar").table
    out["calendar"] = dict(zip(cal["period"].astype(int), cal["estimate"]))
    out["simple"] = {0: res.aggregate("simple").overall.estimate}
    return out


def _compare(ours: dict, theirs: dict) -> str:
    worst, parts = 0.0, []
    for part, vals in theirs.items():
        mine = ours[part]
        keys = sorted(vals)
        if sorted(mine) != keys:
            return f"DIFFERENT {part} keys ({len(mine)} vs {len(vals)})"
        d = max_abs_diff([mine[k] for k in keys], [vals[k] for k in keys])
        worst = max(worst, d)
        parts.append(f"{part} {len(keys)}")
    verdict = "equal" if worst <= TOL else "DIFFERENT"
    return f"{verdict} point estimates ({', '.join(parts)}; max |diff| {worst:.1e})"


def _diffdiff(df):
    import diff_diff as dd

    cs = dd.CallawaySantAnna(control_group="never_treated", n_bootstrap=999, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cs.fit(df, outcome="y", unit="id", time="period", first_treat="g", aggregate="all")


def _diffdiff_numbers(r) -> dict:
    out = {"att_gt": {(int(g), int(t)): v["effect"] for (g, t), v in r.group_time_effects.items()}}
    out["dynamic"] = {int(e): v["effect"] for e, v in (r.event_study_effects or {}).items()}
    out["group"] = {int(g): v["effect"] for g, v in (r.group_effects or {}).items()}
    out["simple"] = {0: r.overall_att}
    return out


def _moderndid(df):
    import moderndid as md

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = md.att_gt(data=df, yname="y", tname="period", idname="id", gname="g", control_group="nevertreated",
                      boot=True, biters=999, cband=True, random_state=1)
        return r, {k: md.aggte(r, type=k, boot=True, biters=999, random_state=1) for k in KINDS}


def _moderndid_numbers(out) -> dict:
    r, agg = out
    res = {"att_gt": {(int(g), int(t)): float(a) for g, t, a in zip(r.groups, r.times, r.att_gt)}}
    for kind, key in (("dynamic", "dynamic"), ("group", "group"), ("calendar", "calendar")):
        a = agg[kind]
        res[key] = {int(e): float(v) for e, v in zip(a.event_times, a.att_by_event)}
    res["simple"] = {0: float(agg["simple"].overall_att)}
    return res


def pair(n_units: int = 150, n_periods: int = 48, n_cohorts: int = 3, peer: str = "diff-diff") -> Pair:
    df = staggered_panel(n_units, n_periods, n_cohorts)
    if peer == "diff-diff":
        import diff_diff

        run_peer, numbers, peer_name = (lambda: _diffdiff(df)), _diffdiff_numbers, f"diff-diff {diff_diff.__version__}"
        notes = ["diff-diff has no calendar aggregation: it computes ATT(g,t), simple, event-study and group effects "
                 "(csceval computes the calendar effects too, in the timed call)"]
    elif peer == "moderndid":
        from importlib.metadata import version

        import moderndid  # noqa: F401

        run_peer, numbers, peer_name = (lambda: _moderndid(df)), _moderndid_numbers, f"moderndid {version('moderndid')}"
        notes = ["moderndid: att_gt plus aggte() for each of the four aggregations, each with 999 bootstrap draws"]
    else:
        raise ValueError(f"unknown peer {peer!r}")

    def check(ours, theirs) -> str:
        return _compare(_our_numbers(ours), numbers(theirs))

    n_treated = int((df.groupby("id")["g"].first() > 0).sum())
    return Pair(
        f"callaway_santanna, 999 bootstrap draws, all aggregations ({n_units:,} x {n_periods})",
        f"{n_units:,} units x {n_periods} periods, {n_cohorts} cohorts ({n_treated:,} treated units)",
        lambda: _ours(df), run_peer, peer_name, check, notes=notes,
    )
