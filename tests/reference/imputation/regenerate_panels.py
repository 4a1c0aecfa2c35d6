"""Regenerate the two didimputation reference panels at full double precision.

The panels were simulated in R by igerber/diff-diff benchmarks/R/generate_didimputation_golden.R
(set.seed(2024); rnorm). csceval reproduces R's default RNG (Mersenne-Twister + inversion) in
``csceval.did.honest_did._r_rnorm``, so the same draws, and the same arithmetic in the same order,
give the panels R held in memory when it computed the golden values (the CSV diff-diff publishes is
the same data rounded to 15 significant digits by data.table::fwrite).

Run from the repository root:  .venv/bin/python tests/reference/imputation/regenerate_panels.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from csceval.did.honest_did import _r_rnorm

OUT = Path(__file__).resolve().parents[1] / "data"
COHORTS = (0, 3, 5)          # 0 = never treated
N_PER_COHORT, N_PERIODS = 60, 8


def tau(k: int) -> float:
    return 1.0 + 0.5 * k


def panels() -> tuple[pd.DataFrame, pd.DataFrame]:
    z = _r_rnorm(1620 + 3060, 2024)  # base: 180 x (1 + 8) draws; covariate: 180 x (1 + 2 x 8)
    k = 0
    base, cov = [], []
    uid = 0
    for g in COHORTS:
        for _ in range(N_PER_COHORT):
            c = z[k]; k += 1
            for t in range(1, N_PERIODS + 1):
                u = 0.2 * z[k]; k += 1
                eff = tau(t - g) if (g > 0 and t >= g) else 0.0
                base.append((uid, t, g, c + 0.5 * t + eff + u))
            uid += 1
    uid = 0
    for g in COHORTS:
        for _ in range(N_PER_COHORT):
            c = z[k]; k += 1
            for t in range(1, N_PERIODS + 1):
                x = 0.4 * c + 0.2 * t + z[k]; k += 1
                u = 0.2 * z[k]; k += 1
                eff = tau(t - g) if (g > 0 and t >= g) else 0.0
                cov.append((uid, t, g, c + 0.5 * t + 0.7 * x + eff + u, x))
            uid += 1
    assert k == 1620 + 3060
    return (pd.DataFrame(base, columns=["unit", "time", "first_treat", "y"]),
            pd.DataFrame(cov, columns=["unit", "time", "first_treat", "y", "x"]))


if __name__ == "__main__":
    b, c = panels()
    # spot checks against the published 15-digit CSV (diff-diff benchmarks/data/didimputation_test_panel.csv)
    assert f"{b.loc[0, 'y']:.15g}" == "1.57571241935766"
    assert f"{b.loc[480, 'y']:.15g}" == "-0.719268682234314"
    b.to_csv(OUT / "didimputation_panel.csv", index=False, float_format="%.17g")
    c.to_csv(OUT / "didimputation_covariate_panel.csv", index=False, float_format="%.17g")
    print("wrote", OUT / "didimputation_panel.csv", OUT / "didimputation_covariate_panel.csv")
