"""csceval's Callaway & Sant'Anna vs the Python peers, run by hand (not by pytest).

Compares ``csceval.did.callaway_santanna`` with the peers that are importable in the running
environment -- moderndid (a port of R ``did``), csdid (d2cml-ai, a port of ``did``) and diff-diff
(igerber) -- on ``mpdta`` (analytic standard errors, so the comparison is exact), and times all of
them on simulated panels with 999 multiplier-bootstrap draws and all aggregations.

moderndid 0.2.0 is installed in the project's ``.venv``; csdid 0.4.3 and diff-diff 3.13.0 in the
benchmark environment ``.venv-bench`` (``make bench`` creates it). Run from the repository root::

    .venv/bin/python tests/reference/callaway_santanna/compare_python_peers.py
    .venv-bench/bin/python tests/reference/callaway_santanna/compare_python_peers.py

Options: ``--no-timing`` (agreement only), ``--no-agreement`` (timing only), ``--sizes 150x48,3000x40``,
``--runs 3``.
Output of the last run: ``compare_python_peers_output.txt`` next to this script.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "tests"))

from csceval.did.callaway_santanna import callaway_santanna  # noqa: E402
from helpers_cs import simulate_staggered  # noqa: E402

warnings.simplefilter("ignore")
KINDS = ("simple", "dynamic", "group", "calendar")
SPECS = {
    "no covariates, never treated": dict(covariates=None, method="dr", control_group="never_treated"),
    "lpop, dr, never treated": dict(covariates=["lpop"], method="dr", control_group="never_treated"),
    "lpop, ipw, never treated": dict(covariates=["lpop"], method="ipw", control_group="never_treated"),
    "lpop, reg, never treated": dict(covariates=["lpop"], method="reg", control_group="never_treated"),
    "lpop, dr, not yet treated": dict(covariates=["lpop"], method="dr", control_group="not_yet_treated"),
}


def available(name: str):
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001
        return None


def version(mod) -> str:
    from importlib.metadata import version as v

    try:
        return v({"diff_diff": "diff-diff"}.get(mod.__name__, mod.__name__))
    except Exception:  # noqa: BLE001
        return "?"


# ------------------------------------------------------------------------------------------- ours
def ours_mpdta(df: pd.DataFrame, spec: dict) -> dict:
    res = callaway_santanna(df, "lemp", unit="countyreal", time="year", cohort="first.treat", bootstrap=False, **spec)
    out = {"att_gt": (res.att_gt["estimate"].to_numpy(), res.att_gt["std_error"].to_numpy())}
    for k in KINDS:
        a = res.aggregate(k)
        est = [a.overall.estimate] + ([] if k == "simple" else list(a.table["estimate"]))
        se = [a.overall.std_error] + ([] if k == "simple" else list(a.table["std_error"]))
        out[k] = (np.array(est), np.array(se))
    return out


# ------------------------------------------------------------------------------------------ peers
def moderndid_mpdta(md, df: pd.DataFrame, spec: dict) -> dict:
    cg = "nevertreated" if spec["control_group"] == "never_treated" else "notyettreated"
    xf = "~1" if not spec["covariates"] else "~" + "+".join(spec["covariates"])
    r = md.att_gt(data=df, yname="lemp", tname="year", idname="countyreal", gname="first.treat", xformla=xf,
                  boot=False, est_method=spec["method"], control_group=cg)
    out = {"att_gt": (np.asarray(r.att_gt, float), np.asarray(r.se_gt, float))}
    for k in KINDS:
        a = md.aggte(r, type=k, boot=False)
        est = [a.overall_att] + ([] if k == "simple" else list(np.asarray(a.att_by_event, float)))
        se = [a.overall_se] + ([] if k == "simple" else list(np.asarray(a.se_by_event, float)))
        out[k] = (np.array(est, float), np.array(se, float))
    return out


def diffdiff_mpdta(dd, df: pd.DataFrame, spec: dict) -> dict:
    cs = dd.CallawaySantAnna(control_group=spec["control_group"], estimation_method=spec["method"], n_bootstrap=0)
    r = cs.fit(df, outcome="lemp", unit="countyreal", time="year", first_treat="first.treat",
               covariates=spec["covariates"], aggregate="all")
    keys = sorted(r.group_time_effects)
    out = {"att_gt": (np.array([r.group_time_effects[k]["effect"] for k in keys], float),
                      np.array([r.group_time_effects[k]["se"] for k in keys], float))}
    out["simple"] = (np.array([r.overall_att]), np.array([r.overall_se]))
    es = r.event_study_effects or {}
    ge = r.group_effects or {}
    if es:
        ks = sorted(es)
        out["dynamic_table"] = (np.array([es[k]["effect"] for k in ks], float), np.array([es[k]["se"] for k in ks], float))
    if ge:
        ks = sorted(ge)
        out["group_table"] = (np.array([ge[k]["effect"] for k in ks], float), np.array([ge[k]["se"] for k in ks], float))
    return out


def csdid_mpdta(csdid_att, df: pd.DataFrame, spec: dict) -> dict:
    cg = ["nevertreated"] if spec["control_group"] == "never_treated" else ["notyettreated"]
    xf = None if not spec["covariates"] else "lemp~" + "+".join(spec["covariates"])
    a = csdid_att(yname="lemp", tname="year", idname="countyreal", gname="first.treat", data=df, control_group=cg,
                  xformla=xf).fit(est_method=spec["method"], bstrap=False)
    return {"att_gt": (np.asarray(a.results["att"], float), np.asarray(a.results["se"], float))}


def diff(a: tuple, b: tuple) -> str:
    ea, sa = (np.asarray(x, float) for x in a)
    eb, sb = (np.asarray(x, float) for x in b)
    if ea.shape != eb.shape:
        return f"shapes differ {ea.shape} vs {eb.shape}"
    de = np.nanmax(np.abs(ea - eb))
    ds = np.nanmax(np.abs(sa / sb - 1))
    return f"max |d estimate| {de:.2e}, max |SE ratio - 1| {ds:.2e}"


def agreement(lines: list[str]) -> None:
    df = pd.read_csv(REPO / "tests" / "reference" / "data" / "mpdta.csv")
    md, dd = available("moderndid"), available("diff_diff")
    cs = available("csdid.att_gt")
    lines.append("## Agreement on mpdta (analytic influence-function SEs, bstrap=FALSE)")
    for name, spec in SPECS.items():
        ours = ours_mpdta(df, spec)
        lines.append(f"- {name}")
        if md is not None:
            try:
                p = moderndid_mpdta(md, df, spec)
                for k in ("att_gt",) + KINDS:
                    lines.append(f"    moderndid {version(md)} {k:9s}: {diff(ours[k], p[k])}")
            except Exception as exc:  # noqa: BLE001
                lines.append(f"    moderndid failed: {exc!r}")
        if dd is not None:
            try:
                p = diffdiff_mpdta(dd, df, spec)
                lines.append(f"    diff-diff {version(dd)} att_gt   : {diff(ours['att_gt'], p['att_gt'])}")
                lines.append(f"    diff-diff {version(dd)} simple   : {diff(ours['simple'], p['simple'])}")
                if "dynamic_table" in p:
                    lines.append(f"    diff-diff {version(dd)} dynamic  : "
                                 f"{diff(tuple(x[1:] for x in ours['dynamic']), p['dynamic_table'])} (table)")
                if "group_table" in p:
                    lines.append(f"    diff-diff {version(dd)} group    : "
                                 f"{diff(tuple(x[1:] for x in ours['group']), p['group_table'])} (table)")
            except Exception as exc:  # noqa: BLE001
                lines.append(f"    diff-diff failed: {exc!r}")
        if cs is not None:
            try:
                p = csdid_mpdta(cs.ATTgt, df, spec)
                lines.append(f"    csdid {version(available('csdid'))} att_gt       : {diff(ours['att_gt'], p['att_gt'])}")
            except Exception as exc:  # noqa: BLE001
                lines.append(f"    csdid failed: {exc!r}")


# ----------------------------------------------------------------------------------------- timing
def simulated(n: int, T: int) -> pd.DataFrame:
    n_coh = min(12, T - 6)
    coh = {int(c): max(1, n // (2 * n_coh)) for c in np.linspace(4, T - 2, n_coh).astype(int)}
    df, _ = simulate_staggered(n_units=n, n_periods=T, cohorts=coh, seed=11)
    df["id"] = df["la_code"].astype(int)
    df["g"] = df["first_treated"].astype(int)
    return df


def run_ours(df):
    return callaway_santanna(df, "y", unit="id", time="period", cohort="g", control_group="never_treated",
                             n_boot=999, seed=1)


def run_moderndid(md, df):
    r = md.att_gt(data=df, yname="y", tname="period", idname="id", gname="g", boot=True, biters=999, cband=True,
                  random_state=1)
    return [md.aggte(r, type=k, boot=True, biters=999) for k in KINDS]


def run_diffdiff(dd, df):
    cs = dd.CallawaySantAnna(control_group="never_treated", n_bootstrap=999, seed=1)
    return cs.fit(df, outcome="y", unit="id", time="period", first_treat="g", aggregate="all")


def run_csdid(csdid_att, df):
    a = csdid_att(yname="y", tname="period", idname="id", gname="g", data=df, control_group=["nevertreated"],
                  biters=999, cband=True).fit(est_method="dr", bstrap=True)
    for k in KINDS:
        a.aggte(typec=k, bstrap=True, biters=999)
    return a


def timing(lines: list[str], sizes: list[tuple[int, int]], runs: int) -> None:
    md, dd = available("moderndid"), available("diff_diff")
    cs = available("csdid.att_gt")
    lines.append("")
    lines.append(f"## Timing: 999 bootstrap draws, all aggregations (median of {runs} runs, wall seconds)")
    import platform

    lines.append(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores; "
                 f"Python {platform.python_version()}")
    for n, T in sizes:
        df = simulated(n, T)
        jobs = [("csceval", lambda: run_ours(df))]
        if md is not None:
            jobs.append((f"moderndid {version(md)}", lambda: run_moderndid(md, df)))
        if dd is not None:
            jobs.append((f"diff-diff {version(dd)}", lambda: run_diffdiff(dd, df)))
        if cs is not None:
            jobs.append((f"csdid {version(available('csdid'))}", lambda: run_csdid(cs.ATTgt, df)))
        times = {}
        for name, fn in jobs:
            fn()  # warm-up (imports, JIT)
            ts = []
            for _ in range(runs):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
                if ts[-1] > 120:  # a slow peer: one run is enough
                    break
            times[name] = statistics.median(ts)
        base = times["csceval"]
        cells = len(run_ours(df).att_gt)
        lines.append(f"- {n} units x {T} periods ({cells} ATT(g,t) cells): " + "; ".join(
            f"{k} {v:.3f}" + ("" if k == "csceval" else f" ({v / base:.1f}x csceval)") for k, v in times.items()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--no-agreement", action="store_true")
    ap.add_argument("--sizes", default="150x48,3000x40")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    import os

    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    lines = [f"# csceval callaway_santanna vs Python peers ({sys.executable}; OPENBLAS_NUM_THREADS={threads})", ""]
    if not args.no_agreement:
        agreement(lines)
    if not args.no_timing:
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
        timing(lines, sizes, args.runs)
    text = "\n".join(lines)
    print(text)


if __name__ == "__main__":
    main()
