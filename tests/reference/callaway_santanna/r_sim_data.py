"""Regenerate, bit for bit, the simulated panels behind R ``did``'s golden values in diff-diff.

igerber/diff-diff ``benchmarks/R/generate_csdid_test_values.R`` (MIT) simulates panels with
``did::reset.sim`` / ``did::build_sim_dataset`` (did 2.5.1) after ``set.seed(...)`` and stores R's
analytic ``att_gt`` / ``aggte`` results (``bstrap = FALSE``) in ``benchmarks/data/csdid_golden_values.json``.
The panels only use ``rnorm``, ``sample(x, 1, prob = p)`` and ``sample(1:50, replace = TRUE)``, so R's
default generator (Mersenne-Twister, inversion normals, rejection sampling), reproduced by
``csceval.did.synthetic_did.RRandom``, gives the same draws; the arithmetic below follows
``build_sim_dataset`` term by term (same order of operations), so the panels are the ones R held in
memory. ``tests/test_did_callaway_santanna.py`` checks the regenerated values against the 11
significant digits diff-diff printed before using the R results stored in ``did_golden_sim.yaml``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special

from csceval.did.synthetic_did import RRandom

_BIG = 134217728.0  # 2^27, R's INVERSION normal generator uses two uniforms per draw


class _R:
    def __init__(self, seed: int) -> None:
        self.rr = RRandom(seed)

    def runif(self, k: int) -> np.ndarray:
        return np.array([self.rr.unif() for _ in range(k)])

    def rnorm(self, k: int, mean=0.0) -> np.ndarray:
        out = np.empty(k)
        for i in range(k):
            u = math.floor(_BIG * self.rr.unif()) + self.rr.unif()
            out[i] = special.ndtri(u / _BIG)
        return mean + out  # rnorm(n, mean, sd = 1): mean + sd * norm_rand()

    def sample_prob(self, p: np.ndarray) -> int:
        """``sample(seq(0, T), size = 1, prob = p)``: R's ProbSampleNoReplace (descending order)."""
        p = np.asarray(p, dtype=float) / np.sum(p)   # FixupProb
        order = np.argsort(-p, kind="stable")       # revsort (no ties here)
        ps = p[order]
        rT = self.rr.unif()
        mass = 0.0
        j = 0
        for j in range(len(p) - 1):
            mass += ps[j]
            if rT <= mass:
                break
        else:
            j = len(p) - 1
        return int(order[j])  # value of seq(0, T) = 0-based position

    def sample_replace(self, n_values: int, size: int) -> np.ndarray:
        return np.array([self.rr.unif_index(n_values) + 1 for _ in range(size)], dtype=np.int64)


def reset_sim(time_periods: int = 4, n: int = 5000) -> dict:
    """``did::reset.sim(time.periods, n)``."""
    T = time_periods
    seq = np.arange(1, T + 1, dtype=float)
    return dict(time_periods=T, bett=seq.copy(), thet=seq.copy(), theu=seq.copy(), betu=seq.copy(),
                te_bet_ind=np.ones(T), te_bet_X=seq.copy(), te_t=seq.copy(), te_e=np.zeros(T), te=1.0, n=n,
                gamG=np.arange(0, T + 1) / (2 * T), ipw=True, reg=True)


def build_sim_dataset(sp: dict, r: _R) -> pd.DataFrame:
    """``did::build_sim_dataset(sp, panel = TRUE)`` with the R generator ``r`` (after set.seed)."""
    T, n = sp["time_periods"], sp["n"]
    X = r.rnorm(n)
    if sp["ipw"]:
        e = np.exp(np.outer(X, sp["gamG"]))
    else:
        e = np.exp(np.outer((special.ndtr(X) + 0.5) ** 2, sp["gamG"]))
    pr = e / e.sum(axis=1)[:, None]
    G = np.array([r.sample_prob(pr[i]) for i in range(n)], dtype=float)
    tr = G > 0
    Gt = G[tr]
    nt = len(Gt)
    Xmodel = X if sp["reg"] else X ** 2
    Xt = Xmodel[tr]
    Ct = r.rnorm(nt, mean=Gt)
    Y0t = np.column_stack([sp["thet"][t] + Ct + Xt * sp["bett"][t] + r.rnorm(nt) for t in range(T)])
    Y1t = np.column_stack([
        sp["te_t"][t] + sp["te_bet_ind"][Gt.astype(int) - 1] * Ct + Xt * sp["te_bet_X"][t]
        + (Gt <= t + 1) * sp["te_e"][np.maximum(t + 1 - Gt + 1, 1).astype(int) - 1] + sp["te"] + r.rnorm(nt)
        for t in range(T)
    ])
    Yt = np.column_stack([(Gt <= t + 1) * Y1t[:, t] + (Gt > t + 1) * Y0t[:, t] for t in range(T)])
    nu = int(np.sum(G == 0))
    Xu = Xmodel[G == 0]
    Cu = r.rnorm(nu)
    Y0u = np.column_stack([sp["theu"][t] + Cu + r.rnorm(nu) + Xu * sp["betu"][t] for t in range(T)])
    Gall = np.concatenate([Gt, np.zeros(nu)])
    Xall = np.concatenate([X[tr], X[G == 0]])
    Yall = np.vstack([Yt, Y0u])
    N = len(Gall)
    cluster = r.sample_replace(50, N)
    rows = pd.DataFrame({
        "G": np.repeat(Gall, T), "X": np.repeat(Xall, T), "id": np.repeat(np.arange(1, N + 1), T),
        "cluster": np.repeat(cluster, T), "period": np.tile(np.arange(1, T + 1), N), "Y": Yall.reshape(-1),
    })
    return rows[rows["G"] != 1].reset_index(drop=True)


def scenario(name: str) -> pd.DataFrame:
    """The panel of one diff-diff golden scenario (names as in csdid_golden_values.json)."""
    n_golden = 500
    if name == "default_no_covariates_dr":
        r = _R(91420241)
        sp = reset_sim(time_periods=4, n=n_golden)
        sp["bett"] = sp["betu"] = np.zeros(4)
        return build_sim_dataset(sp, r)
    if name in ("with_covariates_dr", "with_covariates_reg"):
        r = _R(91420242)
        sp = reset_sim(n=n_golden)
        sp["ipw"] = False
        return build_sim_dataset(sp, r)
    if name == "with_covariates_ipw":
        r = _R(91420243)
        sp = reset_sim(n=n_golden)
        sp["reg"] = False
        return build_sim_dataset(sp, r)
    if name == "two_period":
        r = _R(91420244)
        sp = reset_sim(time_periods=2, n=n_golden * 2)
        sp["ipw"] = False
        return build_sim_dataset(sp, r)
    if name == "dynamic_effects":
        r = _R(91420245)
        sp = reset_sim(time_periods=4, n=n_golden)
        sp["te"] = 0.0
        sp["te_e"] = np.arange(1, 5, dtype=float)
        return build_sim_dataset(sp, r)
    if name == "anticipation":
        r = _R(91420247)
        sp = reset_sim(time_periods=5, n=n_golden)
        sp["te"] = 0.0
        sp["te_e"] = np.arange(-1, 4, dtype=float)
        d = build_sim_dataset(sp, r)
        d["G"] = np.where(d["G"] == 0, 0, d["G"] + 1)
        return d[d["G"] <= 5].reset_index(drop=True)
    if name == "varying_vs_universal":
        r = _R(91420248)
        sp = reset_sim(time_periods=8, n=n_golden)
        sp["te"] = 0.0
        sp["te_e"] = np.arange(1, 9, dtype=float)
        d = build_sim_dataset(sp, r)
        d = d[(d["G"] <= 5) | (d["G"] == 0)].copy()
        d["G"] = np.where(d["G"] == 0, 0, d["G"] + 3)
        return d.reset_index(drop=True)
    if name == "two_group":
        r = _R(20241017)
        n = n_golden
        p3 = math.exp(0.5) / (1 + math.exp(0.5))
        g = np.where((r.runif(n) <= p3).astype(float) == 1, 3.0, 0.0)
        nu = r.rnorm(n, mean=g)
        att = r.rnorm(n, mean=3.0)
        yi = [t + nu + r.rnorm(n) for t in (1, 2, 3, 4)]
        yg = [1 + nu + r.rnorm(n), 2 + nu + r.rnorm(n)]
        yg.append(att + 3 + nu + r.rnorm(n))
        yg.append(1.5 * att + 4 + nu + r.rnorm(n))
        y = [(g == 3) * yg[k] + (g == 0) * yi[k] for k in range(4)]
        return pd.DataFrame({"id": np.repeat(np.arange(1, n + 1), 4), "period": np.tile([1, 2, 3, 4], n),
                             "G": np.repeat(g, 4), "Y": np.column_stack(y).reshape(-1)})
    raise ValueError(f"unknown scenario {name!r}")
