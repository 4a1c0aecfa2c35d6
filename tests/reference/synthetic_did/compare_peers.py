"""By-hand comparison of csceval's synthetic_did / synthetic_control with Python peers (not pytest).

Run:  .venv/bin/python tests/reference/synthetic_did/compare_peers.py > tests/reference/synthetic_did/compare_peers_output.txt

Peers (install by hand; the pytest suite does not need them):
  pip install diff-diff pysyncon ; pip install --no-deps synthdid   (d2cml-ai's synthdid.py 0.10.1)
Data: tests/reference/data/california_prop99.csv. Published R numbers: synthdid_california.yaml.
Timings: best of 3 wall-clock runs after one warm-up, same process, same machine, one after the other.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from csceval.did import synthetic_control, synthetic_did

HERE = Path(__file__).parent
DATA = HERE.parent / "data" / "california_prop99.csv"
warnings.filterwarnings("ignore")


def best_of(fn, n=3):
    fn()
    times, out = [], None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    d = pd.read_csv(DATA, sep=";")
    pub = yaml.safe_load((HERE / "synthdid_california.yaml").read_text())["printed"]
    print("== Synthetic DiD on California Prop 99 (N0=38, T0=19, 1 treated, T1=12) ==")
    print(f"R synthdid (published): SDID {pub['vignette']['estimates']['sdid']}, SC {pub['vignette']['estimates']['sc']}, "
          f"DiD {pub['vignette']['estimates']['did']}; placebo SE (set.seed(12345), 200 reps) "
          f"SDID {pub['paper_table1']['placebo_se']['sdid']}, SC {pub['paper_table1']['placebo_se']['sc']}, DiD {pub['paper_table1']['placebo_se']['did']}")

    t_ours, ours = best_of(lambda: synthetic_did(d, "PacksPerCapita", unit="State", time="Year", treated="treated",
                                                 se_method="placebo", n_reps=200, seed=12345, compare=False))
    print(f"csceval synthetic_did   : tau {ours.overall.estimate:.5f}  placebo SE {ours.overall.std_error:.4f} "
          f"(seed 12345 = R's draws)  time {t_ours:.3f} s  [SDID + 200 placebo reps]")
    t_all, allr = best_of(lambda: synthetic_did(d, "PacksPerCapita", unit="State", time="Year", treated="treated",
                                                seed=12345, compare=True), n=1)
    c = allr.comparison.set_index("estimator")
    print("csceval (compare=True)  : " + ", ".join(f"{k} {c.loc[k, 'estimate']:.5f} (SE {c.loc[k, 'std_error']:.3f})" for k in c.index)
          + f"  time {t_all:.3f} s [3 estimators x 200 placebo reps]")

    try:
        from diff_diff import SyntheticDiD

        dd = d.assign(tr=(d.State == "California").astype(int))

        def run_dd():
            m = SyntheticDiD(variance_method="placebo", n_bootstrap=200, seed=1)
            return m.fit(dd, outcome="PacksPerCapita", treatment="tr", unit="State", time="Year",
                         post_periods=list(range(1989, 2001)))

        t_dd, r_dd = best_of(run_dd)
        import diff_diff
        print(f"diff-diff {diff_diff.__version__:<14}: tau {r_dd.att:.5f}  placebo SE {r_dd.se:.4f} (its own RNG)  time {t_dd:.3f} s")
        print(f"   |tau diff-diff - tau csceval| = {abs(r_dd.att - ours.overall.estimate):.2e}")
    except Exception as exc:  # pragma: no cover - peer missing
        print(f"diff-diff: not run ({exc!r})")

    try:
        from synthdid.synthdid import Synthdid
        from synthdid.vcov import placebo_se

        def run_sd():
            m = Synthdid(d, unit="State", time="Year", treatment="treated", outcome="PacksPerCapita").fit()
            se = placebo_se(m.data_ref, n_reps=200)
            return m.att, se

        t_sd, (att_sd, se_sd) = best_of(run_sd, n=1)
        print(f"synthdid.py 0.10.1      : tau {att_sd:.5f}  placebo SE {se_sd:.4f} (numpy RNG)  time {t_sd:.3f} s "
              "(note: its .vcov() ignores n_reps and always uses 50; placebo_se called with n_reps=200)")
    except Exception as exc:  # pragma: no cover
        print(f"synthdid.py: not run ({exc!r})")

    print()
    print("== Synthetic control (outcome-only: every pre-period outcome a predictor) ==")
    t_sc, sc = best_of(lambda: synthetic_control(d, "PacksPerCapita", unit="State", time="Year", treated="treated",
                                                 placebo_in_space=False), n=3)
    w = sc.weights.set_index("donor")["weight"]
    print(f"csceval synthetic_control: avg post gap {sc.overall.estimate:.4f}, pre-RMSPE {sc.rmspe.iloc[0]['pre_rmspe']:.4f}, time {t_sc:.3f} s")
    print("   weights: " + ", ".join(f"{k} {v:.4f}" for k, v in w[w > 1e-4].sort_values(ascending=False).items()))
    t_scp, scp = best_of(lambda: synthetic_control(d, "PacksPerCapita", unit="State", time="Year", treated="treated"), n=1)
    print(f"   with placebo-in-space (38 refits): p = {scp.overall.p_value:.4f}, time {t_scp:.3f} s")
    print("   published synthdid sc_estimate weights (Table 7, 2 dp): " + ", ".join(f"{k} {v}" for k, v in pub["paper_table7_sc_weights"].items()))
    try:
        from pysyncon import Dataprep, Synth

        years = list(range(1970, 1989))
        controls = sorted(s for s in d.State.unique() if s != "California")
        sp = [("PacksPerCapita", [y], "mean") for y in years]

        def run_ps():
            dp = Dataprep(foo=d, predictors=[], predictors_op="mean", dependent="PacksPerCapita", unit_variable="State",
                          time_variable="Year", treatment_identifier="California", controls_identifier=controls,
                          time_predictors_prior=years, time_optimize_ssr=years, special_predictors=sp)
            s = Synth()
            s.fit(dataprep=dp, optim_method="Nelder-Mead", optim_initial="equal")
            return s

        t_ps, ps = best_of(run_ps, n=1)
        wp = pd.Series(ps.W, index=ps.W_names)
        gap_ps = float((d[d.State == "California"].set_index("Year")["PacksPerCapita"]
                        - d[d.State.isin(controls)].pivot(index="Year", columns="State", values="PacksPerCapita")[wp.index] @ wp.to_numpy())
                       .loc[1989:].mean())
        pre_ps = float(np.sqrt(ps.loss_V))
        print(f"pysyncon Synth (NM, SLSQP): avg post gap {gap_ps:.4f}, pre-RMSPE {pre_ps:.4f}, time {t_ps:.3f} s")
        print("   weights: " + ", ".join(f"{k} {v:.4f}" for k, v in wp[wp > 1e-4].sort_values(ascending=False).items()))
        common = w.reindex(wp.index).fillna(0)
        print(f"   max |w_csceval - w_pysyncon| = {np.abs(common.to_numpy() - wp.to_numpy()).max():.4f}; "
              f"pre-RMSPE csceval - pysyncon = {sc.rmspe.iloc[0]['pre_rmspe'] - pre_ps:+.5f} (negative = csceval fits better)")
    except Exception as exc:  # pragma: no cover
        print(f"pysyncon: not run ({exc!r})")


if __name__ == "__main__":
    main()
