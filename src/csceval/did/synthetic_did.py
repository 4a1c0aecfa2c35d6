r"""Synthetic difference-in-differences (Arkhangelsky, Athey, Hirshberg, Imbens & Wager 2021).

A Python implementation of the R package ``synthdid`` (version 0.0.9, synth-inference/synthdid),
reproducing ``synthdid_estimate``, ``sc_estimate``, ``did_estimate`` and
``vcov(method = "placebo" | "bootstrap" | "jackknife")`` with their defaults, for **block (simultaneous)
adoption**: every treated unit is first treated in the same period and stays treated; all other
units are never treated. A "unit" is whatever the ``unit`` column says (an LA, or a Regional Care
Cooperative whose member LAs were aggregated beforehand).

Estimator (Algorithm 1 of the paper, synthdid defaults)
-------------------------------------------------------
Order the outcome matrix :math:`Y` (:math:`N \times T`) with the :math:`N_0` control units first
(alphabetically, as ``panel.matrices``) and the :math:`N_1` treated units last; the first
:math:`T_0` periods are pre-treatment, the last :math:`T_1` post. With
:math:`\sigma` = the standard deviation (denominator :math:`n-1`) of all first differences
:math:`Y_{i,t+1}-Y_{it}` of control units in the pre-period,

* unit weights :math:`\omega` solve, over the simplex,
  :math:`\min \|A\omega - b\|^2/T_0 + \zeta_\omega^2\|\omega\|^2` where the columns of :math:`A`
  (:math:`T_0 \times N_0`) are the control units' pre-period series and :math:`b` the treated average,
  all demeaned over time (the intercept), with
  :math:`\zeta_\omega = (N_1 T_1)^{1/4}\sigma`;
* time weights :math:`\lambda` solve the same problem with the roles of units and periods swapped:
  rows = control units, columns = pre periods, :math:`b` = each control's post-period mean, demeaned
  across units, with the "infinitesimal" ridge :math:`\zeta_\lambda = 10^{-6}\sigma`;
* :math:`\hat\tau = (-\omega, \tfrac{1}{N_1}\mathbf 1)' \, Y \, (-\lambda, \tfrac{1}{T_1}\mathbf 1)`.

Solver. Both problems are solved as synthdid does (``sc.weight.fw``): Frank-Wolfe on the simplex
with exact line search, starting from uniform weights, stopping after iteration :math:`t \ge 2` once
the objective decreased by at most ``min.decrease``\ :math:`^2` with
``min.decrease`` :math:`= 10^{-5}\sigma` (or after ``max.iter``); first at most 100 iterations, then
the **sparsification** step (weights :math:`\le \max/4` set to 0, renormalised) and a second run of at
most 10,000 iterations from there. Ties in the Frank-Wolfe vertex choice go to the first unit / period
(R's ``which.min``).

``sc_estimate``: :math:`\lambda = 0` (not estimated), no intercept in :math:`\omega`,
:math:`\zeta_\omega = 10^{-6}\sigma`. ``did_estimate``: uniform :math:`\omega = 1/N_0`,
:math:`\lambda = 1/T_0`.

Standard errors (``synthdid::vcov``)
------------------------------------
* ``placebo`` (Algorithm 4): ``n_reps`` times, permute the control units, call the last :math:`N_1`
  of them treated and re-estimate on the controls only (weights re-optimised, initialised at the
  original :math:`\lambda` and the original :math:`\omega` restricted to the chosen controls and
  renormalised; :math:`\zeta`'s and ``min.decrease`` kept from the original fit);
  :math:`\widehat{se} = \sqrt{(B-1)/B}\,\mathrm{sd}(\hat\tau^{(b)})`. Needs :math:`N_0 > N_1`.
* ``bootstrap`` (Algorithm 2): resample all units with replacement (draws that contain no control or
  no treated unit are redrawn, as in synthdid), re-estimate with weights re-optimised (same
  initialisation); same formula. Needs :math:`N_1 \ge 2`.
* ``jackknife`` (Algorithm 3, fixed weights): leave out each unit in turn keeping :math:`\lambda` and
  the renormalised :math:`\omega`; :math:`\widehat{se} = \sqrt{(n-1)/n \cdot (n-1)\,\mathrm{var}(u)}`.
  Undefined (missing) with one treated unit or one control with non-zero weight.

Confidence intervals are :math:`\hat\tau \pm z_{1-\alpha/2}\widehat{se}` and p-values
:math:`2\Phi(-|\hat\tau/\widehat{se}|)` (synthdid prints :math:`\pm 1.96\,se`).

Random numbers. Permutations and bootstrap draws are made exactly as R's ``set.seed(seed)`` followed
by ``sample(1:N0)`` (placebo) or ``sample(1:N, replace = TRUE)`` (bootstrap) would make them (R >= 3.6
Mersenne-Twister with rejection sampling), so ``seed=12345`` reproduces the standard errors printed in
the synthdid vignette and paper. With another seed the placebo/bootstrap standard error differs by
Monte Carlo error only.

Speed. All Frank-Wolfe problems of one call (the estimate and every replication) are solved together,
vectorised across problems; the half-gradient, iterate and objective are carried in closed form by
rank-one recurrences on the Gram matrix (identical iterates to recomputing them; differences are
floating-point rounding, ~1e-15 relative).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from csceval.did._results import EstimationResult, OverallEstimate

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["SyntheticDiDResult", "block_panel", "synthetic_did", "sdid_matrix_estimate"]

_SE_METHODS = ("placebo", "bootstrap", "jackknife")
_BIG = 1e300
_MAX_ITER_PRE_SPARSIFY = 100
_MAX_ITER = 10_000
_PYTHON_LOOP_MAX = 4


# =============================================================================================
# R's random numbers: set.seed(seed); sample(...)
# =============================================================================================
class RRandom:
    """R's default generator (Mersenne-Twister, ``sample.kind = "Rejection"``) after ``set.seed(seed)``.

    Only what synthdid's resampling uses: :meth:`unif` (``runif``), :meth:`unif_index`
    (``R_unif_index``), :meth:`sample` (``sample(1:n)``) and :meth:`sample_replace`
    (``sample(1:n, replace = TRUE)``). Values are 1-based like R's.
    """

    _BLOCK = 4096

    def __init__(self, seed: int) -> None:
        s = int(seed) & 0xFFFFFFFF
        for _ in range(50):  # initial scrambling (RNG_Init)
            s = (69069 * s + 1) & 0xFFFFFFFF
        words = np.empty(625, dtype=np.uint32)
        for j in range(625):
            s = (69069 * s + 1) & 0xFFFFFFFF
            words[j] = s
        # words[0] is mti, which FixupSeeds sets to N = 624 (regenerate on first draw)
        bitgen = np.random.MT19937()
        bitgen.state = {"bit_generator": "MT19937", "state": {"key": words[1:].copy(), "pos": 624}}
        self._bitgen = bitgen
        self._buf = np.empty(0)
        self._pos = 0

    def unif(self) -> float:
        """One ``unif_rand()``: genrand_int32 * 2^-32 (R's ``fixup`` keeps it inside (0, 1))."""
        if self._pos >= self._buf.size:
            raw = self._bitgen.random_raw(self._BLOCK).astype(np.float64)
            self._buf = raw * 2.3283064365386963e-10
            self._pos = 0
        u = float(self._buf[self._pos])
        self._pos += 1
        if u <= 0.0:
            return 0.5 * 2.328306437080797e-10
        if 1.0 - u <= 0.0:
            return 1.0 - 0.5 * 2.328306437080797e-10
        return u

    def _rbits(self, bits: int) -> int:
        v = 0
        for _ in range(0, bits + 1, 16):
            v1 = int(math.floor(self.unif() * 65536))
            v = 65536 * v + v1
        return v & ((1 << bits) - 1)

    def unif_index(self, n: int) -> int:
        """``R_unif_index(n)``: uniform on 0..n-1 by rejection from the next power of two."""
        if n <= 0:
            return 0
        bits = int(math.ceil(math.log2(n)))
        while True:
            dv = self._rbits(bits)
            if dv < n:
                return dv

    def sample(self, n: int) -> np.ndarray:
        """``sample(1:n)`` (a random permutation, 1-based)."""
        x = list(range(n))
        out = np.empty(n, dtype=np.int64)
        m = n
        for i in range(n):
            j = self.unif_index(m)
            out[i] = x[j] + 1
            m -= 1
            x[j] = x[m]
        return out

    def sample_replace(self, n: int) -> np.ndarray:
        """``sample(1:n, replace = TRUE)`` (1-based)."""
        return np.array([self.unif_index(n) + 1 for _ in range(n)], dtype=np.int64)


# =============================================================================================
# Frank-Wolfe, vectorised over many problems
# =============================================================================================
@dataclass
class _Problem:
    """min_x ||A x - b||^2 / n + zeta^2 ||x||^2 over the simplex (A already centred if intercept)."""

    A: np.ndarray  # (n, k)
    b: np.ndarray  # (n,)
    zeta: float
    x0: np.ndarray  # (k,)
    min_decrease: float


def _fw_batch(H: np.ndarray, c: np.ndarray, pad: np.ndarray, x0: np.ndarray, thr: np.ndarray,
              max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Frank-Wolfe with exact line search, as synthdid's ``fw.step``/``sc.weight.fw``, for R problems.

    Problem r: minimise :math:`f(x) = x'H_r x - 2c_r'x` (+ const) over the simplex, where
    :math:`H = A'A + \eta I` (:math:`\eta = n\zeta^2`) and :math:`c = A'b`; :math:`f/n` is synthdid's
    objective ``vals``. Each iteration moves to :math:`x + s(e_i - x)` with :math:`i` the first
    minimiser of the half-gradient :math:`g = Hx - c` and the exact line-search step
    :math:`s = \min(1, \max(0, -g'd / d'Hd))`. Problem r stops after iteration :math:`t \ge 2` if
    :math:`f` decreased by at most ``thr[r]`` (= ``min.decrease^2 * n``), or after ``max_iter``.

    Vectorised over problems: :math:`g` and :math:`x` are carried as :math:`\alpha\hat g`,
    :math:`\alpha\hat x` with a common scale :math:`\alpha = \prod(1-s)`, so an iteration costs one
    axpy per problem; :math:`x'Hx` and :math:`x'c` follow scalar recurrences and the decrease of
    :math:`f` is :math:`-s(2g'd + s\,d'Hd)`. Padded coordinates (``pad``) are never chosen.
    Returns the final iterates (R, k) and the iteration counts.
    """
    R, k = c.shape
    g0 = np.einsum("rij,rj->ri", H, x0) - c
    ghat = np.where(pad, _BIG, g0)
    xhat = x0.copy()
    alpha = np.ones(R)
    w = np.einsum("ri,ri->r", x0, g0 + c)  # x'Hx
    xc = np.einsum("ri,ri->r", x0, c)  # x'c
    mflat = np.where(pad[:, None, :], 0.0, H - c[:, None, :]).reshape(R * k, k)  # row r*k+i: H[r,i,:]-c[r,:]
    consts = np.stack([c.reshape(-1), np.einsum("rii->ri", H).reshape(-1)], axis=1)  # (c_i, H_ii)
    rows_k = np.arange(R) * k
    act = np.arange(R)
    out = np.empty((R, k))
    its = np.zeros(R, dtype=np.int64)
    thr_a = thr.copy()
    pad_a = pad
    one_minus = 1.0 - 2.0**-53  # a full step s = 1 is taken as 1 - 2^-53 (x moves to e_i up to rounding)
    t = 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        while act.size and t < max_iter:
            t += 1
            idx = ghat.argmin(axis=1)
            idx += rows_k
            gi = ghat.reshape(-1).take(idx)
            gi *= alpha
            cc = consts.take(idx, axis=0)
            ci = cc[:, 0]
            hii = cc[:, 1]
            a = gi + ci  # (Hx)_i
            gd = gi - w + xc  # g'(e_i - x)
            q = hii + w - 2.0 * a  # (e_i - x)'H(e_i - x) >= 0
            # s = min(1, max(0, -gd/q)); -gd/0 = +-inf -> 1 or 0, 0/0 = nan -> 0 (x = e_i: no move)
            s = np.fmax(-gd / q, 0.0)
            np.minimum(s, one_minus, out=s)
            decrease = -s * (2.0 * gd + s * q)
            om = 1.0 - s
            w = om * (om * w + 2.0 * s * a) + s * s * hii
            xc = om * xc + s * ci
            mi = mflat.take(idx, axis=0)
            alpha = alpha * om
            if t % 8 == 0 and alpha.min() < 1e-30:  # fold the scale back into the vectors
                sm = np.flatnonzero(alpha < 1e-30)
                ghat[sm] = np.where(pad_a[sm], _BIG, alpha[sm, None] * ghat[sm])
                xhat[sm] *= alpha[sm, None]
                alpha[sm] = 1.0
            coef = s / alpha
            ghat += coef[:, None] * mi
            xhat.reshape(-1)[idx] += coef
            if t >= 2:
                done = decrease <= thr_a
                if t >= max_iter:
                    done[:] = True
                if done.any():
                    keep = ~done
                    out[act[done]] = alpha[done, None] * xhat[done]
                    its[act[done]] = t
                    act = act[keep]
                    ghat, xhat, alpha, w, xc = ghat[keep], xhat[keep], alpha[keep], w[keep], xc[keep]
                    thr_a, pad_a = thr_a[keep], pad_a[keep]
                    kept = np.flatnonzero(keep)
                    mflat = mflat.reshape(-1, k, k)[kept].reshape(-1, k)
                    consts = consts.reshape(-1, k, 2)[kept].reshape(-1, 2)
                    rows_k = np.arange(act.size) * k
    if act.size:
        out[act] = alpha[:, None] * xhat
        its[act] = t
    out[pad] = 0.0
    return out, its


def _fw_one(H: np.ndarray, c: np.ndarray, x0: np.ndarray, thr: float, max_iter: int) -> np.ndarray:
    """:func:`_fw_batch` for a single problem in plain Python floats (faster than numpy for one problem).

    Same iteration and recurrences as :func:`_fw_batch` (results agree to rounding).
    """
    k = c.size
    Hl = H.tolist()
    cl = c.tolist()
    hd = [Hl[i][i] for i in range(k)]
    M = [[hij - cj for hij, cj in zip(Hl[i], cl)] for i in range(k)]
    g = (H @ x0 - c).tolist()
    x = x0.tolist()
    w = float(x0 @ (H @ x0))
    xc = float(x0 @ c)
    alpha = 1.0
    t = 0
    while t < max_iter:
        t += 1
        i = min(range(k), key=g.__getitem__)
        gi = alpha * g[i]
        xi = alpha * x[i]
        ci = cl[i]
        hii = hd[i]
        a = gi + ci
        gd = a - w + (xc - ci)
        q = hii + w - 2.0 * a
        if q > 0.0:
            s = min(1.0, max(0.0, -gd / q))
        else:
            s = 1.0 if gd < 0.0 else 0.0
        if xi >= 1.0:
            s = 0.0
        decrease = -s * (2.0 * gd + s * q)
        om = 1.0 - s
        w = om * (om * w + 2.0 * s * a) + s * s * hii
        xc = om * xc + s * ci
        alpha_new = alpha * om
        mi = M[i]
        if alpha_new < 1e-150:
            scale = alpha * om
            g = [scale * gj + s * mj for gj, mj in zip(g, mi)]
            x = [scale * xj for xj in x]
            x[i] += s
            alpha = 1.0
        else:
            alpha = alpha_new
            coef = s / alpha
            if coef != 0.0:
                g = [gj + coef * mj for gj, mj in zip(g, mi)]
                x[i] += coef
        if t >= 2 and decrease <= thr:
            break
    return alpha * np.asarray(x)


def _sparsify(x: np.ndarray) -> np.ndarray:
    """synthdid's ``sparsify_function``, row-wise: ``v[v <= max(v)/4] = 0; v / sum(v)``."""
    x = np.where(x <= x.max(axis=1, keepdims=True) / 4.0, 0.0, x)
    return x / x.sum(axis=1, keepdims=True)


def _solve_problems(problems: Sequence[_Problem]) -> list[np.ndarray]:
    """Solve synthdid weight problems (two rounds with sparsification between), all in one batch."""
    if not problems:
        return []
    kmax = max(p.A.shape[1] for p in problems)
    R = len(problems)
    H = np.zeros((R, kmax, kmax))
    c = np.zeros((R, kmax))
    x0 = np.zeros((R, kmax))
    pad = np.ones((R, kmax), dtype=bool)
    thr = np.empty(R)
    for r, p in enumerate(problems):
        n, k = p.A.shape
        eta = n * p.zeta**2
        H[r, :k, :k] = p.A.T @ p.A + eta * np.eye(k)
        c[r, :k] = p.A.T @ p.b
        x0[r, :k] = p.x0
        pad[r, :k] = False
        thr[r] = p.min_decrease**2 * n
    if R <= _PYTHON_LOOP_MAX:  # a few problems: plain-Python loops are faster than numpy calls
        out = []
        for r, p in enumerate(problems):
            k = p.A.shape[1]
            x = _fw_one(H[r, :k, :k], c[r, :k], x0[r, :k], thr[r], _MAX_ITER_PRE_SPARSIFY)
            x = _sparsify(x[None, :])[0]
            out.append(_fw_one(H[r, :k, :k], c[r, :k], x, thr[r], _MAX_ITER))
        return out
    x, _ = _fw_batch(H, c, pad, x0, thr, _MAX_ITER_PRE_SPARSIFY)
    x = _sparsify(x)
    x, _ = _fw_batch(H, c, pad, x, thr, _MAX_ITER)
    return [x[r, : p.A.shape[1]] for r, p in enumerate(problems)]


# =============================================================================================
# synthdid_estimate / sc_estimate / did_estimate on matrices
# =============================================================================================
@dataclass(frozen=True)
class _Opts:
    """What synthdid keeps in ``attr(estimate, 'opts')``: fixed across resampling replications."""

    kind: str  # "sdid", "sc" or "did"
    zeta_omega: float
    zeta_lambda: float
    min_decrease: float


def _noise_level(Y: np.ndarray, N0: int, T0: int) -> float:
    d = np.diff(Y[:N0, :T0], axis=1).reshape(-1)
    return float(np.std(d, ddof=1)) if d.size > 1 else 0.0


def _make_opts(kind: str, Y: np.ndarray, N0: int, T0: int) -> _Opts:
    N1, T1 = Y.shape[0] - N0, Y.shape[1] - T0
    noise = _noise_level(Y, N0, T0)
    eta_omega = (N1 * T1) ** 0.25 if kind == "sdid" else 1e-6
    return _Opts(kind=kind, zeta_omega=eta_omega * noise, zeta_lambda=1e-6 * noise, min_decrease=1e-5 * noise)


def _problems_for(Y: np.ndarray, N0: int, T0: int, opts: _Opts, omega0: np.ndarray | None,
                  lambda0: np.ndarray | None) -> list[_Problem]:
    """The (up to two) weight problems of one estimate, in the order [lambda, omega]."""
    probs = []
    if opts.kind == "sdid":  # lambda: rows = controls, columns = pre periods, b = post mean
        A = Y[:N0, :T0]
        b = Y[:N0, T0:].mean(axis=1)
        A = A - A.mean(axis=0)
        b = b - b.mean()
        x0 = np.full(T0, 1.0 / T0) if lambda0 is None else lambda0
        probs.append(_Problem(A, b, opts.zeta_lambda, x0, opts.min_decrease))
    if opts.kind in ("sdid", "sc"):  # omega: rows = pre periods, columns = controls, b = treated mean
        A = Y[:N0, :T0].T
        b = Y[N0:, :T0].mean(axis=0)
        if opts.kind == "sdid":
            A = A - A.mean(axis=0)
            b = b - b.mean()
        x0 = np.full(N0, 1.0 / N0) if omega0 is None else omega0
        probs.append(_Problem(A, b, opts.zeta_omega, x0, opts.min_decrease))
    return probs


def _weights_from(solved: list[np.ndarray], N0: int, T0: int, opts: _Opts) -> tuple[np.ndarray, np.ndarray]:
    if opts.kind == "sdid":
        return solved[1], solved[0]
    if opts.kind == "sc":
        return solved[0], np.zeros(T0)
    return np.full(N0, 1.0 / N0), np.full(T0, 1.0 / T0)


def _tau(Y: np.ndarray, N0: int, T0: int, omega: np.ndarray, lam: np.ndarray) -> float:
    N1, T1 = Y.shape[0] - N0, Y.shape[1] - T0
    u = np.concatenate([-omega, np.full(N1, 1.0 / N1)])
    v = np.concatenate([-lam, np.full(T1, 1.0 / T1)])
    return float(u @ Y @ v)


def _estimate_many(jobs: Sequence[tuple[np.ndarray, int, int, _Opts, np.ndarray | None, np.ndarray | None]]
                   ) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """Estimates for many (Y, N0, T0, opts, omega0, lambda0) at once: one Frank-Wolfe batch."""
    problems: list[_Problem] = []
    spans = []
    for Y, N0, T0, opts, om0, la0 in jobs:
        p = _problems_for(Y, N0, T0, opts, om0, la0)
        spans.append((len(problems), len(p)))
        problems.extend(p)
    solved = _solve_problems(problems)
    out = []
    for (Y, N0, T0, opts, _, _), (start, n) in zip(jobs, spans):
        omega, lam = _weights_from(solved[start:start + n], N0, T0, opts)
        out.append((_tau(Y, N0, T0, omega, lam), omega, lam))
    return out


def _sum_normalize(x: np.ndarray) -> np.ndarray:
    s = x.sum()
    return x / s if s != 0 else np.full(x.size, 1.0 / x.size)


def sdid_matrix_estimate(Y: np.ndarray, N0: int, T0: int, kind: str = "sdid") -> tuple[float, np.ndarray, np.ndarray]:
    """``synthdid_estimate`` / ``sc_estimate`` / ``did_estimate`` on an outcome matrix.

    Rows ``0..N0-1`` of ``Y`` are controls, columns ``0..T0-1`` pre-treatment. Returns
    ``(tau, omega, lambda)``.
    """
    Y = np.asarray(Y, dtype=float)
    opts = _make_opts(kind, Y, N0, T0)
    return _estimate_many([(Y, N0, T0, opts, None, None)])[0]


def _replicate_jobs(Y: np.ndarray, N0: int, T0: int, opts: _Opts, omega: np.ndarray, lam: np.ndarray,
                    method: str, n_reps: int, seed: int) -> list:
    """The re-estimation jobs behind ``synthdid::vcov(method)`` for placebo and bootstrap.

    Draws are R's ``set.seed(seed)`` stream (a fresh stream per call, as synthdid's vignette and paper
    call ``set.seed`` before each ``vcov``).
    """
    N = Y.shape[0]
    N1 = N - N0
    rng = RRandom(seed)
    jobs = []
    if method == "placebo":
        for _ in range(n_reps):
            ind = rng.sample(N0) - 1
            n0 = N0 - N1
            om0 = _sum_normalize(omega[ind[:n0]])
            jobs.append((Y[ind], n0, T0, opts, om0, lam))
    else:  # bootstrap: draws with no control or no treated unit are redrawn
        while len(jobs) < n_reps:
            ind = rng.sample_replace(N) - 1
            if np.all(ind < N0) or np.all(ind >= N0):
                continue
            ind = np.sort(ind)
            n0 = int((ind < N0).sum())
            om0 = _sum_normalize(omega[ind[ind < N0]])
            jobs.append((Y[ind], n0, T0, opts, om0, lam))
    return jobs


def _jackknife_values(Y: np.ndarray, N0: int, T0: int, omega: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Leave-one-unit-out estimates with fixed weights (synthdid's ``jackknife_se``)."""
    N = Y.shape[0]
    vals = np.empty(N)
    for j in range(N):
        keep = np.delete(np.arange(N), j)
        vals[j] = _tau(Y[keep], int((keep < N0).sum()), T0, _sum_normalize(omega[keep[keep < N0]]), lam)
    return vals


def _replicates(Y: np.ndarray, N0: int, T0: int, opts: _Opts, omega: np.ndarray, lam: np.ndarray,
                method: str, n_reps: int, seed: int) -> np.ndarray:
    """Replicate estimates of ``synthdid::vcov(method)`` (jackknife: the leave-one-out values)."""
    if method == "jackknife":
        return _jackknife_values(Y, N0, T0, omega, lam)
    jobs = _replicate_jobs(Y, N0, T0, opts, omega, lam, method, n_reps, seed)
    return np.array([tau for tau, _, _ in _estimate_many(jobs)])


def _se_from(method: str, reps: np.ndarray) -> float:
    n = reps.size
    if method == "jackknife":
        return float(math.sqrt((n - 1) / n * (n - 1) * np.var(reps, ddof=1)))
    return float(math.sqrt((n - 1) / n) * np.std(reps, ddof=1))


# =============================================================================================
# Panel -> matrix
# =============================================================================================
@dataclass(frozen=True)
class BlockPanel:
    """A balanced panel with block adoption, as synthdid's ``panel.matrices`` makes it."""

    Y: np.ndarray
    N0: int
    T0: int
    units: tuple[Any, ...]  # controls (sorted) then treated (sorted)
    times: tuple[Any, ...]
    time_dtype: str


def block_panel(df: pd.DataFrame, outcome: str, unit: str, time: str, treated: str) -> BlockPanel:
    """Validate a long panel with a 0/1 ``treated`` column and turn it into synthdid's matrix form.

    Rules: one row per unit x period; every unit observed in every period with a non-missing
    outcome (balanced); ``treated`` is 0/1, monotone within unit (0...0 1...1), and all treated
    units start in the same period; at least 2 pre periods, 1 post period, 1 treated and 1 control.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    missing = [f"{r}={c!r}" for r, c in (("outcome", outcome), ("unit", unit), ("time", time), ("treated", treated))
               if c not in df.columns]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}; the data has columns {list(map(str, df.columns))}")
    if not pd.api.types.is_numeric_dtype(df[outcome]) or pd.api.types.is_bool_dtype(df[outcome]):
        raise ValueError(f"outcome column {outcome!r} must be numeric, got dtype {df[outcome].dtype}")
    for col in (unit, time, treated):
        n_na = int(df[col].isna().sum())
        if n_na:
            raise ValueError(f"column {col!r} has {n_na} missing value(s); every row needs a {col}")
    d = pd.to_numeric(df[treated], errors="coerce")
    bad = ~d.isin([0, 1])
    if bad.any():
        ex = df.loc[bad, treated].head(3).tolist()
        raise ValueError(f"treated column {treated!r} must be 0/1 (unit x period indicator); found e.g. {ex}")
    if df.duplicated([unit, time]).any():
        ex = df.loc[df.duplicated([unit, time], keep=False), [unit, time]].head(3).values.tolist()
        raise ValueError(f"duplicate unit x time rows, e.g. {ex}; the panel must have one row per unit and period")
    wide = df.pivot(index=unit, columns=time, values=outcome).sort_index(axis=1)
    wmat = df.assign(_d=d).pivot(index=unit, columns=time, values="_d").sort_index(axis=1)
    if wide.isna().any().any() or wmat.isna().any().any():
        holes = wide.isna() | wmat.isna()
        bad_units = list(holes.index[holes.any(axis=1)][:5])
        n_cells = int(holes.to_numpy().sum())
        raise ValueError(
            f"the panel is not balanced: {n_cells} unit x period cell(s) have no row or a missing {outcome!r} "
            f"(e.g. units {bad_units}); synthetic DiD needs every unit observed in every period "
            "(drop or impute those units first)")
    W = wmat.to_numpy().astype(int)
    if np.any(np.diff(W, axis=1) < 0):
        bad_units = list(wmat.index[(np.diff(W, axis=1) < 0).any(axis=1)][:5])
        raise ValueError(f"treatment switches off for unit(s) {bad_units}: {treated!r} must stay 1 once it is 1")
    is_tr = W.any(axis=1)
    if not is_tr.any():
        raise ValueError(f"no treated unit: {treated!r} is 0 in every row")
    if is_tr.all():
        raise ValueError("every unit is treated at some point: no control (never-treated) units")
    first = W[is_tr].argmax(axis=1)
    if len(set(first)) > 1:
        starts = sorted({wide.columns[f] for f in first})
        raise ValueError(
            f"treated units start in different periods ({starts}); synthetic DiD (synthdid) needs block "
            "(simultaneous) adoption: estimate each start date separately")
    T0 = int(first[0])
    if T0 < 2:
        raise ValueError(f"treatment starts in period {T0 + 1} of {W.shape[1]}: at least two pre-treatment periods are needed")
    units_all = list(wide.index)
    controls = sorted(u for u, t in zip(units_all, is_tr) if not t)
    treated_units = sorted(u for u, t in zip(units_all, is_tr) if t)
    Y = wide.loc[controls + treated_units].to_numpy(dtype=float)
    return BlockPanel(Y=Y, N0=len(controls), T0=T0, units=tuple(controls + treated_units),
                      times=tuple(wide.columns), time_dtype=str(df[time].dtype))


# =============================================================================================
# Result and public function
# =============================================================================================
@dataclass(frozen=True, eq=False)
class SyntheticDiDResult(EstimationResult):
    """:class:`~csceval.did.EstimationResult` of :func:`synthetic_did`, with the weights and paths.

    Extra attributes
    ----------------
    unit_weights : DataFrame
        ``unit``, ``weight`` (:math:`\\omega`, controls; treated units get ``1/N1`` in ``treated_weight``).
    time_weights : DataFrame
        ``period``, ``event_time``, ``weight`` (:math:`\\lambda`, pre periods).
    paths : DataFrame
        ``period``, ``event_time``, ``treated`` (treated average), ``synthetic`` (:math:`\\omega`-weighted
        control average), ``counterfactual`` (synthetic shifted by the :math:`\\lambda`-weighted pre-period
        difference: what SDID compares the treated path with), ``gap`` (treated - counterfactual).
    comparison : DataFrame
        ``estimator`` (``synthetic_did``, ``synthetic_control``, ``did``), ``estimate``, ``std_error``,
        ``ci_lower``, ``ci_upper``, ``p_value`` computed by the same machinery (synthdid's
        ``synthdid_estimate``, ``sc_estimate``, ``did_estimate``), SEs by the same method and seed.
    replicates : ndarray
        The placebo / bootstrap / jackknife replicate estimates of the SDID estimate.
    """

    unit_weights: pd.DataFrame | None = field(default=None, repr=False)
    time_weights: pd.DataFrame | None = field(default=None, repr=False)
    paths: pd.DataFrame | None = field(default=None, repr=False)
    comparison: pd.DataFrame | None = field(default=None, repr=False)
    replicates: np.ndarray | None = field(default=None, repr=False)

    def plot(self, kind: str = "paths", **kwargs: Any) -> Figure:
        """``kind="paths"`` (treated vs synthetic, with time weights), ``"unit_weights"``,
        ``"time_weights"`` or ``"event_study"`` (the per-period gaps)."""
        from csceval.report import synth_figures as sf

        if kind == "paths":
            return sf.sdid_paths_figure(self, **kwargs)
        if kind == "unit_weights":
            return sf.donor_weights_figure(self.unit_weights, **kwargs)
        if kind == "time_weights":
            return sf.time_weights_figure(self, **kwargs)
        if kind == "event_study":
            return super().plot(**kwargs)
        raise ValueError(f"kind must be 'paths', 'unit_weights', 'time_weights' or 'event_study', got {kind!r}")


def _inference(tau: float, se: float | None, alpha: float) -> dict[str, float | None]:
    if se is None or not np.isfinite(se) or se <= 0:
        return {"std_error": None if se is None or not np.isfinite(se) else se, "ci_lower": None,
                "ci_upper": None, "p_value": None}
    z = stats.norm.ppf(1 - alpha / 2)
    return {"std_error": se, "ci_lower": tau - z * se, "ci_upper": tau + z * se,
            "p_value": float(2 * stats.norm.sf(abs(tau / se)))}


def synthetic_did(
    df: pd.DataFrame,
    outcome: str,
    unit: str = "la_code",
    time: str = "period",
    treated: str = "treated",
    se_method: str = "placebo",
    n_reps: int = 200,
    seed: int = 1,
    alpha: float = 0.05,
    compare: bool = True,
) -> SyntheticDiDResult:
    """Synthetic difference-in-differences, exactly as R ``synthdid`` (see the module docstring).

    Parameters
    ----------
    df : DataFrame
        Long balanced panel, one row per unit x period.
    outcome, unit, time : str
        Column names. ``time`` may be Timestamps or numbers.
    treated : str
        0/1 column: 1 in the periods in which the unit is treated (block adoption).
    se_method : {"placebo", "bootstrap", "jackknife"}
        How the standard error is obtained (``synthdid::vcov(method=...)``). ``"placebo"`` is the only
        one that works with one treated unit (and the right default for 2 cooperatives); bootstrap and
        jackknife need at least 2 treated units and are unreliable with few.
    n_reps : int
        Replications for placebo / bootstrap (synthdid's ``replications``, default 200).
    seed : int
        ``set.seed(seed)`` of R's generator; permutations/bootstrap draws are R's.
    alpha : float
        Normal confidence intervals at level ``1 - alpha``.
    compare : bool
        Also compute the synthetic-control and DiD estimates (``sc_estimate``, ``did_estimate``) and
        their standard errors by the same method (``result.comparison``).

    Returns
    -------
    SyntheticDiDResult
        ``tidy()`` gives one ``event_study`` row per period (the effect curve
        ``synthdid_effect_curve`` for post periods; for pre periods the same difference, a fit
        diagnostic) without uncertainty, and the ``overall`` row with the SE/CI/p-value.
    """
    if se_method not in _SE_METHODS:
        raise ValueError(f"se_method must be one of {_SE_METHODS}, got {se_method!r}")
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    n_reps = int(n_reps)
    if se_method != "jackknife" and n_reps < 2:
        raise ValueError(f"n_reps must be at least 2, got {n_reps}")
    bp = block_panel(df, outcome, unit, time, treated)
    Y, N0, T0 = bp.Y, bp.N0, bp.T0
    N, T = Y.shape
    N1, T1 = N - N0, T - T0
    kinds = ["sdid", "sc", "did"] if compare else ["sdid"]
    opts = {k: _make_opts(k, Y, N0, T0) for k in kinds}
    fits = dict(zip(kinds, _estimate_many([(Y, N0, T0, opts[k], None, None) for k in kinds])))
    notes = []
    ses: dict[str, float | None] = {k: None for k in kinds}
    reps_by_kind: dict[str, np.ndarray] = {}
    jobs: list = []
    spans: dict[str, tuple[int, int]] = {}
    for k in kinds:
        tau_k, omega_k, lam_k = fits[k]
        if se_method == "placebo" and N0 <= N1:
            notes.append(f"placebo standard error needs more controls ({N0}) than treated units ({N1}); not computed")
            break
        if se_method == "bootstrap" and N1 < 2:
            notes.append("bootstrap standard error needs at least 2 treated units; not computed")
            break
        if se_method == "jackknife":
            if N1 < 2 or (k != "did" and int((omega_k != 0).sum()) == 1):
                notes.append(f"jackknife standard error undefined for {k} "
                             "(one treated unit, or one control with non-zero weight)")
                continue
            reps_by_kind[k] = _jackknife_values(Y, N0, T0, omega_k, lam_k)
        else:
            new_jobs = _replicate_jobs(Y, N0, T0, opts[k], omega_k, lam_k, se_method, n_reps, seed)
            spans[k] = (len(jobs), len(new_jobs))
            jobs.extend(new_jobs)
    if jobs:  # all replications of all estimators in one Frank-Wolfe batch
        taus = np.array([tau_j for tau_j, _, _ in _estimate_many(jobs)])
        for k, (start, n) in spans.items():
            reps_by_kind[k] = taus[start:start + n]
    for k, reps in reps_by_kind.items():
        ses[k] = _se_from(se_method, reps)
    reps_sdid = reps_by_kind.get("sdid")
    tau, omega, lam = fits["sdid"]
    inf = _inference(tau, ses["sdid"], alpha)

    # effect curve (synthdid_effect_curve) for every period; pre periods are fit diagnostics
    tau_sc = np.concatenate([-omega, np.full(N1, 1.0 / N1)]) @ Y
    curve = tau_sc - tau_sc[:T0] @ lam
    event_time = np.arange(T) - T0
    rows = []
    for t in range(T):
        rows.append({
            "aggregation": "event_study", "cohort": bp.times[T0], "period": bp.times[t],
            "event_time": int(event_time[t]), "estimate": float(curve[t]), "std_error": None,
            "ci_lower": None, "ci_upper": None, "p_value": None,
            "inference": ("pre-period difference from the lambda-weighted baseline (fit diagnostic); no uncertainty"
                          if t < T0 else "effect in this period (synthdid_effect_curve); uncertainty only for the average"),
        })
    if se_method in ("placebo", "bootstrap"):
        how = {"placebo": "placebo variance (Arkhangelsky et al. 2021, Algorithm 4)",
               "bootstrap": "unit bootstrap variance (Arkhangelsky et al. 2021, Algorithm 2)"}[se_method]
        inf_text = f"{how}, {n_reps} replications (R set.seed({seed})), normal CI and p-value"
    else:
        inf_text = "fixed-weights jackknife variance (Arkhangelsky et al. 2021, Algorithm 3), normal CI and p-value"
    if ses["sdid"] is None:
        inf_text = "no standard error: " + "; ".join(notes)
    rows.append({"aggregation": "overall", "cohort": bp.times[T0], "period": None, "event_time": None,
                 "estimate": tau, **inf, "inference": inf_text})
    estimates = pd.DataFrame(rows)

    controls, treated_units = bp.units[:N0], bp.units[N0:]
    unit_weights = pd.DataFrame({"unit": list(controls), "weight": omega}).sort_values(
        ["weight", "unit"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
    time_weights = pd.DataFrame({"period": list(bp.times[:T0]), "event_time": event_time[:T0], "weight": lam})
    treated_path = Y[N0:].mean(axis=0)
    synth_path = omega @ Y[:N0]
    shift = float(lam @ (treated_path[:T0] - synth_path[:T0]))
    paths = pd.DataFrame({"period": list(bp.times), "event_time": event_time, "treated": treated_path,
                          "synthetic": synth_path, "counterfactual": synth_path + shift,
                          "gap": treated_path - synth_path - shift})
    comp = []
    names = {"sdid": "synthetic_did", "sc": "synthetic_control", "did": "did"}
    for k in kinds:
        comp.append({"estimator": names[k], "estimate": fits[k][0], **_inference(fits[k][0], ses[k], alpha)})
    comparison = pd.DataFrame(comp)
    eff_n0 = 1.0 / float(np.sum(omega**2)) if np.any(omega) else float("nan")
    eff_t0 = 1.0 / float(np.sum(lam**2)) if np.any(lam) else float("nan")
    metadata = {
        "unit": unit, "time": time, "treated": treated, "se_method": se_method, "n_reps": n_reps, "seed": seed,
        "N0": N0, "N1": N1, "T0": T0, "T1": T1, "treated_units": tuple(treated_units),
        "zeta_omega": opts["sdid"].zeta_omega, "zeta_lambda": opts["sdid"].zeta_lambda,
        "noise_level": opts["sdid"].min_decrease / 1e-5, "effective_n0": eff_n0, "effective_t0": eff_t0,
        "periods": bp.times, "notes": tuple(notes),
    }
    return SyntheticDiDResult(
        estimator="synthetic_did", outcome=outcome, estimates=estimates,
        overall=OverallEstimate(tau, **inf), inference=inf_text, n_treated=N1, n_control=N0,
        n_obs=N * T, n_dropped_missing=0, alpha=alpha, n_units=N, label="Synthetic DiD",
        time_dtype=bp.time_dtype, metadata=metadata, unit_weights=unit_weights, time_weights=time_weights,
        paths=paths, comparison=comparison, replicates=reps_sdid,
    )
