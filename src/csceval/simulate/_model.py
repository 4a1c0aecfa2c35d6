"""The LA-level synthetic model shared by the open-data and the record-level writers.

:func:`la_level_model` draws the latent panel, the true effects and the LA x year counts once; the EES
writer (:func:`csceval.simulate.simulate_la_returns`) and the record-level writer
(:func:`csceval.simulate.records.simulate_record_returns`) both start from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._calibration import OUTCOMES
from ._dgp import (
    _concat,
    counterfactual_rates,
    derived_columns,
    effect_paths,
    extra_units,
    latent_levels,
    latent_residuals,
    parse_assignments,
    real_units,
    rng,
    round_half_up,
    simulate_population,
    to_count,
)
from ._ees import Panel

__all__ = ["LAModel", "boundary_families", "check_int", "la_level_model", "sample_units"]


def check_int(value, name: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def boundary_families(codes) -> list[frozenset]:
    """LAs linked by a boundary change that breaks a series (predecessors and successors together),
    restricted to ``codes``; a subsample keeps each family whole so its series can be harmonised."""
    from csceval.reference import boundary_changes

    codes = set(codes)
    changes = boundary_changes()
    families = []
    for row in changes[changes["kind"].ne("code_change")].itertuples():
        family = frozenset((set(row.predecessors) | set(row.successors)) & codes)
        if family:
            families.append(family)
    return families


def sample_units(span_codes, programme_codes, n_las: int, seed: int) -> set[str]:
    """The programmes' LAs plus a seeded sample of the others, ``n_las`` in all.

    Boundary-change families (e.g. Northamptonshire 928 with its successors 940 and 941) are drawn as
    one block, so a subsample never holds a successor without its sibling; a family containing a
    programme LA is always included whole.
    """
    span_codes = set(span_codes)
    families = boundary_families(span_codes)
    family_of = {code: fam for fam in families for code in fam}
    chosen = set(programme_codes)
    for code in programme_codes:
        chosen |= family_of.get(code, frozenset())
    if len(chosen) > n_las:
        raise ValueError(
            f"n_las={n_las} is smaller than the {len(chosen)} LAs that must be kept (the programmes' LAs and the "
            "boundary-change families they belong to)"
        )
    blocks = sorted({family_of.get(c, frozenset([c])) for c in span_codes - chosen}, key=lambda b: sorted(b))
    for j in rng(seed, "sample_las").permutation(len(blocks)):
        if len(chosen) + len(blocks[j]) <= n_las:
            chosen |= blocks[j]
        if len(chosen) == n_las:
            break
    return chosen



@dataclass
class LAModel:
    """LA-level model counts (``[unit, year]`` int arrays) over the model's reporting years."""

    panel: Panel
    years: np.ndarray
    counts: dict[str, np.ndarray]
    columns: dict[str, np.ndarray]
    truth_records: list
    reports: np.ndarray
    r0: np.ndarray
    n_extra: int


def la_level_model(*, seed: int, first_year: int, last_year: int, programmes: dict, effects: dict,
                   national_rollout: dict | None = None, n_las: int | None = None) -> LAModel:
    """The LA-level synthetic series, in memory: what :func:`csceval.simulate.simulate_la_returns` writes as
    EES files (after publication rounding and suppression) and :mod:`csceval.simulate.records` as
    record-level returns, so both carry the same counts and true effects.
    """
    years = np.arange(first_year, last_year + 1)
    mid_years = years - 1
    real_all = real_units()
    n_real_all = len(real_all)
    in_span = real_all.reports(years).any(axis=1)
    span_codes = set(real_all.code[in_span])
    assignments = parse_assignments(programmes, effects, national_rollout, span_codes)
    programme_codes = sorted({c for a in assignments for c in a.start if c != "*"})
    n_univ = int(in_span.sum())
    keep = in_span.copy()
    n_extra = 0
    if n_las is not None:
        n_las = check_int(n_las, "n_las", 1)
        if n_las < n_univ:
            if n_las < len(programme_codes):
                raise ValueError(f"n_las={n_las} is smaller than the {len(programme_codes)} LAs named in programmes")
            chosen = sample_units(span_codes, programme_codes, n_las, seed)
            keep = np.isin(real_all.code, sorted(chosen))
        else:
            n_extra = n_las - n_univ
    extra = extra_units(real_all, n_extra, seed) if n_extra else real_all.subset(np.array([], dtype=int))
    pop_mid, _ = simulate_population(seed, real_all, extra, mid_years)
    pop_mid = np.maximum(round_half_up(pop_mid), 1)
    levels, Z = latent_levels(seed, real_all, extra, pop_mid, mid_years)
    w = latent_residuals(seed, n_real_all, n_extra, len(years))
    r0_all = counterfactual_rates(levels, w, years)
    sel = np.concatenate([np.flatnonzero(keep), n_real_all + np.arange(n_extra)])
    units = _concat(real_all, extra).subset(sel)
    real_pos = np.where(sel < n_real_all, sel, -1)
    r0 = r0_all[:, sel]
    pop = pop_mid[sel]
    total, records = effect_paths(assignments, units, years, r0, seed, n_real_all, real_pos)
    r1 = np.maximum(r0 + total, 0.0)
    counts = {o: to_count(r1[k], pop) for k, o in enumerate(OUTCOMES)}
    rates = {o: r1[k] for k, o in enumerate(OUTCOMES)}
    z_ref = Z[sel, OUTCOMES.index("referral_rate_per_10k")]
    columns = derived_columns(seed, counts, rates, z_ref, pop, years, real_pos, units.is_real, n_real_all)
    region_names = dict(zip(real_all.ons_region_code, real_all.ons_region_name)) | \
        dict(zip(real_all.region_code, real_all.region_name))
    panel = Panel(units=units, years=years, mid_years=mid_years, pop_mid=pop, columns=columns, region_names=region_names)
    return LAModel(panel=panel, years=years, counts=counts, columns=columns, truth_records=records,
                   reports=units.reports(years), r0=r0, n_extra=n_extra)
