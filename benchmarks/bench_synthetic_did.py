"""Synthetic difference-in-differences with placebo standard errors on California Prop 99. csceval vs diff-diff.

Data: the Abadie-Diamond-Hainmueller cigarette panel stored for the reference tests
(tests/reference/data/california_prop99.csv: 39 states x 31 years, California treated from 1989).
Both estimate the SDID ATT and its placebo standard error with ``n_reps`` placebo replications.
The point estimate must agree (R synthdid prints -15.60383); the placebo draws come from different
random number generators (csceval reproduces R's draws for a seed), so the standard errors agree only
up to simulation error and are reported, not compared.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from _harness import Pair

DATA = Path(__file__).resolve().parents[1] / "tests" / "reference" / "data" / "california_prop99.csv"
TOL = 1e-8


def pair(n_reps: int = 200) -> Pair:
    import diff_diff

    from csceval.did import synthetic_did

    if not DATA.exists():
        raise FileNotFoundError(f"{DATA} is missing (the reference copy of the Prop 99 panel)")
    d = pd.read_csv(DATA, sep=";")
    dd = d.assign(tr=(d["State"] == "California").astype(int))
    post = sorted(d.loc[d["treated"] == 1, "Year"].unique().tolist())

    def ours():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return synthetic_did(d, "PacksPerCapita", unit="State", time="Year", treated="treated",
                                 se_method="placebo", n_reps=n_reps, seed=12345, compare=False)

    def peer():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = diff_diff.SyntheticDiD(variance_method="placebo", n_bootstrap=n_reps, seed=1)
            return m.fit(dd, outcome="PacksPerCapita", treatment="tr", unit="State", time="Year", post_periods=post)

    def check(o, p) -> str:
        diff = abs(o.overall.estimate - p.att)
        return (f"{'equal' if diff <= TOL else 'DIFFERENT'} ATT {o.overall.estimate:.5f} (|diff| {diff:.1e}); "
                f"placebo SE {o.overall.std_error:.3f} vs {p.se:.3f} (different RNGs)")

    n_states, n_years = d["State"].nunique(), d["Year"].nunique()
    return Pair(f"synthetic_did + {n_reps} placebo reps (Prop 99)", f"{n_states} states x {n_years} years, 1 treated",
                ours, peer, f"diff-diff {diff_diff.__version__}", check,
                notes=["synthdid (synthdid-py) not run: it pins numpy 1.23 / pandas 1.5 and cannot share the environment"])
