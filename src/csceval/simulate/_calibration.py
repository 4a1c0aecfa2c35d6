"""Calibration targets (package data) and the parameters the simulator derives from them.

See the docstring of :mod:`csceval.simulate` for the model and the formulas used here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import yaml
from scipy.optimize import brentq

#: Outcome names in the fixed order used for every draw (append new outcomes at the end so that
#: existing outcomes keep their random numbers).
OUTCOMES: tuple[str, ...] = (
    "cin_rate_per_10k",
    "referral_rate_per_10k",
    "cpp_rate_per_10k",
    "cpp_starts_rate_per_10k",
    "cla_rate_per_10k",
    "cla_starts_rate_per_10k",
)

CALIBRATION_FILE = "calibration.yaml"


@cache
def load_calibration() -> dict:
    """The calibration targets shipped with the package (``calibration.yaml``), parsed."""
    text = resources.files(__package__).joinpath(CALIBRATION_FILE).read_text(encoding="utf-8")
    cal = yaml.safe_load(text)
    missing = [o for o in OUTCOMES if o not in cal["outcomes"]]
    if missing:
        raise ValueError(f"{CALIBRATION_FILE}: no calibration targets for outcome(s) {missing}")
    return cal


def mean_share_of_ar1_variance(phi: float, T: int) -> float:
    r"""Variance of the mean of ``T`` consecutive values of a unit-variance stationary AR(1).

    .. math:: g(\phi, T) = \frac{1}{T}\Big[1 + 2\sum_{k=1}^{T-1}(1 - k/T)\,\phi^k\Big]
    """
    k = np.arange(1, T)
    return float((1.0 + 2.0 * np.sum((1.0 - k / T) * phi**k)) / T)


def interpolate_path(knots: dict, years: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation of ``{year: value}`` knots, flat outside the knots."""
    xs = np.array(sorted(int(k) for k in knots), dtype=float)
    ys = np.array([float(knots[k] if k in knots else knots[str(int(k))]) for k in sorted(knots, key=int)])
    return np.interp(np.asarray(years, dtype=float), xs, ys)


@dataclass(frozen=True)
class OutcomeParameters:
    """Parameters of one outcome's latent rate, derived from its calibration targets."""

    name: str
    mean: float             # M: mean rate over LAs and window years
    level_var: float        # B: variance of the LA level m_i across LAs
    resid_var: float        # S: stationary variance of the residual u_it (pooled over LAs)
    phi: float              # AR(1) coefficient of w_it
    w_sd: float             # stationary SD of the relative residual w_it
    innovation_sd: float    # SD of the AR(1) innovation of w_it: w_sd * sqrt(1 - phi^2)
    level_log_sd: float     # sigma_a: SD of log L_i (lognormal LA level multiplier)
    ar1_achieved: float     # pooled AR(1) implied by the solution (equals target unless clipped)

    def as_dict(self) -> dict:
        return {k: (round(v, 10) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def national_path(name: str, years: np.ndarray) -> np.ndarray:
    """n_t for ``years``: the mean rate times the calibrated shape, averaging 1 over the window."""
    cal = load_calibration()
    spec = cal["outcomes"][name]
    win = np.arange(cal["calibration_window"]["first_year"], cal["calibration_window"]["last_year"] + 1)
    shape_win = interpolate_path(spec["national_path"], win)
    return float(spec["mean"]) * interpolate_path(spec["national_path"], years) / shape_win.mean()


def derive_outcome_parameters(name: str) -> OutcomeParameters:
    r"""Solve for (B, S, phi) so the window moments hit the targets.

    With ``T`` window years, ``g = g(phi, T)`` and the national path's pooled variances
    ``V1 = var(n_t)``, ``V2 = var(n_{t-1})`` and covariance ``C = cov(n_t, n_{t-1})`` over
    ``t = 2..T``:

    .. math::
        S = \frac{SW^2}{1 - g}, \quad B = SB^2 - S g, \quad
        \rho(\phi) = \frac{C + B + \phi S}{\sqrt{(V_1 + B + S)(V_2 + B + S)}}

    and ``phi`` is the root of ``rho(phi) = target`` (clipped to [-0.9, 0.995]).
    """
    cal = load_calibration()
    spec = cal["outcomes"][name]
    win = np.arange(cal["calibration_window"]["first_year"], cal["calibration_window"]["last_year"] + 1)
    T = len(win)
    M, SB, SW, rho_target = (float(spec[k]) for k in ("mean", "between_sd", "within_sd", "ar1"))
    n = national_path(name, win)
    x, y = n[1:], n[:-1]
    V1, V2 = float(np.var(x)), float(np.var(y))
    C = float(np.mean((x - x.mean()) * (y - y.mean())))

    def parts(phi: float) -> tuple[float, float]:
        g = mean_share_of_ar1_variance(phi, T)
        S = SW**2 / (1.0 - g)
        return SB**2 - S * g, S

    def rho(phi: float) -> float:
        B, S = parts(phi)
        return (C + B + phi * S) / np.sqrt((V1 + B + S) * (V2 + B + S))

    lo, hi = -0.9, 0.995
    if rho(lo) >= rho_target:
        phi = lo
    elif rho(hi) <= rho_target:
        phi = hi
    else:
        phi = float(brentq(lambda p: rho(p) - rho_target, lo, hi, xtol=1e-12))
    B, S = parts(phi)
    if B <= 0:
        raise ValueError(f"{CALIBRATION_FILE}: targets for {name} imply a non-positive between-LA variance")
    w_sd = float(np.sqrt(S / (M**2 + B)))
    return OutcomeParameters(
        name=name,
        mean=M,
        level_var=float(B),
        resid_var=float(S),
        phi=phi,
        w_sd=w_sd,
        innovation_sd=float(w_sd * np.sqrt(1.0 - phi**2)),
        level_log_sd=float(np.sqrt(np.log1p(B / M**2))),
        ar1_achieved=float(rho(phi)),
    )


def _pair_matrix(pairs, default: float, names=OUTCOMES) -> np.ndarray:
    idx = {o: i for i, o in enumerate(names)}
    R = np.full((len(names), len(names)), float(default))
    np.fill_diagonal(R, 1.0)
    for item in pairs:
        a, b, v = item[0], item[1], float(item[2])
        R[idx[a], idx[b]] = R[idx[b], idx[a]] = v
    return R


def nearest_correlation(R: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """Clip eigenvalues at ``floor`` and rescale to a unit diagonal (a simple PD repair)."""
    vals, vecs = np.linalg.eigh((R + R.T) / 2)
    if vals.min() >= floor:
        return R
    A = vecs @ np.diag(np.clip(vals, floor, None)) @ vecs.T
    d = np.sqrt(np.diag(A))
    return A / np.outer(d, d)


def innovation_correlation() -> np.ndarray:
    cal = load_calibration()["innovation_correlation"]
    return nearest_correlation(_pair_matrix(cal.get("pairs", []), cal.get("default", 0.0)))


def target_level_correlation() -> np.ndarray:
    """Target correlation of one year's rates across LAs (unlisted pairs: 0.5)."""
    return _pair_matrix(load_calibration()["level_correlation"], 0.5)


def latent_level_correlation(params: dict[str, OutcomeParameters]) -> np.ndarray:
    r"""Gaussian-copula correlation of the LA levels that reproduces the target level correlations.

    For outcomes j, k with levels ``m = M L`` and residuals ``u = m w``:
    ``cov(r_j, r_k) = X + (M_j M_k + X) c_jk`` with ``X = cov(m_j, m_k)`` and ``c_jk`` the stationary
    cross-covariance of the AR(1) relative residuals,
    ``c_jk = R^eps_jk sd^eps_j sd^eps_k / (1 - phi_j phi_k)``.  Solving for X with
    ``cov(r_j, r_k) = rho^target_jk sqrt((B_j + S_j)(B_k + S_k))`` and inverting the lognormal
    covariance ``X / (M_j M_k) = exp(rho^z_jk sigma_j sigma_k) - 1`` gives the latent correlation.
    """
    target = target_level_correlation()
    Re = innovation_correlation()
    K = len(OUTCOMES)
    Rz = np.eye(K)
    for j in range(K):
        for k in range(j + 1, K):
            pj, pk = params[OUTCOMES[j]], params[OUTCOMES[k]]
            c = Re[j, k] * pj.innovation_sd * pk.innovation_sd / (1.0 - pj.phi * pk.phi)
            total = target[j, k] * np.sqrt((pj.level_var + pj.resid_var) * (pk.level_var + pk.resid_var))
            X = (total - pj.mean * pk.mean * c) / (1.0 + c)
            z = np.log1p(X / (pj.mean * pk.mean)) / (pj.level_log_sd * pk.level_log_sd)
            Rz[j, k] = Rz[k, j] = float(np.clip(z, -0.99, 0.99))
    return nearest_correlation(Rz)


@cache
def derived_parameters() -> tuple[dict[str, OutcomeParameters], np.ndarray, np.ndarray]:
    """(per-outcome parameters, latent level correlation, innovation correlation)."""
    params = {o: derive_outcome_parameters(o) for o in OUTCOMES}
    return params, latent_level_correlation(params), innovation_correlation()
