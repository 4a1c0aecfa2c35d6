"""By-hand comparison: csceval.did.two_stage vs pyfixest.did2s (a port of R did2s) and the stored R outputs.

Not part of the test suite (needs ``pip install pyfixest``). Run from the repository root:

    .venv/bin/python tests/reference/two_stage/compare_pyfixest.py
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from csceval.did import two_stage
from csceval.did.two_stage import _two_stage_core

HERE = Path(__file__).parent


def main() -> None:
    import pyfixest
    from pyfixest.did.estimation import did2s

    print(f"pyfixest {pyfixest.__version__}")
    d = pd.read_csv(HERE.parent / "data" / "df_het.csv.gz")
    d["treat"] = (d["g"] > 0) & (d["year"] >= d["g"])
    d["rel_year"] = np.where(d["g"] > 0, d["year"] - d["g"], -np.inf)
    ref = yaml.safe_load((HERE / "did2s_df_het.yaml").read_text())["references"]["pyfixest_r_outputs"]

    # 1. static, state effects, clustered by state (the did2s README call)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf1 = did2s(d.copy(), yname="dep_var", first_stage="~ 0 | state + year", second_stage="~ treat",
                    treatment="treat", cluster="state")
    t_pf = time.perf_counter() - t0
    s = pd.factorize(d["state"])[0]
    t = pd.factorize(d["year"], sort=True)[0]
    t0 = time.perf_counter()
    ours = _two_stage_core(d["dep_var"].to_numpy(), s, t, ~d["treat"].to_numpy(), d["treat"].to_numpy(float)[:, None], s)
    t_ours = time.perf_counter() - t0
    print("static (state FE, cluster state):")
    print(f"  R did2s   {ref['model1']['estimate'][0]:.15f} ({ref['model1']['std_error'][0]:.15f})")
    print(f"  pyfixest  {float(pf1.coef().iloc[0]):.15f} ({float(pf1.se().iloc[0]):.15f})  [{t_pf:.2f}s]")
    print(f"  csceval   {ours.coef[0]:.15f} ({np.sqrt(ours.vcov[0, 0]):.15f})  [{t_ours:.2f}s]")

    # 2. event study i(rel_year, ref = -1): all 41 coefficients
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf2 = did2s(d.copy(), yname="dep_var", first_stage="~ 0 | state + year",
                    second_stage="~ i(rel_year, ref = -1.0)", treatment="treat", cluster="state")
    terms = [float(v) for v in ref["model2"]["term"]]
    X2 = np.column_stack([(d["rel_year"] == v).to_numpy(float) for v in terms])
    es = _two_stage_core(d["dep_var"].to_numpy(), s, t, ~d["treat"].to_numpy(), X2, s)
    r_est, r_se = np.array(ref["model2"]["estimate"]), np.array(ref["model2"]["std_error"])
    pf_est, pf_se = pf2.coef().to_numpy(), pf2.se().to_numpy()
    print("event study (41 coefficients):")
    print(f"  csceval vs R:        max |est diff| {np.abs(es.coef - r_est).max():.2e}, "
          f"max |SE ratio - 1| {np.abs(np.sqrt(np.diag(es.vcov)) / r_se - 1).max():.2e}")
    print(f"  pyfixest vs R:       max |est diff| {np.abs(np.sort(pf_est) - np.sort(r_est)).max():.2e}, "
          f"max |SE ratio - 1| {np.abs(np.sort(pf_se) / np.sort(r_se) - 1).max():.2e}  (sorted match)")

    # 3. public API: unit effects, clustered by unit
    d["la"] = d["unit"].astype(str)
    t0 = time.perf_counter()
    res = two_stage(d, "dep_var", unit="la", time="year", cohort="g")
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf3 = did2s(d.copy(), yname="dep_var", first_stage="~ 0 | unit + year", second_stage="~ treat",
                    treatment="treat", cluster="unit")
    t_pf = time.perf_counter() - t0
    print("public two_stage() (unit FE, cluster unit), overall:")
    print(f"  pyfixest  {float(pf3.coef().iloc[0]):.12f} ({float(pf3.se().iloc[0]):.12f})  [{t_pf:.2f}s]")
    print(f"  csceval   {res.overall.estimate:.12f} ({res.overall.std_error:.12f})  [{t_ours:.2f}s incl. event study]")


if __name__ == "__main__":
    main()
