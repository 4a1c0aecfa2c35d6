"""Two-way fixed-effect demeaning shared by the regression estimators (``twfe``, ``sun_abraham``).

Unit and period effects are removed exactly (not by alternating projections) with sparse products
instead of pandas groupbys; the algorithm is the one linearmodels' ``PanelOLS`` uses for two effects.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, sparse

# Smallest eigenvalue, relative to the largest, of the normal equations of the period (or unit) effects
# after the other effects are removed; below it the effects are not, or barely, identified (a
# disconnected panel) and the fit goes to PanelOLS.
_EFFECTS_RCOND = 1e-10


def _indicator(codes: np.ndarray, n_levels: int) -> sparse.csr_matrix:
    """Sparse n x n_levels matrix of dummies of ``codes`` (one 1 per row)."""
    n = len(codes)
    return sparse.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, n_levels))


def _two_way_effects(unit_codes: np.ndarray, time_codes: np.ndarray, M) -> tuple[np.ndarray, ...] | None:
    """Unit and period effects of the columns of ``M`` (dense or sparse), or None if they are not identified.

    Returns ``(a, b, psi, gamma)`` such that ``M - psi[a] - gamma[b]`` are the residuals of ``M`` on
    unit and period dummies; ``a`` are the codes of the factor with more levels, ``b`` the other's.
    The exact (non-iterative) algorithm of linearmodels' two-way demeaning, with sparse products
    instead of pandas groupbys: by Frisch-Waugh-Lovell, remove the means within ``a``, then the
    projection on the ``a``-demeaned dummies of ``b`` (first level dropped). Those dummies are never
    built: with ``C`` the ``a`` x ``b`` table of observation counts, their cross-product is
    ``diag(n_b) - C' diag(1/n_a) C`` and their product with ``a``-demeaned data is
    ``B'M - C' means``. Exact for unbalanced panels too. None when that cross-product is (nearly)
    singular, i.e. the unit-period graph is disconnected.
    """
    n_units, n_times = int(unit_codes.max()) + 1, int(time_codes.max()) + 1
    if n_units >= n_times:
        a, na, b, nb = unit_codes, n_units, time_codes, n_times
    else:
        a, na, b, nb = time_codes, n_times, unit_codes, n_units
    A, B = _indicator(a, na), _indicator(b, nb)
    count_a = np.bincount(a, minlength=na).astype(float)
    means = _dense(A.T @ M) / count_a[:, None]
    gamma = np.zeros((nb, means.shape[1]))
    if nb == 1:
        return a, b, means, gamma
    C = (A.T @ B).toarray()
    C_scaled = C / count_a[:, None]
    zz = (np.diag(np.bincount(b, minlength=nb).astype(float)) - C.T @ C_scaled)[1:, 1:]
    eig = np.linalg.eigvalsh(zz)
    if not eig[0] > _EFFECTS_RCOND * eig[-1]:
        return None
    rhs = _dense(B.T @ M) - C.T @ means
    gamma[1:] = linalg.cho_solve(linalg.cho_factor(zz), rhs[1:])
    return a, b, means - C_scaled @ gamma, gamma


def _dense(m) -> np.ndarray:
    return m.toarray() if sparse.issparse(m) else np.asarray(m)


def _two_way_within(unit_codes: np.ndarray, time_codes: np.ndarray, M: np.ndarray) -> np.ndarray | None:
    """Residuals of the columns of ``M`` on unit and period dummies (:func:`_two_way_effects`), or None."""
    effects = _two_way_effects(unit_codes, time_codes, M)
    if effects is None:
        return None
    a, b, psi, gamma = effects
    return M - psi[a] - gamma[b]
