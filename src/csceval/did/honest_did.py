r"""Sensitivity of event-study conclusions to violations of parallel trends (Rambachan & Roth 2023).

This is a Python implementation of the two default analyses of the R package ``HonestDiD``
(Rambachan & Roth; https://github.com/asheshrambachan/HonestDiD):

* **Smoothness restrictions** :math:`\Delta^{SD}(M)` — the slope of the differential trend may
  change by at most :math:`M` between consecutive periods,
  :math:`|(\delta_{t+1}-\delta_t)-(\delta_t-\delta_{t-1})| \le M` — with the optimal **fixed-length
  confidence interval** (FLCI) of the best affine estimator, as
  ``createSensitivityResults(method = "FLCI")``.
* **Relative magnitudes** :math:`\Delta^{RM}(\bar M)` — post-period changes in the differential
  trend are at most :math:`\bar M` times the largest pre-period change,
  :math:`|\delta_{t+1}-\delta_t| \le \bar M \max_{s<0}|\delta_{s+1}-\delta_s|` — with the
  conditional-least-favourable hybrid test of Andrews, Roth & Pakes (ARP) inverted over a grid,
  as ``createSensitivityResults_relativeMagnitudes(method = "C-LF")``: the union over the
  location and sign of the largest pre-period change of the ARP confidence sets.

Parameter of interest :math:`\theta = l'\tau_{post}` (default: the effect at event time ``e``).

Numerics
--------
The ARP test solves, at every grid value :math:`\theta`, the linear programme
:math:`\hat\eta(\theta) = \min_{\eta,\delta} \eta` s.t. :math:`y(\theta) - X\delta \le \eta\,\sigma`.
Its dual is :math:`\max \lambda'y(\theta)` over the polytope
:math:`\{\lambda \ge 0 : \sigma'\lambda = 1, X'\lambda = 0\}`, which does not depend on :math:`\theta`.
We enumerate the polytope's vertices once (bases of size :math:`\mathrm{rank}(X)+1`), so the LP value
for the whole grid, and for the 1,000 least-favourable simulation draws, is one matrix product;
the maximising vertex is the dual solution :math:`\tilde\gamma` that HonestDiD obtains from
lpSolve, and the truncation points of the conditional test follow in closed form from the
vertices (HonestDiD computes the same points by bisection on the dual LP, to 1e-6). When there
are too many vertex candidates (many post periods) the test falls back to solving each LP with
:func:`scipy.optimize.linprog` (HiGHS).

Simulations follow HonestDiD exactly: ``set.seed(seed)`` before each least-favourable critical
value (1,000 draws of ``mvtnorm::rmvnorm``, eigen square root) and before each folded-normal
quantile of the FLCI (10^6 draws). R's Mersenne-Twister and inversion normal generator are
reproduced (``r_compatible=True``, the default), so critical values match R to rounding; with
``r_compatible=False`` the FLCI uses the exact folded-normal quantile and the critical value
numpy draws.

Breakdown values are the smallest :math:`M` (or :math:`\bar M`) on the grid whose robust
confidence interval contains 0, refined by bisection between grid points (``refine_breakdown``).
"""

from __future__ import annotations

import itertools
import math
import re
import textwrap
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from csceval.did._panel import warn_caller

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["HonestDiDResult", "honest_did", "original_ci", "flci_delta_sd", "conditional_cs_delta_rm"]

_MAX_VERTEX_SUBSETS = 300_000


# =============================================================================================
# R's random number generator (Mersenne-Twister + inversion), for HonestDiD-identical simulations
# =============================================================================================
def _r_mt_state(seed: int) -> np.ndarray:
    """The 624-word Mersenne-Twister state that R's ``set.seed(seed)`` creates (RNG_Init)."""
    s = int(seed) & 0xFFFFFFFF
    for _ in range(50):
        s = (69069 * s + 1) & 0xFFFFFFFF
    words = np.empty(625, dtype=np.uint64)
    for j in range(625):
        s = (69069 * s + 1) & 0xFFFFFFFF
        words[j] = s
    return words[1:].astype(np.uint32)  # words[0] is R's position counter (reset to 624)


@lru_cache(maxsize=8)
def _r_rnorm_cached(n: int, seed: int) -> np.ndarray:
    bg = np.random.MT19937()
    bg.state = {"bit_generator": "MT19937", "state": {"key": _r_mt_state(seed), "pos": 624}}
    raw = bg.random_raw(2 * n).astype(np.float64).reshape(n, 2)
    u = raw * 2.3283064365386963e-10
    i2_32m1 = 2.328306437080797e-10
    u = np.where(u <= 0.0, 0.5 * i2_32m1, np.where(1.0 - u <= 0.0, 1.0 - 0.5 * i2_32m1, u))
    big = 134217728.0  # 2^27: R's INVERSION normal uses two uniforms per draw
    v = np.floor(big * u[:, 0]) + u[:, 1]
    out = special.ndtri(v / big)
    out.setflags(write=False)
    return out


def _r_rnorm(n: int, seed: int = 0) -> np.ndarray:
    """``set.seed(seed); rnorm(n)`` of R (default RNG kinds)."""
    return _r_rnorm_cached(int(n), int(seed))


def _rmvnorm(n: int, sigma: np.ndarray, seed: int, r_compatible: bool) -> np.ndarray:
    """``set.seed(seed); mvtnorm::rmvnorm(n, sigma = sigma)`` (eigen square root, rows filled by row)."""
    p = sigma.shape[0]
    if r_compatible:
        z = np.array(_r_rnorm(n * p, seed)).reshape(n, p)
    else:
        z = np.random.default_rng(seed).standard_normal((n, p))
    vals, vecs = np.linalg.eigh((sigma + sigma.T) / 2)
    root = (vecs * np.sqrt(np.maximum(vals, 0.0))) @ vecs.T
    return z @ root


def _qfoldednormal(p: float, mu: float, r_compatible: bool, seed: int = 0, n_sims: int = 10**6) -> float:
    """p-quantile of |N(mu, 1)|: R-identical simulation (HonestDiD) or exact root."""
    mu = float(mu)
    if r_compatible:
        draws = _r_rnorm(n_sims, seed)
        return float(np.quantile(np.abs(draws + mu), p))
    f = lambda x: stats.norm.cdf(x - mu) - stats.norm.cdf(-x - mu) - p  # noqa: E731
    hi = abs(mu) + 10.0
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-14))


# =============================================================================================
# Small linear-algebra helpers
# =============================================================================================
def _basis_vector(index: int, size: int) -> np.ndarray:
    v = np.zeros(size)
    v[index] = 1.0
    return v


def _construct_gamma(l_vec: np.ndarray) -> np.ndarray:
    """Invertible matrix with first row l' (HonestDiD's RREF construction: pivot columns of [l, I])."""
    n = len(l_vec)
    cols = [l_vec] + [_basis_vector(i, n) for i in range(n)]
    chosen: list[np.ndarray] = []
    for c in cols:
        trial = np.column_stack(chosen + [c])
        if np.linalg.matrix_rank(trial, tol=1e-10) == len(chosen) + 1:
            chosen.append(c)
        if len(chosen) == n:
            break
    gamma = np.array(chosen)
    if abs(np.linalg.det(gamma)) < 1e-14:
        raise ValueError("l_vec must not be zero")
    return gamma


def _create_A_RM(n_pre: int, n_post: int, mbar: float, s: int, max_positive: bool) -> np.ndarray:
    """Constraint matrix A with A delta <= 0 for Delta^RM_{s,sign}(Mbar) (HonestDiD .create_A_RM)."""
    n = n_pre + n_post
    atilde = np.zeros((n, n + 1))
    for r in range(n):
        atilde[r, r : r + 2] = [-1.0, 1.0]
    v = np.zeros(n + 1)
    v[n_pre + s - 1 : n_pre + s + 1] = [-1.0, 1.0]
    if not max_positive:
        v = -v
    a_ub = np.vstack([np.tile(v, (n_pre, 1)), np.tile(mbar * v, (n_post, 1))])
    A = np.vstack([atilde - a_ub, -atilde - a_ub])
    A = A[np.einsum("ij,ij->i", A, A) > 1e-10]
    return np.delete(A, n_pre, axis=1)


# =============================================================================================
# ARP conditional / hybrid test with nuisance parameters (vertex enumeration)
# =============================================================================================
@dataclass(frozen=True)
class _DualPolytope:
    vertices: np.ndarray  # nv x M
    ok: bool


def _dual_vertices(sd: np.ndarray, X: np.ndarray) -> _DualPolytope:
    """Vertices of {lambda >= 0 : sd' lambda = 1, X' lambda = 0} (X reduced to its column space)."""
    m = len(sd)
    if X.size:
        u, s, _ = np.linalg.svd(X, full_matrices=False)
        Xr = u[:, s > (s.max() * 1e-10 if s.size else 0)]
    else:
        Xr = np.zeros((m, 0))
    W = np.column_stack([sd, Xr])
    k1 = W.shape[1]
    if math.comb(m, k1) > _MAX_VERTEX_SUBSETS:
        return _DualPolytope(np.zeros((0, m)), ok=False)
    subsets = np.array(list(itertools.combinations(range(m), k1)), dtype=np.int64)
    Ws = W[subsets].transpose(0, 2, 1)  # (n_sub, k1, k1): W_S'
    e1 = _basis_vector(0, k1)
    det = np.linalg.det(Ws)
    good = np.abs(det) > 1e-12 * np.max(np.abs(W)) ** k1
    lam_s = np.linalg.solve(Ws[good], np.broadcast_to(e1, (good.sum(), k1))[..., None])[..., 0]
    feasible = (lam_s >= -1e-10).all(axis=1)
    lam_s = np.maximum(lam_s[feasible], 0.0)
    verts = np.zeros((len(lam_s), m))
    np.put_along_axis(verts, subsets[good][feasible], lam_s, axis=1)
    if len(verts):
        verts = np.unique(np.round(verts, 12), axis=0)
    return _DualPolytope(verts, ok=True)


def _truncnorm_ppf(p: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    out = np.full(np.broadcast(lo, hi).shape, np.nan)
    okm = lo < hi
    if okm.any():
        out[okm] = stats.truncnorm.ppf(p, lo[okm], hi[okm])
    return out


def _lf_cv_nuisance(verts: np.ndarray, sigma: np.ndarray, kappa: float, sims: int, seed: int, r_compatible: bool) -> float:
    xi = _rmvnorm(sims, sigma, seed, r_compatible)
    if len(verts) == 0:
        return np.nan
    eta = (xi @ verts.T).max(axis=1)
    return float(np.quantile(eta, 1 - kappa))


def _arp_accept_grid(
    y0: np.ndarray, a: np.ndarray, X: np.ndarray, sigma: np.ndarray, theta: np.ndarray, alpha: float,
    hybrid: str, kappa: float, lf_sims: int, seed: int, r_compatible: bool,
) -> np.ndarray:
    """Accept (1) / reject (0) of the ARP test of E[y(theta) - X delta] <= 0 at each theta.

    y(theta) = y0 - a * theta, Var(y) = sigma; hybrid "LF" (least-favourable first stage at
    kappa) or "ARP" (no hybrid).
    """
    sd = np.sqrt(np.diag(sigma))
    poly = _dual_vertices(sd, X)
    if not poly.ok:
        return _arp_accept_grid_lp(y0, a, X, sigma, theta, alpha, hybrid, kappa, lf_sims, seed, r_compatible)
    V = poly.vertices
    if len(V) == 0:  # LP unbounded: HonestDiD does not reject
        return np.ones(len(theta))
    lf_cv = _lf_cv_nuisance(V, sigma, kappa, lf_sims, seed, r_compatible) if hybrid == "LF" else np.inf
    mod_size = (alpha - kappa) / (1 - kappa) if hybrid == "LF" else alpha
    Y = y0[None, :] - theta[:, None] * a[None, :]  # G x M
    E = Y @ V.T  # G x nv
    best = E.argmax(axis=1)
    eta = E[np.arange(len(theta)), best]
    accept = np.ones(len(theta))
    first = eta > lf_cv
    accept[first] = 0.0
    SV = V @ sigma  # nv x M
    for v in np.unique(best[~first]):
        idx = np.flatnonzero((best == v) & ~first)
        g = V[v]
        s2 = float(g @ sigma @ g)
        if abs(s2) < np.finfo(float).eps:
            accept[idx] = (eta[idx] <= 0).astype(float)
            continue
        sig_b = np.sqrt(s2)
        lam_b = SV @ g / s2  # lambda_v' b for every vertex (b = sigma g / s2)
        gy = Y[idx] @ g  # = eta
        num = E[idx] - np.outer(gy, lam_b)  # lambda_v' s
        den = 1.0 - lam_b
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = num / den[None, :]
        pos = den > 1e-10
        neg = den < -1e-10
        vlo = np.where(pos.any(), np.max(np.where(pos[None, :], ratio, -np.inf), axis=1), -np.inf)
        vup = np.where(neg.any(), np.min(np.where(neg[None, :], ratio, np.inf), axis=1), np.inf)
        e_idx = eta[idx]
        # HonestDiD's bisection reports +-Inf once the optimal vertex survives at +-max(100, eta + 20 sd)
        vup = np.where(vup >= np.maximum(100.0, e_idx + 20 * sig_b), np.inf, vup)
        vlo = np.where(vlo <= np.minimum(-100.0, e_idx - 20 * sig_b), -np.inf, vlo)
        maxstat = e_idx / sig_b
        zlo = vlo / sig_b
        zup = np.minimum(vup, lf_cv) / sig_b if hybrid == "LF" else vup / sig_b
        inside = (zlo <= maxstat) & (maxstat <= zup)
        cv = np.maximum(0.0, _truncnorm_ppf(1 - mod_size, zlo, zup))
        rej = inside & (maxstat > cv)
        accept[idx] = 1.0 - rej
    return accept


def _arp_accept_grid_lp(y0, a, X, sigma, theta, alpha, hybrid, kappa, lf_sims, seed, r_compatible):  # pragma: no cover - large designs
    """Fallback: one HiGHS LP per grid point and simulation draw (primal approach of ARP)."""
    sd = np.sqrt(np.diag(sigma))
    m, k = X.shape
    c = np.r_[1.0, np.zeros(k)]
    A_ub = -np.column_stack([sd, X])

    def solve(y):
        res = optimize.linprog(c, A_ub=A_ub, b_ub=-y, bounds=[(None, None)] * (k + 1), method="highs")
        if res.status != 0:
            return None
        return res.fun, -res.ineqlin.marginals

    if hybrid == "LF":
        xi = _rmvnorm(lf_sims, sigma, seed, r_compatible)
        etas = [solve(x) for x in xi]
        lf_cv = float(np.quantile([e[0] for e in etas if e is not None], 1 - kappa))
        mod_size = (alpha - kappa) / (1 - kappa)
    else:
        lf_cv, mod_size = np.inf, alpha
    out = np.ones(len(theta))
    for i, th in enumerate(theta):
        y = y0 - a * th
        sol = solve(y)
        if sol is None:
            continue
        eta, lam = sol
        if eta > lf_cv:
            out[i] = 0.0
            continue
        B = lam > 1e-6
        if B.sum() != k + 1 or np.linalg.matrix_rank(X[B]) != min(X[B].shape):
            warn_caller("degenerate LP in the ARP fallback: not rejecting at this grid point", RuntimeWarning)
            continue
        WB = np.column_stack([sd[B], X[B]])
        WBc = np.column_stack([sd[~B], X[~B]])
        SB = np.eye(m)[B]
        gamma_b = WBc @ np.linalg.solve(WB, SB) - np.eye(m)[~B]
        vB = np.linalg.solve(WB, SB)[0]
        s2 = float(vB @ sigma @ vB)
        sig_b = np.sqrt(s2)
        rho = gamma_b @ sigma @ vB / s2
        mm = (-gamma_b @ y) / rho + vB @ y
        vlo = mm[rho > 0].max() if (rho > 0).any() else -np.inf
        vup = mm[rho < 0].min() if (rho < 0).any() else np.inf
        zlo, zup = vlo / sig_b, min(vup, lf_cv) / sig_b
        ms = eta / sig_b
        if not (zlo <= ms <= zup):
            continue
        cv = max(0.0, float(_truncnorm_ppf(1 - mod_size, np.array([zlo]), np.array([zup]))[0]))
        out[i] = 0.0 if ms > cv else 1.0
    return out


def _arp_nonuisance_accept(
    betahat: np.ndarray, sigma: np.ndarray, A: np.ndarray, d: np.ndarray, n_pre: int, theta: np.ndarray,
    alpha: float, hybrid: str, kappa: float, lf_sims: int, seed: int, r_compatible: bool,
) -> np.ndarray:
    """HonestDiD's no-nuisance ARP test (one post period), vectorised over theta."""
    sig_a = A @ sigma @ A.T
    sd = np.sqrt(np.diag(sig_a))
    At = A / sd[:, None]
    dt = d / sd
    e = _basis_vector(n_pre, len(betahat))
    Y = betahat[None, :] - theta[:, None] * e[None, :]
    mom = Y @ At.T - dt[None, :]
    j = mom.argmax(axis=1)
    maxm = mom[np.arange(len(theta)), j]
    if hybrid == "LF":
        xi = _rmvnorm(lf_sims, sig_a, seed, r_compatible) / sd[None, :]
        lf_cv = float(np.quantile(xi.max(axis=1), 1 - kappa))
        size = (alpha - kappa) / (1 - kappa)
    else:
        lf_cv, size = np.inf, alpha
    accept = np.ones(len(theta))
    first = maxm > lf_cv
    accept[first] = 0.0
    for jj in np.unique(j[~first]):
        idx = np.flatnonzero((j == jj) & ~first)
        gamma = At[jj]
        abar = At - At[jj][None, :]
        dbar = dt - dt[jj]
        s2 = float(gamma @ sigma @ gamma)
        sig_bar = np.sqrt(s2)
        c = sigma @ gamma / s2
        z = Y[idx] - np.outer(Y[idx] @ gamma, c)
        ac = abar @ c
        with np.errstate(divide="ignore", invalid="ignore"):
            obj = (dbar[None, :] - z @ abar.T) / ac[None, :]
        neg, pos = ac < 0, ac > 0
        vlo = np.max(np.where(neg[None, :], obj, -np.inf), axis=1) if neg.any() else np.full(len(idx), -np.inf)
        vup = np.min(np.where(pos[None, :], obj, np.inf), axis=1) if pos.any() else np.full(len(idx), np.inf)
        mu = dt[jj]
        q = mu + sig_bar * _truncnorm_ppf(1 - size, (vlo - mu) / sig_bar, (vup - mu) / sig_bar)
        cv = np.maximum(0.0, q)
        rej = (maxm[idx] + dt[jj]) > cv
        accept[idx] = 1.0 - rej
    return accept


def conditional_cs_delta_rm(
    betahat: np.ndarray, sigma: np.ndarray, num_pre_periods: int, num_post_periods: int, *,
    l_vec: np.ndarray | None = None, mbar: float = 0.0, alpha: float = 0.05, hybrid: str = "LF",
    grid_points: int = 1000, grid_lb: float | None = None, grid_ub: float | None = None,
    lf_sims: int = 1000, seed: int = 0, r_compatible: bool = True,
) -> pd.DataFrame:
    r"""HonestDiD ``computeConditionalCS_DeltaRM``: accept/reject over a theta grid for :math:`\Delta^{RM}(\bar M)`.

    Returns a DataFrame ``grid, accept``. The grid defaults to :math:`[-20, 20]` times the
    standard error of :math:`l'\hat\beta_{post}` (as HonestDiD), with ``grid_points`` points.
    """
    betahat = np.asarray(betahat, float)
    sigma = np.asarray(sigma, float)
    K, P = int(num_pre_periods), int(num_post_periods)
    l_vec = _basis_vector(0, P) if l_vec is None else np.asarray(l_vec, float)
    post = slice(K, K + P)
    sd_theta = float(np.sqrt(l_vec @ sigma[post, post] @ l_vec))
    lb = -20 * sd_theta if grid_lb is None else float(grid_lb)
    ub = 20 * sd_theta if grid_ub is None else float(grid_ub)
    theta = np.linspace(lb, ub, int(grid_points))
    kappa = alpha / 10
    accept = np.zeros(len(theta))
    for s in range(-(K - 1), 1):
        for sign in (True, False):
            A = _create_A_RM(K, P, mbar, s, sign)
            d = np.zeros(len(A))
            if P == 1:
                rows = A[:, -1] != 0
                acc = _arp_nonuisance_accept(betahat, sigma, A[rows], d[rows], K, theta, alpha, hybrid, kappa,
                                             lf_sims, seed, r_compatible)
            else:
                rows = np.flatnonzero((A[:, K:] != 0).any(axis=1))
                gamma = _construct_gamma(l_vec)
                agi = A[:, K:] @ np.linalg.inv(gamma)
                y0 = (A @ betahat - d)[rows]
                sig_y = (A @ sigma @ A.T)[np.ix_(rows, rows)]
                acc = _arp_accept_grid(y0, agi[rows, 0], agi[rows, 1:], sig_y, theta, alpha, hybrid, kappa,
                                       lf_sims, seed, r_compatible)
            accept = np.maximum(accept, acc)
    return pd.DataFrame({"grid": theta, "accept": accept})


# =============================================================================================
# FLCI for Delta^SD(M)
# =============================================================================================
class _FLCIProblem:
    """The affine-estimator optimisation of HonestDiD's findOptimalFLCI, in w-space."""

    def __init__(self, sigma: np.ndarray, K: int, P: int, l_vec: np.ndarray) -> None:
        self.K, self.P, self.l = K, P, l_vec
        pre, post = slice(0, K), slice(K, K + P)
        L = np.eye(K)
        for c in range(K - 1):
            L[c + 1, c] = -1.0
        self.L = L  # w -> l_pre
        self.Aq = L.T @ sigma[pre, pre] @ L
        self.bq = 2 * L.T @ sigma[pre, post] @ l_vec
        self.cq = float(l_vec @ sigma[post, post] @ l_vec)
        s = np.arange(1, P + 1)
        self.sum_w = float(s @ l_vec)
        self.const = float(sum(abs(np.arange(1, j + 1) @ l_vec[P - j :]) for j in range(1, P + 1)) - self.sum_w)
        self.cum = np.tril(np.ones((K, K)))

    def var(self, w: np.ndarray) -> float:
        return float(w @ self.Aq @ w + self.bq @ w + self.cq)

    def bias(self, w: np.ndarray) -> float:
        return self.const + float(np.abs(self.cum @ w).sum())

    def w_min_bias(self) -> np.ndarray:
        w = np.zeros(self.K)
        w[-1] = self.sum_w
        return w

    def w_min_var(self) -> np.ndarray:
        K = self.K
        kkt = np.zeros((K + 1, K + 1))
        kkt[:K, :K] = 2 * self.Aq
        kkt[:K, K] = 1.0
        kkt[K, :K] = 1.0
        rhs = np.r_[-self.bq, self.sum_w]
        return np.linalg.lstsq(kkt, rhs, rcond=None)[0][:K]

    def min_bias_given_h(self, h: float, w_start: np.ndarray) -> tuple[float, np.ndarray]:
        """min bias(w) s.t. sd(w) <= h and sum(w) = sum_s s l_s (SLSQP on (U, w))."""
        K = self.K
        scale = h * h

        def obj(x):
            return x[:K].sum()

        def jac(x):
            return np.r_[np.ones(K), np.zeros(K)]

        cons = [
            {"type": "ineq", "fun": lambda x: x[:K] - self.cum @ x[K:],
             "jac": lambda x: np.hstack([np.eye(K), -self.cum])},
            {"type": "ineq", "fun": lambda x: x[:K] + self.cum @ x[K:],
             "jac": lambda x: np.hstack([np.eye(K), self.cum])},
            {"type": "eq", "fun": lambda x: np.array([x[K:].sum() - self.sum_w]),
             "jac": lambda x: np.r_[np.zeros(K), np.ones(K)][None, :]},
            {"type": "ineq", "fun": lambda x: np.array([(scale - self.var(x[K:])) / scale]),
             "jac": lambda x: np.r_[np.zeros(K), -(2 * self.Aq @ x[K:] + self.bq) / scale][None, :]},
        ]
        x0 = np.r_[np.abs(self.cum @ w_start) + 1e-9, w_start]
        res = optimize.minimize(obj, x0, jac=jac, constraints=cons, method="SLSQP",
                                options={"ftol": 1e-13, "maxiter": 500})
        w = res.x[K:]
        return self.bias(w), w


def flci_delta_sd(
    betahat: np.ndarray, sigma: np.ndarray, num_pre_periods: int, num_post_periods: int, *,
    l_vec: np.ndarray | None = None, m: float = 0.0, alpha: float = 0.05, r_compatible: bool = True, seed: int = 0,
) -> dict[str, Any]:
    r"""HonestDiD ``findOptimalFLCI``: the optimal fixed-length CI under :math:`\Delta^{SD}(M)`.

    The affine estimator :math:`\hat\theta = l_{pre}'\hat\beta_{pre} + l'\hat\beta_{post}` with
    pre-period weights :math:`l_{pre} = Lw`, :math:`\sum w = \sum_s s\,l_s`, has worst-case bias
    :math:`M b(w)` over :math:`\Delta^{SD}(M)` and standard deviation :math:`h(w)`; its FLCI is
    :math:`\hat\theta \pm h\, cv_{1-\alpha}(M b / h)`, :math:`cv` the folded-normal quantile. The
    half-length is minimised over :math:`h \in [h_{min}, h_0]` (minimum-variance to minimum-bias
    estimator) with :math:`b(h) = \min\{b(w): h(w) \le h\}`. HonestDiD searches :math:`h` by
    bisection on a numerical derivative; we use bounded Brent minimisation, which reaches the
    same minimiser of the (convex) half-length.
    """
    betahat = np.asarray(betahat, float)
    sigma = np.asarray(sigma, float)
    K, P = int(num_pre_periods), int(num_post_periods)
    l_vec = _basis_vector(0, P) if l_vec is None else np.asarray(l_vec, float)
    prob = _FLCIProblem(sigma, K, P, l_vec)
    w_mv = prob.w_min_var()
    h_min = np.sqrt(prob.var(w_mv))
    h0 = np.sqrt(prob.var(prob.w_min_bias()))
    q = lambda mu: _qfoldednormal(1 - alpha, mu, r_compatible, seed)  # noqa: E731
    if m == 0 or h0 <= h_min * (1 + 1e-12):
        w = w_mv if m == 0 else prob.w_min_bias()
        h_star = np.sqrt(prob.var(w))
        bias = prob.bias(w) if m else 0.0
    else:
        cache: dict[float, tuple[float, np.ndarray]] = {}

        def b_of(h: float) -> tuple[float, np.ndarray]:
            if h not in cache:
                cache[h] = prob.min_bias_given_h(h, w_mv)
            return cache[h]

        def halflength(h: float) -> float:
            b, _ = b_of(h)
            return q(m * b / h) * h

        res = optimize.minimize_scalar(halflength, bounds=(h_min, h0), method="bounded",
                                       options={"xatol": 1e-10 * h0, "maxiter": 200})
        h_star = float(res.x)
        for edge in (h_min, h0):  # the minimum can sit at an end of the interval
            if halflength(edge) < halflength(h_star):
                h_star = edge
        bias, w = b_of(h_star)
    halflength = q(m * bias / h_star) * h_star
    l_pre = prob.L @ w
    opt_vec = np.r_[l_pre, l_vec]
    centre = float(opt_vec @ betahat)
    return {"lb": centre - halflength, "ub": centre + halflength, "optimal_vec": opt_vec,
            "halflength": float(halflength), "h": float(h_star), "max_bias": float(m * bias)}


def original_ci(betahat: np.ndarray, sigma: np.ndarray, num_pre_periods: int, num_post_periods: int, *,
                l_vec: np.ndarray | None = None, alpha: float = 0.05) -> tuple[float, float]:
    """HonestDiD ``constructOriginalCS``: :math:`l'\\hat\\beta_{post} \\pm z_{1-\\alpha/2}\\,se`."""
    K, P = int(num_pre_periods), int(num_post_periods)
    l_vec = _basis_vector(0, P) if l_vec is None else np.asarray(l_vec, float)
    post = slice(K, K + P)
    se = float(np.sqrt(l_vec @ np.asarray(sigma)[post, post] @ l_vec))
    est = float(l_vec @ np.asarray(betahat)[post])
    z = stats.norm.ppf(1 - alpha / 2)
    return est - z * se, est + z * se


# =============================================================================================
# Public wrapper and result
# =============================================================================================
@dataclass(frozen=True, eq=False)
class HonestDiDResult:
    """Result of :func:`honest_did` (immutable).

    Attributes
    ----------
    table : DataFrame
        One row per value of the sensitivity parameter: ``M`` (smoothness) or ``Mbar`` (relative
        magnitudes), ``lb``, ``ub``, ``method`` (``"FLCI"``, ``"C-LF"`` or ``"Conditional"``),
        ``Delta`` (``"DeltaSD"``/``"DeltaRM"``) — HonestDiD's output.
    original : tuple
        The original (parallel trends) confidence interval.
    breakdown : float
        Smallest ``M``/``Mbar`` whose robust CI contains 0 (``inf`` if none on the grid; 0 if the
        original CI already contains 0).
    """

    method: str
    delta: str
    parameter: str
    table: pd.DataFrame
    original: tuple[float, float]
    breakdown: float
    breakdown_refined: bool
    l_vec: np.ndarray = field(repr=False)
    betahat: np.ndarray = field(repr=False)
    sigma: np.ndarray = field(repr=False)
    num_pre_periods: int = 0
    num_post_periods: int = 0
    event_times: tuple[int, ...] | None = None
    target: str = ""
    alpha: float = 0.05
    grid_points: int | None = None
    elapsed_seconds: float = 0.0

    def summary(self) -> str:
        """Text table of the robust confidence intervals, the original CI and the breakdown value."""
        level = f"{100 * (1 - self.alpha):g}%"
        lines = [f"HonestDiD sensitivity analysis ({self.delta}, {self.table['method'].iloc[0]})".center(72), "=" * 72,
                 f"{'Target:':<22}{self.target}",
                 f"{'Pre / post periods:':<22}{self.num_pre_periods} / {self.num_post_periods}",
                 f"{'Original ' + level + ' CI:':<22}[{self.original[0]:.5g}, {self.original[1]:.5g}]",
                 f"{'Breakdown ' + self.parameter + ':':<22}{self.breakdown:.4g}"
                 + (" (refined by bisection)" if self.breakdown_refined else " (grid)"), "-" * 72]
        lines.append(self.table.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
        lines.append("=" * 72)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def plot(self, **kwargs: Any) -> Figure:
        """Sensitivity plot: robust CIs by M/Mbar next to the original CI."""
        from csceval.report.inference_figures import sensitivity_figure

        return sensitivity_figure(self, **kwargs)


_TERM = re.compile(r"^event_time\[(-?\d+)\]$")


def _from_result(result: Any, ref_period: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    vcov = getattr(result, "vcov", None)
    coefs = getattr(result, "coefficients", None)
    if vcov is None or coefs is None:
        raise ValueError(
            "the result has no coefficient covariance (vcov); pass betahat=, sigma=, num_pre_periods=, "
            "num_post_periods= explicitly"
        )
    terms = [t for t in vcov.index if _TERM.match(str(t))]
    if not terms:
        raise ValueError("the result has no event_time[e] coefficients: pass an event-study result")
    e = [int(_TERM.match(str(t)).group(1)) for t in terms]
    order = np.argsort(e)
    terms = [terms[i] for i in order]
    e = [e[i] for i in order]
    beta = coefs.set_index("term").loc[terms, "estimate"].to_numpy(float)
    sig = vcov.loc[terms, terms].to_numpy(float)
    meta = getattr(result, "metadata", {}) or {}
    ref = int(meta.get("ref_period", ref_period))
    if ref in e:
        raise ValueError(f"the reference period {ref} is among the estimated event times")
    return beta, sig, e + [ref]


def _event_layout(event_times: list[int]) -> tuple[list[int], list[int], int]:
    ref = event_times[-1]
    es = event_times[:-1]
    pre = [t for t in es if t < ref]
    post = [t for t in es if t > ref]
    full = pre + [ref] + post
    if full != list(range(full[0], full[-1] + 1)):
        raise ValueError(
            f"event times must be consecutive around the reference period {ref}; got {sorted(es)} "
            "(bin or trim the event window so no period is missing)"
        )
    return pre, post, ref


def honest_did(
    result_or_table: Any = None,
    *,
    method: str = "relative_magnitudes",
    Mbar: float | Sequence[float] | None = None,
    M: float | Sequence[float] | None = None,
    e: int | str = 0,
    l_vec: Sequence[float] | None = None,
    alpha: float = 0.05,
    grid_points: int = 1000,
    grid_lb: float | None = None,
    grid_ub: float | None = None,
    betahat: Sequence[float] | None = None,
    sigma: np.ndarray | None = None,
    num_pre_periods: int | None = None,
    num_post_periods: int | None = None,
    ref_period: int = -1,
    rm_method: str = "C-LF",
    refine_breakdown: bool = True,
    r_compatible: bool = True,
    seed: int = 0,
    lf_sims: int = 1000,
) -> HonestDiDResult:
    r"""Rambachan-Roth sensitivity analysis of an event study (HonestDiD).

    Parameters
    ----------
    result_or_table : EstimationResult, optional
        An event-study result with ``coefficients``/``vcov`` holding ``event_time[e]`` terms (e.g.
        :func:`csceval.did.event_study_twfe`); pre periods are the event times before the
        reference period, post periods those after it, and they must be consecutive. Or pass
        ``betahat``, ``sigma``, ``num_pre_periods``, ``num_post_periods`` (HonestDiD's inputs:
        coefficients ordered pre then post, reference period excluded).
    method : {"relative_magnitudes", "smoothness"}
        :math:`\Delta^{RM}(\bar M)` with the C-LF (or ``rm_method="Conditional"``) confidence set,
        or :math:`\Delta^{SD}(M)` with the FLCI.
    Mbar, M : float or sequence
        Grid of the sensitivity parameter. Defaults as HonestDiD: ``Mbar`` = 10 values on [0, 2];
        ``M`` = 10 values from 0 to the upper bound of the largest pre-period second difference
        (``DeltaSD_upperBound_Mpre``), or to the pre-period s.e. with one pre period.
    e : int or "average"
        Event time of the target effect :math:`\theta = \tau_e` (default 0, the on-impact effect),
        or ``"average"`` for the mean of the post-period effects. Ignored if ``l_vec`` is given.
    l_vec : sequence, optional
        Weights on the post-period effects, :math:`\theta = l'\tau_{post}`.
    alpha : float
        Confidence intervals have level :math:`1-\alpha`.
    grid_points, grid_lb, grid_ub
        Test-inversion grid for relative magnitudes (default 1,000 points on
        :math:`\pm 20\,se(\hat\theta)` around 0, as HonestDiD); bounds are exact to the grid step.
    refine_breakdown : bool
        Refine the breakdown value by bisection between grid values.
    r_compatible : bool
        Reproduce HonestDiD's simulations with R's random number generator (default).
    seed, lf_sims
        Seed and number of draws of the least-favourable critical value (HonestDiD: 0 and 1,000).

    Returns
    -------
    HonestDiDResult
    """
    started = _time.perf_counter()
    alpha = float(alpha)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if method not in ("relative_magnitudes", "smoothness"):
        raise ValueError(f"method must be 'relative_magnitudes' or 'smoothness', got {method!r}")
    event_times = None
    if result_or_table is not None:
        b, s, ets = _from_result(result_or_table, ref_period)
        pre, post, ref = _event_layout(ets)
        event_times = tuple(pre + post)
        K, P = len(pre), len(post)
        betahat_arr, sigma_arr = b, s
    else:
        if betahat is None or sigma is None or num_pre_periods is None or num_post_periods is None:
            raise ValueError("pass an event-study result, or betahat, sigma, num_pre_periods and num_post_periods")
        betahat_arr = np.asarray(betahat, float).ravel()
        sigma_arr = np.asarray(sigma, float)
        K, P = int(num_pre_periods), int(num_post_periods)
        post = list(range(P))
    if K < 1 or P < 1:
        raise ValueError(f"need at least one pre and one post period, got {K} pre and {P} post")
    if betahat_arr.shape != (K + P,) or sigma_arr.shape != (K + P, K + P):
        raise ValueError(
            f"betahat must have num_pre_periods + num_post_periods = {K + P} entries and sigma be {K + P} x {K + P}; "
            f"got {betahat_arr.shape} and {sigma_arr.shape}"
        )
    if not np.allclose(sigma_arr, sigma_arr.T, atol=1e-12 * max(1.0, np.abs(sigma_arr).max())):
        raise ValueError("sigma must be symmetric")
    if l_vec is not None:
        lv = np.asarray(l_vec, float).ravel()
        if lv.shape != (P,):
            raise ValueError(f"l_vec must have one weight per post period ({P}), got {lv.shape}")
        target = f"l'tau_post with l = {np.round(lv, 4).tolist()}"
    elif e == "average":
        lv = np.full(P, 1.0 / P)
        target = "average of the post-period effects"
    else:
        if int(e) not in post:
            raise ValueError(f"e={e} is not a post-period event time (post periods: {post})")
        lv = _basis_vector(post.index(int(e)), P)
        target = f"effect at event time {int(e)}"
    orig = original_ci(betahat_arr, sigma_arr, K, P, l_vec=lv, alpha=alpha)

    if method == "smoothness":
        if M is None:
            if K == 1:
                grid = np.linspace(0, float(np.sqrt(sigma_arr[0, 0])), 10)
            else:
                grid = np.linspace(0, _sd_upper_bound_mpre(betahat_arr, sigma_arr, K), 10)
        else:
            grid = np.atleast_1d(np.asarray(M, float))

        def ci_at(val: float) -> tuple[float, float]:
            r = flci_delta_sd(betahat_arr, sigma_arr, K, P, l_vec=lv, m=val, alpha=alpha, r_compatible=r_compatible,
                              seed=seed)
            return r["lb"], r["ub"]

        param, delta, label = "M", "DeltaSD", "FLCI"
    else:
        if rm_method not in ("C-LF", "Conditional"):
            raise ValueError(f"rm_method must be 'C-LF' or 'Conditional', got {rm_method!r}")
        grid = np.linspace(0, 2, 10) if Mbar is None else np.atleast_1d(np.asarray(Mbar, float))
        hybrid = "LF" if rm_method == "C-LF" else "ARP"

        def ci_at(val: float) -> tuple[float, float]:
            acc = conditional_cs_delta_rm(betahat_arr, sigma_arr, K, P, l_vec=lv, mbar=val, alpha=alpha,
                                          hybrid=hybrid, grid_points=grid_points, grid_lb=grid_lb, grid_ub=grid_ub,
                                          lf_sims=lf_sims, seed=seed, r_compatible=r_compatible)
            ok = acc["accept"].to_numpy() == 1
            if not ok.any():
                return np.nan, np.nan
            if ok[0] or ok[-1]:
                warn_caller(f"robust CI at {param}={val:g} is open at an end of the theta grid; widen grid_lb/grid_ub")
            g = acc["grid"].to_numpy()
            return float(g[ok].min()), float(g[ok].max())

        param, delta, label = "Mbar", "DeltaRM", rm_method

    bounds = [ci_at(float(v)) for v in grid]
    table = pd.DataFrame({"lb": [b[0] for b in bounds], "ub": [b[1] for b in bounds], "method": label,
                          "Delta": delta, param: grid})
    covers = [(lo <= 0 <= hi) if np.isfinite(lo) else True for lo, hi in bounds]
    refined = False
    if orig[0] <= 0 <= orig[1]:
        breakdown = 0.0
    elif not any(covers):
        breakdown = float("inf")
    else:
        i = covers.index(True)
        breakdown = float(grid[i])
        if refine_breakdown and i > 0:
            lo_v, hi_v = float(grid[i - 1]), float(grid[i])
            step_tol = (hi_v - lo_v) / 1000
            while hi_v - lo_v > step_tol:
                mid = 0.5 * (lo_v + hi_v)
                lo_b, hi_b = ci_at(mid)
                if (lo_b <= 0 <= hi_b) if np.isfinite(lo_b) else True:
                    hi_v = mid
                else:
                    lo_v = mid
            breakdown, refined = hi_v, True
    return HonestDiDResult(
        method=method, delta=delta, parameter=param, table=table, original=orig, breakdown=breakdown,
        breakdown_refined=refined, l_vec=lv, betahat=betahat_arr, sigma=sigma_arr, num_pre_periods=K,
        num_post_periods=P, event_times=event_times, target=target, alpha=alpha,
        grid_points=grid_points if method == "relative_magnitudes" else None,
        elapsed_seconds=_time.perf_counter() - started,
    )


def _sd_upper_bound_mpre(betahat: np.ndarray, sigma: np.ndarray, K: int, alpha: float = 0.05) -> float:
    """HonestDiD ``DeltaSD_upperBound_Mpre``: max over pre-period second differences of estimate + z se."""
    rows = []
    full = K + 1  # pre periods and the reference period (normalised to 0, then dropped)
    for r in range(K - 1):
        v = np.zeros(full)
        v[r : r + 3] = [1.0, -2.0, 1.0]
        rows.append(v[:K])
    A = np.array(rows)
    A = np.vstack([A, -A])
    diffs = A @ betahat[:K]
    se = np.sqrt(np.diag(A @ sigma[:K, :K] @ A.T))
    return float(np.max(diffs + stats.norm.ppf(1 - alpha) * se))
