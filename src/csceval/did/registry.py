"""Which estimators the pipeline can run, and how the run's settings map onto each one's arguments.

The Snakemake rule ``estimate`` calls :func:`run_estimator` with the estimator's name from the config and
the estimation sample; this module is the one place that knows each estimator's keyword arguments.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import pandas as pd

#: estimator name -> (module, function, settings -> keyword arguments)
_ESTIMATORS: dict[str, tuple[str, str, Callable[[dict], dict]]] = {
    "twfe": ("csceval.did.twfe", "twfe", lambda s: {}),
    "event_study_twfe": (
        "csceval.did.twfe", "event_study_twfe",
        lambda s: {"leads": s["event_window"]["leads"], "lags": s["event_window"]["lags"]},
    ),
    "callaway_santanna": (
        "csceval.did.callaway_santanna", "callaway_santanna",
        lambda s: {
            "control_group": "not_yet_treated", "method": "dr", "base_period": "universal", "anticipation": 0,
            "n_boot": 999, "seed": 1, **s.get("callaway_santanna", {}),
        },
    ),
    "sun_abraham": (
        "csceval.did.sun_abraham", "sun_abraham",
        lambda s: {"leads": s["event_window"]["leads"], "lags": s["event_window"]["lags"]},
    ),
    "imputation": ("csceval.did.imputation", "imputation", lambda s: {}),
    "two_stage": (
        "csceval.did.two_stage", "two_stage",
        lambda s: {"leads": s["event_window"]["leads"], "lags": s["event_window"]["lags"]},
    ),
}


def available_estimators() -> list[str]:
    """Names of the estimators this installation provides."""
    names = []
    for name, (module, function, _) in _ESTIMATORS.items():
        try:
            if hasattr(importlib.import_module(module), function):
                names.append(name)
        except ImportError:
            continue
    return names


def run_estimator(name: str, sample: pd.DataFrame, settings: dict[str, Any], *, outcome: str = "value"):
    """Fit estimator ``name`` on an estimation sample (columns la_code, period, first_treated, ``outcome``).

    ``settings`` is the ``estimation`` block of the config (alpha, event_window, and estimator options).
    """
    if name not in _ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; known: {sorted(_ESTIMATORS)}")
    module, function, kwargs = _ESTIMATORS[name]
    estimator = getattr(importlib.import_module(module), function)
    return estimator(
        sample, outcome=outcome, unit="la_code", time="period", cohort="first_treated",
        alpha=settings.get("alpha", 0.05), **kwargs(settings),
    )


#: few-treated-robust inference methods the pipeline runs on each programme x outcome
INFERENCE_METHODS = ("randomization", "wild_bootstrap")
#: estimators whose overall effect each method can test (the first is the default)
INFERENCE_ESTIMATORS = {"randomization": ("callaway_santanna", "twfe"), "wild_bootstrap": ("imputation", "twfe")}


def headline_estimator(settings: dict[str, Any], method: str | None) -> str | None:
    """The estimator whose effect the inference ``method`` tests (``settings`` = the config's ``inference``
    block); ``None`` for a method without one (e.g. cluster-robust, which each estimator reports itself)."""
    if method not in INFERENCE_ESTIMATORS:
        return None
    return (settings.get("estimator") or {}).get(method, INFERENCE_ESTIMATORS[method][0])


def headline_first(estimators, settings: dict[str, Any], method: str | None) -> list[str]:
    """``estimators`` with the one the headline inference tests moved to the front (plans list it first)."""
    estimators = list(estimators)
    chosen = headline_estimator(settings, method)
    return ([chosen] + [e for e in estimators if e != chosen]) if chosen in estimators else estimators


def run_inference(method: str, sample: pd.DataFrame, settings: dict[str, Any], *, outcome: str = "value",
                  estimation: dict[str, Any] | None = None):
    """Few-treated-robust inference on the overall effect of an estimation sample.

    ``settings`` is the ``inference`` block of the config (n_permutations, n_boot, bootstrap_weights, seed,
    and ``estimator``: which estimator each method tests, see :data:`INFERENCE_ESTIMATORS`);
    ``estimation`` the ``estimation`` block (Callaway-Sant'Anna settings). Randomization inference of
    Callaway-Sant'Anna runs on the LAs observed in every period (the estimator drops the others anyway), so
    the exact linear shortcut and its confidence set apply. Returns a result with ``tidy()``, ``summary()``
    and ``plot()``.
    """
    from csceval import inference
    from csceval.did.bacon import complete_units
    from csceval.did.callaway_santanna import callaway_santanna
    from csceval.did.twfe import twfe

    if method not in INFERENCE_METHODS:
        raise ValueError(f"unknown inference method {method!r}; known: {INFERENCE_METHODS}")
    chosen = headline_estimator(settings, method)
    if chosen not in INFERENCE_ESTIMATORS[method]:
        raise ValueError(f"{method} inference is not available for {chosen!r}; choose from {INFERENCE_ESTIMATORS[method]}")
    common = dict(unit="la_code", time="period", cohort="first_treated", seed=settings.get("seed", 1))
    if method == "randomization":
        n = settings.get("n_permutations", 999)
        if chosen == "twfe":
            return inference.randomization_inference(sample, twfe, outcome=outcome, n_permutations=n, **common)
        cs = {k: v for k, v in ((estimation or {}).get("callaway_santanna") or {}).items() if k not in ("n_boot", "seed")}
        balanced, _ = complete_units(sample, outcome)
        return inference.randomization_inference(
            balanced, callaway_santanna, outcome=outcome, n_permutations=n, bootstrap=False, estimator_options=cs, **common,
        )
    return inference.wild_cluster_bootstrap(
        sample, outcome, model=chosen, restricted=True, weights=settings.get("bootstrap_weights", "webb"),
        n_boot=settings.get("n_boot", 9999), alpha=settings.get("alpha", 0.05), **common,
    )
