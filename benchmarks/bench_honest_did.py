"""HonestDiD relative-magnitude bounds for an 8-period event study. csceval vs moderndid (port of R HonestDiD).

Input: the BCdata event study shipped with R HonestDiD (4 pre- and 4 post-periods; betahat and sigma
stored in tests/reference/honest_did/bc_eventstudy_r.json). Both compute the C-LF robust confidence
sets under Delta^RM for ``n_mbar`` values of Mbar in [0, 2] with ``grid_points`` grid points (csceval
without its optional breakdown refinement, which moderndid does not do) on the same explicit grid
[-1, 1] (the packages' default grids differ in width). Bounds must agree to within two grid steps: the
least-favourable critical value is simulated by both, with different random number generators
(csceval reproduces R's draws). moderndid takes minutes per call, so the full run times one call per side.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from _harness import Pair

REF = Path(__file__).resolve().parents[1] / "tests" / "reference" / "honest_did" / "bc_eventstudy_r.json"


GRID = (-1.0, 1.0)


def pair(n_mbar: int = 10, grid_points: int = 1000) -> Pair:
    import moderndid.didhonest as mdh

    from csceval.did import honest_did

    bc = json.loads(REF.read_text())
    b, s = np.array(bc["betahat"]), np.array(bc["sigma"])
    mbar = list(np.linspace(0, 2, n_mbar))

    def ours():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return honest_did(betahat=b, sigma=s, num_pre_periods=4, num_post_periods=4, Mbar=mbar,
                              grid_points=grid_points, grid_lb=GRID[0], grid_ub=GRID[1], refine_breakdown=False)

    def peer():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mdh.create_sensitivity_results_rm(betahat=b, sigma=s, num_pre_periods=4, num_post_periods=4,
                                                     m_bar_vec=mbar, grid_points=grid_points, grid_lb=GRID[0],
                                                     grid_ub=GRID[1])

    def check(o, p) -> str:
        lb = np.asarray(o.table["lb"], float), np.asarray(p["lb"].to_numpy(), float)
        ub = np.asarray(o.table["ub"], float), np.asarray(p["ub"].to_numpy(), float)
        d = max(np.nanmax(np.abs(lb[0] - lb[1])), np.nanmax(np.abs(ub[0] - ub[1])))
        width = float(np.nanmax(ub[0] - lb[0]))
        step = (GRID[1] - GRID[0]) / (grid_points - 1)
        verdict = "equal" if d <= 2.01 * step else "DIFFERENT"
        return f"{verdict} bounds to the grid step ({n_mbar} Mbar values; max |diff| {d:.2e}, step {step:.2e}, widest set {width:.3f})"

    from importlib.metadata import version

    return Pair(f"honest_did relative magnitudes ({n_mbar} Mbar x {grid_points} grid points)",
                "BCdata event study, 4 pre + 4 post periods", ours, peer, f"moderndid {version('moderndid')}", check,
                max_runs=1)
