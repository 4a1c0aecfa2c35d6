"""By-hand comparison: csceval.inference.wild_cluster_bootstrap vs wildboottest and pyfixest's wildboottest.

Not part of the test suite (needs ``pip install wildboottest pyfixest``). Run from the repository root:

    .venv/bin/python tests/reference/inference/compare_wildboottest.py

Identical data: LA-shaped panels from csceval.inference.simulate_null_panel (150 units, 12 annual or 48
quarterly periods, FFfC waves 3 + 7) with a small true effect added to treated cells. The regression is
the static TWFE DiD with unit and period effects, clustered by unit:
* csceval: unit effects partialled out, period effects as regressors (exact FWL), fast algorithm;
* wildboottest (statsmodels OLS): unit and period dummies written out;
* pyfixest: ``feols("y ~ treated | la_code + period")`` then ``.wildboottest``.
All three draw the weights with numpy's default_rng(seed).choice in the same order, so with the same seed
the p-values coincide exactly (compare_wildboottest_output.txt); with different seeds they would agree
within Monte Carlo error, sqrt(p (1 - p) / B) <= 0.005 for B = 9,999. Small-sample factors only scale t
and do not move bootstrap p-values.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from csceval.inference import simulate_null_panel, wild_cluster_bootstrap

warnings.filterwarnings("ignore")


def panel(n_periods: int, seed: int, effect: float = 0.4) -> pd.DataFrame:
    df = simulate_null_panel(n_units=150, n_periods=n_periods, waves=(3, 7), rng=seed,
                             first_wave_period=n_periods - 3)
    treated = (df["first_treated"].notna() & (df["period"] >= df["first_treated"])).astype(float)
    # integer cluster codes: wildboottest's numba kernels reject object (string) arrays
    return df.assign(treated=treated, y=df["y"] + effect * treated, cl=pd.factorize(df["la_code"])[0])


def run_csceval(df, restricted, weights, B):
    t0 = time.perf_counter()
    r = wild_cluster_bootstrap(df, "y", restricted=restricted, weights=weights, n_boot=B, seed=1, ci=True)
    return {"p": r.p_value, "t": r.t_stat, "ci": r.ci, "seconds": time.perf_counter() - t0}


def run_wildboottest(df, restricted, weights, B):
    import statsmodels.api as sm
    from wildboottest.wildboottest import wildboottest

    X = pd.get_dummies(df[["la_code", "period"]].astype(str), drop_first=False, dtype=float)
    X = X.drop(columns=[c for c in X.columns if c.startswith("period_")][:1])
    X.insert(0, "treated", df["treated"].to_numpy())
    model = sm.OLS(df["y"].to_numpy(), X)
    t0 = time.perf_counter()
    out = wildboottest(model, B=B, cluster=df["cl"].to_numpy(), param="treated", weights_type=weights,
                       impose_null=restricted, seed=1, show=False)
    return {"p": float(out["p-value"].iloc[0]), "t": float(out["statistic"].iloc[0]), "ci": None,
            "seconds": time.perf_counter() - t0}


def run_pyfixest(df, restricted, weights, B):
    import pyfixest as pf

    fit = pf.feols("y ~ treated | cl + period", data=df, vcov={"CRV1": "cl"})
    t0 = time.perf_counter()
    out = fit.wildboottest(reps=B, param="treated", weights_type=weights, impose_null=restricted, seed=1)
    return {"p": float(out["Pr(>|t|)"]), "t": float(out["t value"]), "ci": None, "seconds": time.perf_counter() - t0}


def main() -> None:
    rows = []
    for n_periods in (12, 48):
        df = panel(n_periods, seed=n_periods)
        for restricted in (True, False):
            for weights in ("webb", "rademacher"):
                B = 9999
                for name, fn in (("csceval", run_csceval), ("wildboottest", run_wildboottest),
                                 ("pyfixest", run_pyfixest)):
                    try:
                        res = fn(df, restricted, weights, B)
                    except Exception as exc:  # noqa: BLE001 - report and continue
                        res = {"p": np.nan, "t": np.nan, "ci": None, "seconds": np.nan, "error": repr(exc)[:80]}
                    rows.append({"panel": f"150 x {n_periods}", "bootstrap": "WCR" if restricted else "WCU",
                                 "weights": weights, "package": name, **res})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 90):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
