r"""How robust an LA-level estimate is: HonestDiD bounds, leave-one-treated-LA-out, placebo in time.

Three checks a reviewer asks for on every headline number of a programme with few treated LAs:

* :func:`honest_did_table` -- Rambachan & Roth (2023) sensitivity of the event-study effect at one
  event time to violations of parallel trends: smoothness restrictions :math:`\Delta^{SD}(M)`
  (fixed-length CI) and relative magnitudes :math:`\Delta^{RM}(\bar M)` (C-LF), over a grid, with
  breakdown values (:func:`csceval.did.honest_did`). The event study is the headline
  Callaway-Sant'Anna dynamic aggregation (:func:`callaway_santanna_event_study`: universal base
  period, event times against :math:`e=-1`, covariance from the influence functions) or the TWFE
  event study (:func:`honest_did_event_study`).
* :func:`leave_one_out` -- the estimate re-computed with each treated LA dropped in turn: one
  LA driving the result shows up as an outlier.
* :func:`placebo_in_time` -- the estimator run on pre-programme data only, pretending every treated
  LA started ``k`` periods before it really did. Under parallel trends (and no anticipation) the
  placebo effect is zero; a clear non-zero placebo effect is evidence against the design.

All three take the estimation sample of :func:`csceval.design.estimation_sample` (columns
``la_code``, ``period``, ``first_treated`` and the outcome column) and the config's ``estimation``
settings, and return tidy tables (one row per check) for the report.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from csceval.did.registry import run_estimator

__all__ = [
    "HONEST_DID_COLUMNS",
    "HONEST_DID_ESTIMATORS",
    "EventStudyMoments",
    "callaway_santanna_event_study",
    "honest_did_event_study",
    "LEAVE_ONE_OUT_COLUMNS",
    "PLACEBO_IN_TIME_COLUMNS",
    "honest_did_table",
    "leave_one_out",
    "placebo_in_time",
    "report_table",
]

HONEST_DID_COLUMNS = [
    "estimator", "restriction", "parameter", "value", "ci_lower", "ci_upper", "method", "target_event_time", "estimate",
    "original_ci_lower", "original_ci_upper", "breakdown", "alpha", "note",
]
LEAVE_ONE_OUT_COLUMNS = [
    "estimator", "dropped_la", "dropped_wave_start", "estimate", "std_error", "ci_lower", "ci_upper", "p_value",
    "n_treated", "n_control",
]
PLACEBO_IN_TIME_COLUMNS = [
    "estimator", "shift_periods", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "n_treated",
    "n_control", "note",
]

_RESTRICTIONS = {"smoothness": "M", "relative_magnitudes": "Mbar"}
#: event studies HonestDiD can run on (the first is the default: the headline estimator's)
HONEST_DID_ESTIMATORS = ("callaway_santanna", "event_study_twfe")
_COVARIANCES = ("analytic", "bootstrap")
_OPEN_AT_GRID_END = re.compile(r"robust CI at M(?:bar)?=([-+0-9.eE]+) is open at an end of the theta grid")


def _overall(result) -> dict[str, float | None]:
    o = result.overall
    if o is None:
        raise ValueError(f"estimator {result.estimator!r} gives no overall estimate to re-estimate")
    return o.as_dict()


@dataclass(frozen=True)
class EventStudyMoments:
    """Event-study coefficients and their covariance, in the form :func:`csceval.did.honest_did` reads.

    Attributes
    ----------
    estimator : str
        The estimator the event study comes from.
    coefficients : DataFrame
        ``term`` (``event_time[e]``, the reference period excluded) and ``estimate``.
    vcov : DataFrame
        Covariance of the coefficients, rows and columns labelled by ``term``.
    metadata : dict
        ``ref_period`` (the normalised event time) and ``covariance`` (how ``vcov`` was obtained).
    """

    estimator: str
    coefficients: pd.DataFrame
    vcov: pd.DataFrame
    metadata: dict = field(default_factory=dict)


def callaway_santanna_event_study(
    result, *, min_e: int, max_e: int, covariance: str = "analytic",
) -> EventStudyMoments:
    """The Callaway-Sant'Anna dynamic aggregation (event study) with the covariance of its event times.

    HonestDiD needs the whole covariance matrix of the event-study coefficients, not only their standard
    errors. Each event-time estimate :math:`\\theta(e)` is asymptotically linear with influence function
    :math:`\\psi^{(e)}` (the ATT(g,t) influence functions weighted by cohort shares, plus ``did``'s
    estimated-weights term), so :math:`\\widehat{\\mathrm{Cov}}(\\theta(e), \\theta(e')) =
    n^{-2}\\sum_c S^{(e)}_c S^{(e')}_c` (cluster sums :math:`S_c`), the covariance HonestDiD's ``did``
    integration uses (``analytic``). ``bootstrap`` keeps that correlation matrix and rescales it to the
    multiplier-bootstrap standard errors of the result's event-study rows (needs ``bootstrap=True``).
    Both rest on asymptotics in the number of units: with the 2-10 treated LAs of these programmes the
    covariance is probably too small, so the bounds are, if anything, too narrow (not corrected here).

    Parameters
    ----------
    result : CallawaySantAnnaResult
        Fitted with ``base_period="universal"``: every event time is then measured against the reference
        :math:`e=-1` (normalised to 0, as in the TWFE event study). With ``"varying"`` the pre-period
        estimates are period-on-period changes, which HonestDiD's restrictions do not describe: an error.
    min_e, max_e : int
        Event-time window kept (e.g. ``-leads`` and ``lags`` of the TWFE event study; no binning).
    covariance : {"analytic", "bootstrap"}

    Returns
    -------
    EventStudyMoments
        Terms ``event_time[e]`` for the estimated event times in the window (the reference excluded).
    """
    if covariance not in _COVARIANCES:
        raise ValueError(f"covariance must be one of {_COVARIANCES}, got {covariance!r}")
    meta = result.metadata
    if meta.get("base_period") != "universal":
        raise ValueError(
            f"HonestDiD on the Callaway-Sant'Anna event study needs base_period='universal' (every event time "
            f"against e=-1); this result used {meta.get('base_period')!r}: set estimation.callaway_santanna.base_period"
        )
    labels, estimates, cov = result.event_study_vcov(min_e=min_e, max_e=max_e)
    how = "analytic influence-function covariance (n^-2 sum of cluster products)"
    if covariance == "bootstrap":
        if not meta.get("bootstrap"):
            raise ValueError("covariance='bootstrap' needs a result fitted with bootstrap=True")
        es = result.estimates[result.estimates["aggregation"].eq("event_study")].set_index("event_time")
        se_boot = es.loc[labels, "std_error"].to_numpy(float)
        sd = np.sqrt(np.diag(cov))
        cov = cov / np.outer(sd, sd) * np.outer(se_boot, se_boot)
        how = "influence-function correlation rescaled to the multiplier-bootstrap standard errors"
    terms = [f"event_time[{e}]" for e in labels]
    return EventStudyMoments(
        estimator="callaway_santanna",
        coefficients=pd.DataFrame({"term": terms, "estimate": estimates}),
        vcov=pd.DataFrame(cov, index=terms, columns=terms),
        metadata={"ref_period": -1, "covariance": how},
    )


def honest_did_event_study(
    sample: pd.DataFrame, estimator: str, settings: Mapping[str, Any], *, covariance: str = "analytic",
    outcome: str = "value",
):
    """The event study HonestDiD runs on: ``estimator`` fitted on an estimation sample.

    ``settings`` is the config's ``estimation`` block; its ``event_window`` (``leads``, ``lags``) sets the
    event times, binned at the ends for ``event_study_twfe`` and trimmed for ``callaway_santanna``
    (:func:`callaway_santanna_event_study`, which is fitted without the bootstrap unless
    ``covariance="bootstrap"``). Returns an object :func:`honest_did_table` accepts.
    """
    if estimator not in HONEST_DID_ESTIMATORS:
        raise ValueError(f"HonestDiD estimator must be one of {HONEST_DID_ESTIMATORS}, got {estimator!r}")
    if estimator == "event_study_twfe":
        return run_estimator(estimator, sample, dict(settings), outcome=outcome)
    if covariance not in _COVARIANCES:
        raise ValueError(f"covariance must be one of {_COVARIANCES}, got {covariance!r}")
    cs_settings = {**(settings.get("callaway_santanna") or {}), "bootstrap": covariance == "bootstrap"}
    result = run_estimator(estimator, sample, {**settings, "callaway_santanna": cs_settings}, outcome=outcome)
    window = settings["event_window"]
    return callaway_santanna_event_study(result, min_e=-int(window["leads"]), max_e=int(window["lags"]),
                                         covariance=covariance)


def honest_did_table(
    event_result,
    *,
    e: int = 0,
    M: Sequence[float] | None = None,
    Mbar: Sequence[float] | None = None,
    restrictions: Sequence[str] = ("smoothness", "relative_magnitudes"),
    alpha: float = 0.05,
    grid_points: int = 1000,
    seed: int = 0,
    r_compatible: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """HonestDiD bounds of the effect at event time ``e`` of an event-study result.

    Parameters
    ----------
    event_result : an event study with ``coefficients`` and ``vcov`` holding ``event_time[e]`` terms: the
        result of :func:`csceval.did.event_study_twfe` or :func:`honest_did_event_study`.
    e : event time of the target effect (0 = the period the programme starts).
    M, Mbar : grids of the smoothness / relative-magnitude parameter; ``None`` = HonestDiD's defaults
        (``M`` from 0 to the pre-period bound, ``Mbar`` 10 values on [0, 2]).
    restrictions : which of ``"smoothness"``, ``"relative_magnitudes"`` to run.
    alpha, grid_points, seed, r_compatible : as :func:`csceval.did.honest_did` (``r_compatible=False``,
        the default here, uses the exact folded-normal quantile in the FLCI: about 10x faster than
        reproducing R's 10^6 draws, and equal to it up to that simulation error).

    Returns
    -------
    (table, results) : the tidy table (:data:`HONEST_DID_COLUMNS`, one row per grid value; ``note`` says
    when a relative-magnitude interval is cut by the end of the test-inversion grid) and the
    :class:`~csceval.did.honest_did.HonestDiDResult` per restriction (for the figure).
    """
    from csceval.did.honest_did import honest_did

    unknown = sorted(set(restrictions) - set(_RESTRICTIONS))
    if unknown or not restrictions:
        raise ValueError(f"restrictions must be a non-empty subset of {sorted(_RESTRICTIONS)}, got {list(restrictions)}")
    results: dict[str, Any] = {}
    frames = []
    for restriction in restrictions:
        kwargs: dict[str, Any] = {"M": M} if restriction == "smoothness" else {"Mbar": Mbar, "grid_points": grid_points}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = honest_did(event_result, method=restriction, e=e, alpha=alpha, seed=seed, r_compatible=r_compatible,
                             **kwargs)
        open_at = {float(m.group(1)) for w in caught if (m := _OPEN_AT_GRID_END.search(str(w.message)))}
        for w in caught:
            if not _OPEN_AT_GRID_END.search(str(w.message)):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        results[restriction] = res
        post = res.event_times.index(e) if res.event_times is not None and e in res.event_times else None
        estimate = float(res.betahat[post]) if post is not None else np.nan
        param = _RESTRICTIONS[restriction]
        t = res.table
        frames.append(pd.DataFrame({
            "estimator": getattr(event_result, "estimator", ""), "restriction": restriction, "parameter": param,
            "value": t[param].to_numpy(float),
            "ci_lower": t["lb"].to_numpy(float), "ci_upper": t["ub"].to_numpy(float), "method": t["method"].to_numpy(),
            "target_event_time": int(e), "estimate": estimate, "original_ci_lower": res.original[0],
            "original_ci_upper": res.original[1], "breakdown": res.breakdown, "alpha": alpha,
            "note": ["interval reaches an end of the test-inversion grid (+-20 s.e.): the true interval is at least "
                     "this wide" if any(np.isclose(v, o) for o in open_at) else "" for v in t[param].to_numpy(float)],
        }))
    return pd.concat(frames, ignore_index=True)[HONEST_DID_COLUMNS], results


def leave_one_out(
    sample: pd.DataFrame,
    estimators: Sequence[str],
    settings: Mapping[str, Any],
    *,
    unit: str = "la_code",
    cohort: str = "first_treated",
    outcome: str = "value",
) -> pd.DataFrame:
    """Overall estimate of each estimator on the full sample and with each treated LA dropped.

    Returns :data:`LEAVE_ONE_OUT_COLUMNS`; ``dropped_la`` is empty for the full sample.
    """
    treated = sample.loc[sample[cohort].notna(), [unit, cohort]].drop_duplicates(unit).sort_values([cohort, unit])
    if len(treated) < 2:
        raise ValueError(f"leave-one-out needs at least 2 treated units, the sample has {len(treated)}")
    rows = []
    for name in estimators:
        for code, start in [("", pd.NaT), *zip(treated[unit], treated[cohort])]:
            data = sample if code == "" else sample[sample[unit] != code]
            res = run_estimator(name, data, dict(settings), outcome=outcome)
            rows.append({"estimator": name, "dropped_la": code, "dropped_wave_start": start, **_overall(res),
                         "n_treated": res.n_treated, "n_control": res.n_control})
    out = pd.DataFrame(rows, columns=LEAVE_ONE_OUT_COLUMNS)
    out["dropped_wave_start"] = pd.to_datetime(out["dropped_wave_start"])
    return out


def placebo_in_time(
    sample: pd.DataFrame,
    shifts: Sequence[int],
    estimators: Sequence[str],
    settings: Mapping[str, Any],
    *,
    frequency: str = "annual",
    unit: str = "la_code",
    time: str = "period",
    cohort: str = "first_treated",
    outcome: str = "value",
) -> pd.DataFrame:
    """Estimates on pre-programme data with each treated unit's start moved ``k`` periods earlier.

    For a shift ``k`` the sample keeps, for each treated unit, only its periods before its real
    first treated period, and for comparison units the periods before the latest real start
    (nothing after the programme began enters). The fake start is ``k`` periods before the real one.
    A shift that leaves no fake-treated period, or no pre-period before the earliest fake start,
    gives a row with an empty estimate and the reason in ``note``.

    Returns :data:`PLACEBO_IN_TIME_COLUMNS`, one row per estimator x shift.
    """
    from csceval.design.timing import PERIOD_MONTHS

    if frequency not in PERIOD_MONTHS:
        raise ValueError(f"frequency must be one of {sorted(PERIOD_MONTHS)}, got {frequency!r}")
    bad = [k for k in shifts if isinstance(k, bool) or int(k) != k or int(k) < 1]
    if bad or not len(shifts):
        raise ValueError(f"placebo shifts must be positive whole numbers of periods, got {list(shifts)}")
    months = PERIOD_MONTHS[frequency]
    is_treated = sample[cohort].notna()
    if not is_treated.any():
        raise ValueError("placebo in time needs treated units; the sample has none")
    last_start = sample.loc[is_treated, cohort].max()
    pre = sample[(is_treated & (sample[time] < sample[cohort])) | (~is_treated & (sample[time] < last_start))]
    first_period = pre[time].min()
    rows = []
    for name in estimators:
        for k in sorted(int(s) for s in shifts):
            fake = pre[cohort] - pd.DateOffset(months=months * k)
            data = pre.assign(**{cohort: fake})
            row: dict[str, Any] = {"estimator": name, "shift_periods": k, "note": ""}
            if (fake.dropna() <= first_period).any():
                row["note"] = (f"shift of {k} period(s) puts a fake start at or before the first period "
                               f"({pd.Timestamp(first_period).date()}): no pre-period left")
            elif data.loc[data[cohort].notna() & (data[time] >= data[cohort])].empty:
                row["note"] = f"shift of {k} period(s) leaves no fake-treated period"
            else:
                res = run_estimator(name, data, dict(settings), outcome=outcome)
                row.update(_overall(res), n_treated=res.n_treated, n_control=res.n_control)
            rows.append(row)
    return pd.DataFrame(rows, columns=PLACEBO_IN_TIME_COLUMNS)


def report_table(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One report table from per-job tables: ``programme``, ``outcome`` first, dates as ``YYYY-MM-DD`` text."""
    if not tables:
        raise ValueError("no tables to combine")
    table = pd.concat(tables, ignore_index=True)
    missing = [c for c in ("programme", "outcome") if c not in table.columns]
    if missing:
        raise ValueError(f"robustness tables need the columns {missing}")
    first = ["programme", "outcome"]
    table = table[first + [c for c in table.columns if c not in first]]
    for column in table.columns:
        if pd.api.types.is_datetime64_any_dtype(table[column]):
            table[column] = table[column].dt.strftime("%Y-%m-%d")
    return table.reset_index(drop=True)
