"""By-hand comparison: csceval.did.imputation vs diff-diff's ImputationDiD (a Python BJS port).

pyfixest has no BJS imputation estimator. Not part of the test suite (needs ``pip install diff-diff``).
Run from the repository root:

    .venv/bin/python tests/reference/imputation/compare_peers.py
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from csceval.did import imputation

HERE = Path(__file__).parent


def main() -> None:
    import diff_diff
    from diff_diff import ImputationDiD

    print(f"diff-diff {diff_diff.__version__}")
    gold = yaml.safe_load((HERE / "didimputation_golden.yaml").read_text())["tested"]
    for block, file, cov in (("base", "didimputation_panel.csv", None),
                             ("covariate", "didimputation_covariate_panel.csv", ["x"])):
        d = pd.read_csv(HERE.parent / "data" / file)
        t0 = time.perf_counter()
        ours = imputation(d.assign(unit=d["unit"].astype(str)), "y", unit="unit", time="time", cohort="first_treat",
                          covariates=cov, pretrends=False)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = ImputationDiD(cluster="unit")
            peer = est.fit(d, outcome="y", unit="unit", time="time", first_treat="first_treat", covariates=cov,
                           aggregate="event_study")
        t_peer = time.perf_counter() - t0
        g = gold[block]
        print(f"{block}: overall ATT  R {g['overall']['estimate']:.10f} ({g['overall']['std_error']:.10f})")
        print(f"        csceval {ours.overall.estimate:.10f} ({ours.overall.std_error:.10f})  [{t_ours:.2f}s]")
        print(f"        diff-diff {peer.overall_att:.10f} ({peer.overall_se:.10f})  [{t_peer:.2f}s]")
        es = ours.table("event_study").set_index("event_time")
        peer_es = {int(h): v for h, v in peer.event_study_effects.items()}
        diffs = [abs(es.loc[h, "estimate"] - peer_es[h]["effect"]) for h in es.index if h in peer_es]
        sediffs = [abs(es.loc[h, "std_error"] / peer_es[h]["se"] - 1) for h in es.index if h in peer_es]
        print(f"        horizons vs diff-diff: max |est diff| {max(diffs):.2e}, max |SE ratio - 1| {max(sediffs):.2e}")
        print(f"        horizons vs R: max |est diff| {np.abs(es['estimate'].to_numpy() - g['event_study']['estimate']).max():.2e}"
              f", max |SE ratio - 1| {np.abs(es['std_error'].to_numpy() / g['event_study']['std_error'] - 1).max():.2e}")


if __name__ == "__main__":
    main()
