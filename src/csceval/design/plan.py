"""The impact part of an evaluation protocol, written before any impact estimate is looked at.

:func:`analysis_plan_markdown` renders, for one programme, the outcomes and their place in the
outcome chain with the expected direction of change, the return and fields each is measured from,
the design and comparison pool, the estimators, the inference policy and the minimum detectable
effects. The document opens with a statement that it was generated before any impact estimate was
looked at and with a SHA-256 hash of its inputs (canonical JSON), so a reviewer can check that the
plan was not changed after the fact: the same inputs give the same hash and the same text.

The outcome chain is read from the programme's config (see :data:`OUTCOME_CHAIN_KEYS`)::

    programmes:
      ffc:
        outcome_chain:
          cpp_rate_per_10k:
            stage: intermediate          # short_term | intermediate | long_term
            expected_direction: decrease # decrease | increase | no_change | ambiguous
            primary: true                # optional, default false
            rationale: "multi-agency child protection teams ..."
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass

import numpy as np
import pandas as pd

__all__ = ["DIRECTIONS", "ESTIMATOR_DESCRIPTIONS", "OUTCOME_CHAIN_KEYS", "STAGES", "analysis_plan_markdown", "inputs_hash"]

STAGES = {"short_term": "Short-term", "intermediate": "Intermediate", "long_term": "Long-term"}
DIRECTIONS = {"decrease": "decrease", "increase": "increase", "no_change": "no change expected", "ambiguous": "ambiguous (either direction)"}
#: Keys of one ``outcome_chain`` entry: required ``stage``, ``expected_direction``; optional ``primary``, ``rationale``.
OUTCOME_CHAIN_KEYS = ("stage", "expected_direction", "primary", "rationale")

ESTIMATOR_DESCRIPTIONS = {
    "twfe": "static two-way fixed effects DiD (transparent benchmark; biased under staggered, heterogeneous effects)",
    "event_study_twfe": "event-study two-way fixed effects (pre-period coefficients test parallel trends)",
    "callaway_santanna": "Callaway & Sant'Anna (2021) group-time ATTs, not-yet-treated comparison, doubly robust",
    "sun_abraham": "Sun & Abraham (2021) interaction-weighted event study",
    "imputation": "Borusyak, Jaravel & Spiess (2024) imputation estimator",
    "two_stage": "Gardner (2021) two-stage DiD",
    "synthetic_control": "synthetic control (Abadie et al.), placebo-in-space inference",
    "synthetic_did": "synthetic difference-in-differences (Arkhangelsky et al. 2021)",
    "honest_did": "HonestDiD sensitivity of the event-study effects to violations of parallel trends (Rambachan & Roth 2023)",
}


# ---------------------------------------------------------------------------------------- hashing
def _canonical(obj):
    if isinstance(obj, pd.DataFrame):
        return {"columns": [str(c) for c in obj.columns], "rows": [[_canonical(v) for v in row] for row in obj.itertuples(index=False)]}
    if isinstance(obj, pd.Series):
        return _canonical(obj.to_dict())
    if is_dataclass(obj) and not isinstance(obj, type):
        if hasattr(obj, "as_row"):
            return _canonical(obj.as_row())
        return _canonical(asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple, set)) or (isinstance(obj, np.ndarray)):
        items = sorted(obj, key=str) if isinstance(obj, set) else list(obj)
        return [_canonical(v) for v in items]
    if isinstance(obj, (pd.Timestamp,)):
        return obj.isoformat()
    if obj is None or obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return None if math.isnan(x) else float(f"{x:.12g}")
    return str(obj)


def inputs_hash(*inputs) -> str:
    """SHA-256 of the canonical JSON of the inputs (floats to 12 significant digits)."""
    text = json.dumps(_canonical(list(inputs)), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


# -------------------------------------------------------------------------------------- rendering
def _cell(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return ""
    if isinstance(x, (float, np.floating)):
        return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(x).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _meta(outcomes_meta, outcome: str) -> dict:
    spec = (outcomes_meta or {}).get(outcome)
    if spec is None:
        return {}
    if is_dataclass(spec):
        return asdict(spec)
    return dict(spec)


def _mde_rows(mdes) -> pd.DataFrame:
    if mdes is None:
        return pd.DataFrame()
    if isinstance(mdes, pd.DataFrame):
        return mdes
    items = mdes.values() if isinstance(mdes, Mapping) else mdes
    return pd.DataFrame([m.as_row() if hasattr(m, "as_row") else dict(m) for m in items])


def analysis_plan_markdown(
    programme_key: str,
    programme_config: Mapping,
    outcomes_meta: Mapping | None,
    pools_summary: pd.DataFrame | Sequence[Mapping] | None,
    mdes,
    estimators: Sequence[str],
    inference_policy: Mapping | None,
    assumptions: Sequence[str] | None = None,
) -> str:
    """Markdown of the programme's impact analysis plan (see the module docstring).

    Parameters
    ----------
    programme_key : key of the programme in the config (``"ffc"``).
    programme_config : ``config["programmes"][programme_key]`` with ``outcome_chain``.
    outcomes_meta : outcome -> :class:`csceval.panel.OutcomeSpec` (or dict with ``label``,
        ``collection``, ``file_pattern``, ``measure``, ``filters``, ``unit``); default
        :data:`csceval.panel.OUTCOMES`.
    pools_summary : one row per comparison pool: ``pool``, ``n_included``, optional ``role``
        (e.g. "primary", "robustness"), ``description`` and ``included``
        (:func:`csceval.design.pools.pool_summary` gives the first columns).
    mdes : :class:`csceval.power.PlaceboMDE` results, or a table of their rows
        (:func:`csceval.power.mde_table`).
    estimators : estimator names, in the order they are reported (first = headline).
    inference_policy : ``{"method": ..., "reason": ...}`` (the config's ``inference.policy.<programme>``).
    assumptions : optional lines for a final "Assumptions and dates" section (each with its
        confirmed/assumed status; :func:`csceval.design.build.plan_assumptions`). Included in the
        inputs hash when given.

    Returns
    -------
    str (Markdown).
    """
    if outcomes_meta is None:
        from csceval.panel import OUTCOMES

        outcomes_meta = OUTCOMES
    pools = pd.DataFrame(pools_summary) if pools_summary is not None else pd.DataFrame()
    mde = _mde_rows(mdes)
    meta_used = {o: _meta(outcomes_meta, o) for o in programme_config.get("outcomes", [])}
    hashed = [programme_key, programme_config, meta_used, pools, mde, list(estimators), inference_policy]
    if assumptions:
        hashed.append(list(assumptions))
    digest = inputs_hash(*hashed)
    name = programme_config.get("name", programme_key)
    short = programme_config.get("short_name", programme_key)
    out = [
        f"# Impact analysis plan: {name} ({short})",
        "",
        "> **This plan was generated before any impact estimate was looked at.** It fixes the outcomes, their expected "
        "direction, the comparison pool, the estimators, the inference each conclusion rests on and the minimum "
        "detectable effects. Any later change must be recorded as a deviation with its reason.",
        ">",
        f"> Inputs hash (SHA-256 of the programme config, outcome definitions, pools, MDEs, estimators and inference "
        f"policy): `{digest}`",
        "",
        "## 1. Treatment and timing",
        "",
    ]
    wave_rows = [(w.get("name", ""), w.get("start", ""), w.get("date_status", ""), ", ".join(map(str, w.get("la_codes", []))),
                  w.get("source", "")) for w in programme_config.get("waves", [])]
    out += [_table(["Wave", "Start", "Date", "LAs (DfE codes)", "Source"], wave_rows), ""]
    out += [f"Estimation window: {programme_config.get('window_start', 'start of the data')} to "
            f"{programme_config.get('clean_window_end', 'end of the data')}. "
            f"{programme_config.get('clean_window_reason', '')}".strip(), ""]

    out += ["## 2. Outcomes and the outcome chain", ""]
    chain = programme_config.get("outcome_chain", {}) or {}
    outcomes = list(programme_config.get("outcomes", []))
    for extra in chain:
        if extra not in outcomes:
            outcomes.append(extra)
    rows, missing = [], []
    order = {k: i for i, k in enumerate(STAGES)}
    for outcome in sorted(outcomes, key=lambda o: (order.get((chain.get(o) or {}).get("stage"), 99), outcomes.index(o))):
        entry = chain.get(outcome) or {}
        if not entry:
            missing.append(outcome)
        m = meta_used.get(outcome) or _meta(outcomes_meta, outcome)
        filters = "; ".join(f"{k} = {v}" for k, v in (m.get("filters") or {}).items())
        fields = f"`{m.get('measure', '')}` in `{m.get('file_pattern', '')}`" + (f" ({filters})" if filters else "") if m else ""
        rows.append((
            STAGES.get(entry.get("stage"), "not specified"),
            f"{m.get('label', outcome)} (`{outcome}`)",
            m.get("collection", ""),
            fields,
            DIRECTIONS.get(entry.get("expected_direction"), "not specified"),
            "yes" if entry.get("primary") else "",
            entry.get("rationale", ""),
        ))
    out += [_table(["Stage", "Outcome", "Return", "Measured from", "Expected direction", "Primary", "Rationale"], rows), ""]
    out += ["Tests are two-sided; the expected direction guides interpretation and is not used to halve p-values. "
            "Rates are recomputed from LA counts and the ONS 0-17 mid-year estimate (DfE convention).", ""]
    if missing:
        out += [f"**Not yet specified in the config (`outcome_chain`):** {', '.join(missing)}.", ""]

    out += ["## 3. Design and comparison pools", "",
            "Staggered-adoption difference-in-differences on the LA x year panel. Comparison LAs are never treated by "
            "this programme within the window; LAs of other programmes treated within the window and the configured "
            "exclusions are never comparison LAs.", ""]
    if len(pools):
        cols = [c for c in ("pool", "role", "n_included", "description", "included") if c in pools.columns]
        labels = {"pool": "Pool", "role": "Use", "n_included": "LAs", "description": "Definition", "included": "LA codes"}
        out += [_table([labels[c] for c in cols], pools[cols].itertuples(index=False)), ""]
    else:
        out += ["No comparison pool supplied.", ""]

    out += ["## 4. Estimators", ""]
    for i, e in enumerate(estimators):
        tag = " **(headline)**" if i == 0 else ""
        out.append(f"- `{e}`{tag}: {ESTIMATOR_DESCRIPTIONS.get(e, 'see csceval.did')}")
    out += [""]

    out += ["## 5. Inference policy", ""]
    if inference_policy:
        out += [f"Conclusions rest on **{inference_policy.get('method', 'not specified')}** inference: "
                f"{inference_policy.get('reason', '')}", ""]
    else:
        out += ["Not specified.", ""]

    out += ["## 6. Minimum detectable effects", ""]
    if len(mde):
        cols = [c for c in ("outcome", "estimator", "pool", "mde", "mde_mc_se", "mde_relative", "baseline_mean",
                            "rejection_rate", "wave_sizes", "placebo_window", "n_sims") if c in mde.columns]
        labels = {"outcome": "Outcome", "estimator": "Estimator", "pool": "Pool", "mde": "MDE", "mde_mc_se": "MC s.e.",
                  "mde_relative": "MDE / baseline", "baseline_mean": "Treated baseline", "rejection_rate": "False-positive rate (own test)",
                  "wave_sizes": "Waves", "placebo_window": "Placebo periods", "n_sims": "Draws"}
        body = mde[cols].copy()
        if "mde_relative" in body:
            body["mde_relative"] = body["mde_relative"].map(lambda v: f"{100 * v:.1f}%" if pd.notna(v) else "")
        out += [_table([labels[c] for c in cols], body.itertuples(index=False)), ""]
        alpha = mde["alpha"].iloc[0] if "alpha" in mde.columns else 0.05
        power = mde["power"].iloc[0] if "power" in mde.columns else 0.8
        out += [f"MDE = (z(1 - {alpha:g}/2) + z({power:g})) x SD of placebo estimates: the programme's wave structure "
                "is re-assigned at random to comparison LAs in the pre-period (csceval.power.placebo_mde). The "
                "false-positive rate is how often the estimator's own cluster-robust test rejects in those placebo "
                f"draws at {alpha:g}; a rate above {alpha:g} is why the conclusions rest on the inference policy above.", ""]
    else:
        out += ["Not computed.", ""]
    if assumptions:
        out += ["## 7. Assumptions and dates", ""]
        out += [f"- {line}" for line in assumptions]
        out += [""]
    return "\n".join(out)
