"""By-hand comparison: csceval.did.honest_did vs moderndid (Python port of HonestDiD) vs the published R numbers.

Not part of the test suite (needs ``pip install moderndid pyfixest``). Run from the repository root:

    .venv/bin/python tests/reference/honest_did/compare_moderndid.py [--write-medicaid]

It
1. recomputes the Medicaid README event study (betahat, sigma) with pyfixest on moderndid's copy of
   ehec_data, and with csceval.did.event_study_twfe (same coefficients; covariance rescaled from
   csceval's CR1 factor to fixest's), and optionally writes them into medicaid_readme.json;
2. runs both sensitivity analyses of the README and the BCdata relative-magnitudes analysis
   (8-period event study, default Mbar grid of 10 values, 1,000 grid points) with csceval and
   moderndid, printing bounds and wall-clock times side by side.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def medicaid_inputs() -> tuple[np.ndarray, np.ndarray, dict]:
    import moderndid as md
    import pyfixest as pf

    from csceval.did import event_study_twfe

    df = md.load_ehec().to_pandas()
    df = df[(df["year"] < 2016) & (df["yexp2"].isna() | (df["yexp2"] != 2015))].copy()
    df["D"] = (df["yexp2"] == 2014).astype(int)
    years = [2008, 2009, 2010, 2011, 2012, 2014, 2015]
    for y in years:
        df[f"D_{y}"] = df["D"] * (df["year"] == y)
    terms = [f"D_{y}" for y in years]
    fit = pf.feols("dins ~ " + " + ".join(terms) + " | stfips + year", data=df, vcov={"CRV1": "stfips"})
    b = fit.coef()[terms].to_numpy()
    names = list(fit.coef().index)
    idx = [names.index(t) for t in terms]
    V = np.asarray(fit._vcov)[np.ix_(idx, idx)]

    # csceval: same regression through event_study_twfe (cohort 2014 for D == 1, never treated otherwise)
    panel = df.assign(stfips=df["stfips"].astype(int).astype(str), first_treated=np.where(df["D"] == 1, 2014, 0))
    es = event_study_twfe(panel, "dins", unit="stfips", time="year", cohort="first_treated", leads=6, lags=1)
    # event_study_twfe omits e = -1 (2013), as the README does: map years to event times
    ours_terms = [f"event_time[{y - 2014}]" for y in years]
    coefs = es.coefficients.set_index("term")
    b_ours = coefs.loc[ours_terms, "estimate"].to_numpy()
    n, g = es.n_obs, es.n_units
    k = len(ours_terms)
    n_years = df["year"].nunique()
    ours_factor = es.metadata["small_sample_factor"]
    fixest_factor = g / (g - 1) * (n - 1) / (n - k - n_years)  # fixest: K = coefficients + year levels (state FE nested in clusters not counted)
    V_ours = es.vcov.loc[ours_terms, ours_terms].to_numpy() / ours_factor * fixest_factor
    info = {"max_abs_diff_beta": float(np.max(np.abs(b - b_ours))),
            "max_rel_diff_sigma": float(np.max(np.abs(V - V_ours) / np.abs(V)))}
    return b, V, info


def _col(frame, name):
    """Column as a numpy array (moderndid returns polars or pandas frames)."""
    return np.asarray(frame[name].to_numpy())


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> None:
    import moderndid.didhonest as mdh

    from csceval.did import honest_did

    b, V, info = medicaid_inputs()
    print("Medicaid inputs: pyfixest vs csceval event_study_twfe:", info)
    ref = json.loads((HERE / "medicaid_readme.json").read_text())
    stored_b = np.array(ref["inputs"]["betahat"])
    print("stored betahat reproduced (max abs diff):", float(np.max(np.abs(stored_b - b))))
    if "--write-medicaid" in sys.argv:
        ref["inputs"]["betahat"] = b.tolist()
        ref["inputs"]["sigma"] = V.tolist()
        (HERE / "medicaid_readme.json").write_text(json.dumps(ref, indent=1))

    rows = []
    # relative magnitudes, README grid
    pub = ref["relative_magnitudes"]["printed"]
    ours, t_ours = timed(honest_did, betahat=b, sigma=V, num_pre_periods=5, num_post_periods=2, Mbar=pub["Mbar"],
                         refine_breakdown=False)
    theirs, t_theirs = timed(mdh.create_sensitivity_results_rm, betahat=b, sigma=V, num_pre_periods=5,
                             num_post_periods=2, m_bar_vec=pub["Mbar"])
    for i, m in enumerate(pub["Mbar"]):
        rows.append({"analysis": "Medicaid RM C-LF", "param": m, "R_lb": pub["lb"][i], "csceval_lb": ours.table["lb"][i],
                     "moderndid_lb": _col(theirs, "lb")[i], "R_ub": pub["ub"][i], "csceval_ub": ours.table["ub"][i],
                     "moderndid_ub": _col(theirs, "ub")[i]})
    print(f"Medicaid RM (4 Mbar values): csceval {t_ours:.2f} s, moderndid {t_theirs:.2f} s")
    pub = ref["smoothness"]["printed"]
    ours, t_ours = timed(honest_did, betahat=b, sigma=V, num_pre_periods=5, num_post_periods=2, method="smoothness",
                         M=pub["M"], refine_breakdown=False)
    theirs, t_theirs = timed(mdh.create_sensitivity_results_sm, betahat=b, sigma=V, num_pre_periods=5,
                             num_post_periods=2, m_vec=pub["M"])
    for i, m in enumerate(pub["M"]):
        rows.append({"analysis": "Medicaid SD FLCI", "param": m, "R_lb": pub["lb"][i], "csceval_lb": ours.table["lb"][i],
                     "moderndid_lb": _col(theirs, "lb")[i], "R_ub": pub["ub"][i], "csceval_ub": ours.table["ub"][i],
                     "moderndid_ub": _col(theirs, "ub")[i]})
    print(f"Medicaid SD FLCI (6 M values): csceval {t_ours:.2f} s, moderndid {t_theirs:.2f} s")

    bc = json.loads((HERE / "bc_eventstudy_r.json").read_text())
    bb, bs = np.array(bc["betahat"]), np.array(bc["sigma"])
    mbar = list(np.linspace(0, 2, 10))
    ours, t_ours = timed(honest_did, betahat=bb, sigma=bs, num_pre_periods=4, num_post_periods=4, Mbar=mbar,
                         refine_breakdown=False)
    theirs, t_theirs = timed(mdh.create_sensitivity_results_rm, betahat=bb, sigma=bs, num_pre_periods=4,
                             num_post_periods=4, m_bar_vec=mbar)
    for i, m in enumerate(mbar):
        rows.append({"analysis": "BCdata RM C-LF (8 periods)", "param": round(m, 4), "R_lb": np.nan,
                     "csceval_lb": ours.table["lb"][i], "moderndid_lb": _col(theirs, "lb")[i], "R_ub": np.nan,
                     "csceval_ub": ours.table["ub"][i], "moderndid_ub": _col(theirs, "ub")[i]})
    grid_step = 40 * np.sqrt(bs[4, 4]) / 999
    print(f"BCdata RM, 10 Mbar values x 1,000 grid points (step {grid_step:.2e}): csceval {t_ours:.2f} s, "
          f"moderndid {t_theirs:.2f} s, speed-up x{t_theirs / t_ours:.0f}")
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))


if __name__ == "__main__":
    main()
