r"""Synthetic LA-level DfE open data with known true effects.

:func:`simulate_la_returns` writes local-authority (LA) level files in the real Explore Education
Statistics (EES) layouts -- children in need (b1), referrals (c1), child protection plans (d3, d5),
children looked after (CLA numbers and rates, 2025 release) and the ONS 0-17 mid-year population --
plus ``true_effects.csv`` (the effects injected) and ``simulation_manifest.json``.  The same inputs
give byte-identical files.  Years are DfE *reporting years* (year ending 31 March).

Data-generating process
-----------------------
**Units.**  Every LA in :func:`csceval.reference.local_authorities` that reports in at least one
simulated year, in the years it reports: the old Dorset (835), Poole (836) and Bournemouth (837) to
2019 and Dorset (838) / BCP (839) from 2020; Northamptonshire (928) to 2021 and North/West
Northamptonshire (940/941) from 2022; Cumbria (909) to 2023 and Cumberland/Westmorland and Furness
(942/943) from 2024.  ``n_las`` smaller than that universe keeps every LA named in ``programmes``
plus a seeded sample of the others, drawing boundary-change families whole (:func:`sample_units`); larger adds synthetic units ``X0001, X0002, ...`` -- *not real
LAs*, named "Synthetic authority X0001", GSS-like code ``X00000001``, in regions drawn in proportion
to the real LAs, reporting every year (for benchmarks at scale).  All draws of the real LAs are
made for the full reference universe and then subset, so a subsample sees exactly the numbers of a
full run, and adding synthetic units changes nothing for the real ones.

**Child population** (ONS 0-17 mid-year estimate).  A base for mid-2024 from a two-piece lognormal
with the published median 62,500 and p10 33,700 / p90 148,000,

.. math:: P_i = 62{,}500\,\exp(\sigma_\pm z_i),\quad
          \sigma_- = \ln(62{,}500/33{,}700)/1.2816,\ \sigma_+ = \ln(148{,}000/62{,}500)/1.2816,

clipped to [5,000, 400,000], where the :math:`z_i` are the normal quantiles :math:`\Phi^{-1}((j-0.5)/n)`
dealt to the *n* reference LAs in a seeded random order (a stratified draw: the simulated England has
the published median and deciles by construction; synthetic X units draw :math:`z_i\sim N(0,1)`).
Isles of Scilly (420) is fixed at 330 and City of London (201) at 800.
Paths :math:`P_{iy} = P_i \exp(g_i (y - 2024) + \varepsilon_{iy})` with :math:`g_i\sim N(0.003, 0.003^2)`
(about 0.3% growth a year) and :math:`\varepsilon_{iy}\sim N(0, 0.003^2)`, rounded to whole children.
Successors of a split or merger take Dirichlet(20, ..., 20) shares of their predecessors' combined
path.  The denominator of reporting year *t* is the mid-year *t - 1* estimate.

**Latent rates per 10,000 children** for outcome *k* (``OUTCOMES``), LA *i*, reporting year *t*:

.. math::
    r^0_{ikt} = n_{kt} + a_{ik} + u_{ikt}, \qquad a_{ik} = m_{ik} - M_k, \qquad u_{ikt} = m_{ik}\,w_{ikt},

    m_{ik} = M_k L_{ik}, \quad L_{ik} = \exp(\sigma_k z_{ik} - \sigma_k^2/2),
    \quad w_{ikt} = \phi_k w_{ik,t-1} + s_k\sqrt{1-\phi_k^2}\,\eta_{ikt}.

* :math:`n_{kt} = M_k\,h_k(t)`: a gentle national path (piecewise-linear multiplier :math:`h_k` of
  ``national_path`` knots in ``calibration.yaml``, shaped like the published England series and
  averaging exactly 1 over the calibration window 2016-2025; flat after the last knot).  E.g. the
  CLA rate rises from about 0.87 M in 2013 to M in 2021 and eases to 0.97 M by 2025.
* :math:`z_{i\cdot}` are Gaussian-copula scores with correlation :math:`R^z`: independent normals per
  outcome, standardised across the reference LAs, mixed by the Cholesky factor of :math:`R^z`.
  Successors' scores are :math:`0.8\,\bar z_{pred} + 0.6\,z_{own}` (population-weighted
  predecessors).  :math:`L` is lognormal (rates stay positive and right-skewed), then moment-matched
  over the real LAs other than 201 and 420: :math:`L \leftarrow 1 + (L/\bar L - 1)\,
  \sqrt{e^{\sigma_k^2}-1}/\mathrm{sd}(L/\bar L)` (floored at 0.05), so its mean is exactly 1 and
  its SD exactly the lognormal's.  The simulated England thus hits the level targets by
  construction rather than only in expectation (synthetic X units get the same transformation).
* :math:`w` is a stationary AR(1) relative residual, so the residual SD scales with the LA's level.
  Innovations :math:`\eta` are correlated across outcomes with :math:`R^\eta` (``innovation_correlation``).
* :math:`r^0` is floored at 5% of :math:`m_{ik}` (never binds at the calibrated parameters).

**Calibration.**  ``calibration.yaml`` holds the targets (source: domain facts section 3, computed on
the real EES files): mean *M*, between-LA SD of LA means *SB*, within-LA residual SD after LA and
year fixed effects *SW* and pooled lag-1 correlation of levels :math:`\rho`, each over T = 10 years.
With :math:`g(\phi, T) = T^{-1}[1 + 2\sum_{k=1}^{T-1}(1-k/T)\phi^k]` (variance share of a T-year mean
of a unit AR(1)), the level variance *B* and residual variance *S* satisfy

.. math::
    S = \frac{SW^2}{1-g(\phi,T)}, \quad B = SB^2 - S\,g(\phi,T), \quad
    \rho = \frac{C_n + B + \phi S}{\sqrt{(V_{n,1}+B+S)(V_{n,2}+B+S)}},

where :math:`V_{n,\cdot}, C_n` are the pooled variances and lag-1 covariance of the national path;
:math:`\phi` is the root of the last equation, then :math:`\sigma_k^2 = \ln(1 + B/M^2)` and
:math:`s_k^2 = S/(M^2 + B)`.  :math:`R^z` is solved so that one year's cross-LA correlations of the
rates match ``level_correlation`` (CIN-CPP 0.75, CIN-CLA 0.75, CPP-CLA 0.69, referrals-CLA 0.47;
others assumed), given the residual noise: with :math:`X = cov(m_j, m_k)` and
:math:`c_{jk} = R^\eta_{jk}\,\mathrm{sd}(\eta_j)\,\mathrm{sd}(\eta_k)/(1-\phi_j\phi_k)`,
:math:`cov(r_j, r_k) = X + (M_jM_k + X)c_{jk}` and :math:`X/(M_jM_k) = \exp(R^z_{jk}\sigma_j\sigma_k)-1`.

**Counts.**  :math:`count_{ikt} = \mathrm{round}(r_{ikt} P_{i,t-1} / 10{,}000)` (half up, at least 0)
for CIN at 31 March (b1 ``At31_episodes``), referrals (c1 ``referral_count``), CPPs at 31 March (d5
``CPP_At31``), CPP starts (d3 ``CPP_start``), CLA on 31 March and CLA starts (CLA file).  Other
columns follow national published relationships (``ratios`` in ``calibration.yaml``) with
LA-level and year-level noise: b1 Started/Ended episodes = At31 x 1.01 / 0.90 x lognormal noise,
Anypoint = At31 + Ended (the identity of the national rows), children per episode about 0.93-0.94,
awaiting assessment about 4% of At31 (very variable); c1 re-referrals about 22% of referrals (LA
share correlated 0.68 with the LA's referral level), no-further-action (skewed: median 5%) and
not-in-need (29%) shares, referral children 88% of referrals; d3 second or subsequent plans rising
from 15% (2013) to 24.5% (2024); d5 durations split CPP_At31 by Dirichlet shares around the
national ones (largest-remainder rounding, so they add up); CLA ceased = CLA starts rate x
lognormal noise (mean ratio 1).  Publication rules (suppression, rounding, symbols) are in
:mod:`csceval.simulate._ees`.

**Treatment effects.**  For programme *p*, LA *i* with wave start :math:`s_i` and outcome *k* with
spec (size, scale, ramp_years, heterogeneity_sd), at the reference date :math:`d_t` = 31 March of
reporting year *t* (stocks and flows alike):

.. math::
    \tau_{pikt} = \text{size}\; \mu_{pik}\; \big(1 - e^{-(d_t - s_i)/\text{ramp}}\big)\;
    \times\begin{cases} r^0_{ikt} & \text{relative} \\ 1 & \text{absolute}\end{cases}
    \quad (d_t > s_i;\ 0 \text{ otherwise; step if ramp} = 0),

:math:`d_t - s_i` in years of 365.25 days, :math:`\mu_{pik} = 1 + \text{heterogeneity\_sd}\,N(0,1)`
(exactly 1 when heterogeneity_sd is 0).  The observed latent rate is
:math:`r_{ikt} = \max(0, r^0_{ikt} + \sum_p \tau_{pikt})` (an LA in several programmes gets the sum;
relative effects all apply to the counterfactual :math:`r^0`).  The national roll-out applies to
every unit.  ``true_effects.csv`` has one row per programme x treated LA x outcome (all six; 0 where
the programme has no effect on it) x reporting year from the LA's first treated reporting year
(the first whose 31 March is after the start) to ``last_year``, with ``counterfactual_rate`` =
:math:`r^0` (no programme at all) and ``true_effect`` = :math:`\tau` (unrounded).

**Randomness.**  ``numpy.random.Generator(PCG64)`` streams seeded by
``SeedSequence(seed, spawn_key=(crc32(component), ...))``, one per named component (population,
each outcome's levels and residuals, each column's noise, each programme x outcome's heterogeneity):
the ``SeedSequence.spawn`` mechanism keyed by name, so adding a programme (or an outcome appended at
the end of ``OUTCOMES``) does not change any other draw, and a run with effects has exactly the
counterfactual of a run without.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ._calibration import OUTCOMES, derived_parameters, load_calibration
from ._dgp import NATIONAL_ROLLOUT, TRUTH_COLUMNS
from ._ees import write_cin_file, write_cla_file, write_population_file
from ._model import boundary_families, check_int, la_level_model, sample_units  # noqa: F401

__all__ = ["simulate_la_returns", "file_names", "OUTCOMES", "NATIONAL_ROLLOUT"]


def file_names(first_year: int, last_year: int) -> dict[str, str]:
    """Names of the files :func:`simulate_la_returns` writes, keyed as in its return value."""
    return {
        "b1": f"b1_children_in_need_{first_year}_to_{last_year}.csv",
        "c1": f"c1_children_in_need_referrals_and_rereferrals_{first_year}_to_{last_year}.csv",
        "d3": f"d3_cpps_subsequent_plan_{first_year}_to_{last_year}.csv",
        "d5": f"d5_cpps_at31march_by_duration_{first_year}_to_{last_year}.csv",
        "cla": "cla_number_and_rate_per_10k_children.csv",
        "population": f"ons_mid-year_population_estimates_{first_year - 1}_to_{last_year - 1}.csv",
        "true_effects": "true_effects.csv",
        "manifest": "simulation_manifest.json",
    }


def simulate_la_returns(
    out_dir,
    *,
    seed: int,
    first_year: int = 2013,
    last_year: int = 2029,
    programmes: dict,
    effects: dict,
    national_rollout: dict | None = None,
    n_las: int | None = None,
) -> dict[str, Path]:
    """Write synthetic LA-level DfE open-data files with known effects.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created if missing).  Existing files of the same names are replaced.
    seed : int
        Seed of every random draw (non-negative).  Same inputs give byte-identical files.
    first_year, last_year : int
        First and last DfE reporting year (year ending 31 March) simulated.
    programmes : dict
        ``{programme: {"waves": [{"name", "start": "YYYY-MM-DD", "la_codes": [...]}, ...], ...}}``;
        other keys (``unit``, ``name``, ...) are ignored.  An LA may appear in several programmes
        but only once per programme.
    effects : dict
        ``{programme: {outcome: {"size", "scale": "relative"|"absolute", "ramp_years",
        "heterogeneity_sd"}}}``; outcomes are those in :data:`OUTCOMES`.  Missing ``scale``
        defaults to ``relative``, missing ``ramp_years`` / ``heterogeneity_sd`` to 0.
    national_rollout : dict, optional
        ``{"start": "YYYY-MM-DD", "effects": {outcome: spec}}``, an effect on every unit, written to
        ``true_effects.csv`` under programme ``national_rollout``.
    n_las : int, optional
        None: every LA.  Smaller than the universe: the programmes' LAs plus a seeded sample of the
        rest.  Larger: every LA plus synthetic units ``X0001, ...`` (not real LAs).

    Returns
    -------
    dict
        ``{"b1", "c1", "d3", "d5", "cla", "population", "true_effects", "manifest"}`` -> path.

    Raises
    ------
    ValueError
        For an invalid argument: unknown outcome or LA code, bad date, scale or year range, an
        ``n_las`` smaller than the number of programme LAs.
    """
    seed, first_year, last_year = check_int(seed, "seed", 0), check_int(first_year, "first_year"), \
        check_int(last_year, "last_year")
    if first_year > last_year:
        raise ValueError(f"first_year ({first_year}) is after last_year ({last_year})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = la_level_model(seed=seed, first_year=first_year, last_year=last_year, programmes=programmes,
                           effects=effects, national_rollout=national_rollout, n_las=n_las)
    panel, records, years, r0, n_extra = model.panel, model.truth_records, model.years, model.r0, model.n_extra
    units = panel.units

    # ---- write ----------------------------------------------------------------------------
    names = file_names(first_year, last_year)
    written: dict[str, Path] = {}
    for kind in ("b1", "c1", "d3", "d5"):
        written[kind] = write_cin_file(out_dir / names[kind], kind, panel)
    written["cla"] = write_cla_file(out_dir / names["cla"], panel)
    written["population"] = write_population_file(out_dir / names["population"], panel)
    written["true_effects"] = _write_truth(out_dir / names["true_effects"], records)

    manifest = {
        "generator": "csceval.simulate.simulate_la_returns",
        "seed": seed,
        "parameters": {
            "first_year": first_year,
            "last_year": last_year,
            "n_las": n_las,
            "programmes": programmes,
            "effects": effects,
            "national_rollout": national_rollout,
        },
        "units": {
            "n_units": len(units),
            "n_real_las": int(units.is_real.sum()),
            "n_synthetic_units": n_extra,
            "synthetic_units_note": "codes X0001... are synthetic units, not real local authorities" if n_extra else "",
            "la_codes": [str(c) for c in units.code],
        },
        "calibration_targets": load_calibration(),
        "derived_parameters": _derived_for_manifest(),
        "counterfactual_moments": _latent_moments(r0, units, years),
        "files": {k: {"file": p.name, "sha256": _sha256(p), "bytes": p.stat().st_size} for k, p in written.items()},
    }
    mpath = out_dir / names["manifest"]
    mpath.write_bytes((json.dumps(manifest, indent=2, sort_keys=True, default=_json_default) + "\n").encode("utf-8"))
    written["manifest"] = mpath
    return written


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)  # dates and anything else


def _write_truth(path: Path, records: list) -> Path:
    df = pd.DataFrame.from_records(records, columns=TRUTH_COLUMNS)
    text = df.to_csv(index=False, lineterminator="\n")
    path.write_bytes(text.encode("utf-8"))
    return path


def _derived_for_manifest() -> dict:
    params, Rz, Re = derived_parameters()
    return {
        "outcomes": {o: params[o].as_dict() for o in OUTCOMES},
        "outcome_order": list(OUTCOMES),
        "latent_level_correlation": np.round(Rz, 6).tolist(),
        "innovation_correlation": np.round(Re, 6).tolist(),
    }


def panel_moments(rates: np.ndarray) -> dict[str, float]:
    """Calibration moments of an LA x year array of rates (NaN where an LA does not report).

    mean; between_sd (SD, ddof=1, of LA means); within_sd (SD, ddof=0, of residuals after LA and
    year fixed effects, by alternating projections); ar1 (pooled correlation of consecutive years).
    """
    x = np.asarray(rates, dtype=float)
    obs = ~np.isnan(x)
    rows = obs.any(axis=1)
    x, obs = x[rows], obs[rows]
    e = np.where(obs, x, 0.0)
    for _ in range(200):
        e_prev = e
        e = np.where(obs, e - (e.sum(axis=1) / obs.sum(axis=1))[:, None], 0.0)
        cnt = obs.sum(axis=0)
        e = np.where(obs, e - np.divide(e.sum(axis=0), cnt, out=np.zeros(e.shape[1]), where=cnt > 0)[None, :], 0.0)
        if np.max(np.abs(e - e_prev)) < 1e-10:
            break
    pair = obs[:, 1:] & obs[:, :-1]
    a, b = x[:, 1:][pair], x[:, :-1][pair]
    return {
        "mean": float(np.nanmean(x)),
        "between_sd": float(np.std(np.nanmean(x, axis=1), ddof=1)),
        "within_sd": float(np.sqrt(np.sum(e[obs] ** 2) / obs.sum())),
        "ar1": float(np.corrcoef(a, b)[0, 1]) if len(a) > 2 else float("nan"),
    }


def _latent_moments(r0: np.ndarray, units, years: np.ndarray) -> dict:
    """Moments of the counterfactual latent rates over the calibration window (real regular LAs)."""
    cal = load_calibration()["calibration_window"]
    win = (years >= cal["first_year"]) & (years <= cal["last_year"])
    regular = units.is_real & ~np.isin(units.code, cal["exclude_la_codes"])
    if win.sum() < 2 or regular.sum() < 3:
        return {}
    rep = units.reports(years)[regular][:, win]
    out = {}
    for k, o in enumerate(OUTCOMES):
        x = np.where(rep, r0[k][regular][:, win], np.nan)
        out[o] = {m: round(v, 6) for m, v in panel_moments(x).items()}
    return {"window": [int(cal["first_year"]), int(cal["last_year"])], "moments": out}
