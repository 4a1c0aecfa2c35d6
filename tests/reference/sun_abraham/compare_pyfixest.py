"""By-hand comparison: csceval.did.sun_abraham vs pyfixest's saturated event study (fixest sunab port).

Not part of the test suite (needs ``pip install pyfixest`` and, for mpdta, ``moderndid``). Run from the
repository root:

    .venv/bin/python tests/reference/sun_abraham/compare_pyfixest.py [--write]

pyfixest's ``event_study(estimator="saturated")`` fits ``y ~ sunab(g, t, no_agg = TRUE) | unit + t``
and aggregates by period with cohort shares; its own test suite (tests/test_did.py::
test_fully_interacted) asserts equality with R ``fixest::feols(dep_var ~ sunab(g, year) | unit +
year, vcov = ~unit)`` coefficients and SEs. ``--write`` stores pyfixest's numbers on did2s::df_het in
pyfixest_saturated_df_het.yaml, which tests/test_did_sun_abraham.py checks against.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from csceval.did import sun_abraham

HERE = Path(__file__).parent


def compare(data: pd.DataFrame, y: str, unit: str, t: str, g: str, label: str) -> dict:
    import pyfixest as pf

    d = data.copy()
    d["_unit_str"] = d[unit].astype(str)
    t0 = time.perf_counter()
    ours = sun_abraham(d, y, unit="_unit_str", time=t, cohort=g)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sat = pf.event_study(data=d, yname=y, idname=unit, tname=t, gname=g, estimator="saturated")
        agg = sat.aggregate()
    t_pf = time.perf_counter() - t0
    agg.index = agg.index.astype(int)
    es = ours.table("event_study").set_index("event_time")
    es = es[~es["reference"]]
    j = es.join(agg.astype(float), how="inner")
    d_est = float((j["estimate"] - j["Estimate"]).abs().max())
    d_se = float((j["std_error"] / j["Std. Error"] - 1).abs().max())
    # cohort x period coefficients
    pc = sat.coef()
    pse = sat.se()
    n_cells = len(ours.metadata["cell_weights"])
    ours_cells = np.sort(ours.coefficients["estimate"].to_numpy()[:n_cells])
    d_cell = float(np.abs(ours_cells - np.sort(pc.to_numpy())).max())
    d_cell_se = float(np.abs(np.sort(ours.coefficients["std_error"].to_numpy()[:n_cells]) / np.sort(pse.to_numpy()) - 1).max())
    print(f"{label}: {len(j)} event times compared; max |est diff| {d_est:.2e}, max |SE ratio - 1| {d_se:.2e}; "
          f"{n_cells} cohort x period cells: max |diff| {d_cell:.2e}, SE {d_cell_se:.2e}; "
          f"time csceval {t_ours:.2f}s, pyfixest {t_pf:.2f}s")
    print(f"  overall ATT (csceval, fixest agg='ATT' definition): {ours.overall.estimate:.6f} ({ours.overall.std_error:.6f})")
    return {"event_time": [int(e) for e in j.index], "estimate": [float(v) for v in j["Estimate"]],
            "std_error": [float(v) for v in j["Std. Error"]]}


def main() -> None:
    import pyfixest

    print(f"pyfixest {pyfixest.__version__}")
    df_het = pd.read_csv(HERE.parent / "data" / "df_het.csv.gz")
    stored = compare(df_het, "dep_var", "unit", "year", "g", "did2s df_het (1,500 units, 31 years)")
    try:
        import moderndid as md

        mp = md.load_mpdta().to_pandas()
        mp["first_treat"] = mp["first.treat"]
        compare(mp, "lemp", "countyreal", "year", "first_treat", "did mpdta (500 counties, 2003-2007)")
    except ImportError:
        print("moderndid not installed: mpdta comparison skipped")
    if "--write" in sys.argv:
        out = {
            "source": {"package": f"pyfixest {pyfixest.__version__}",
                       "call": "pyfixest.event_study(data=df_het, yname='dep_var', idname='unit', tname='year', "
                               "gname='g', estimator='saturated').aggregate()",
                       "validated_against": "R fixest sunab in pyfixest tests/test_did.py::test_fully_interacted",
                       "r_equivalent": "aggregate(feols(dep_var ~ sunab(g, year) | unit + year, df_het, "
                                       "vcov = ~unit), agg = 'period')"},
            "data": "tests/reference/data/df_het.csv.gz",
            "tolerance": {"estimate_abs": 1e-10, "std_error_rel": 1e-8},
            **stored,
        }
        (HERE / "pyfixest_saturated_df_het.yaml").write_text(yaml.safe_dump(out, sort_keys=False, width=120))
        print("wrote", HERE / "pyfixest_saturated_df_het.yaml")


if __name__ == "__main__":
    main()
