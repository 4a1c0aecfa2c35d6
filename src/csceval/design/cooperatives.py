r"""Cooperative units (Regional Care Cooperatives) and their donor groupings.

An RCC is a group of LAs that plan and commission placements together, so its outcomes are
measured on the group: :func:`aggregate_units` turns the LA panel into a panel of cooperative units,
and :func:`donor_groupings` forms comparable groups of non-member LAs to compare them with.

Aggregation rule
----------------
For each unit, outcome and period, numerators and denominators of the member LAs are **summed**
and the rate recomputed, ``value = numerator / denominator * scale`` (``scale`` = 10,000 for the
panel's rates per 10,000 children). Summing counts rather than averaging rates weights each LA by
its child population, so the unit's rate is the rate of the combined area and totals are
preserved (the unit's numerator is exactly the members' total).

A unit cell is **missing** (value, numerator and denominator NaN) when any member cell is:

* ``status = "c"`` -- a member's count is suppressed in that period. Publishing the sum would let
  a reader recover the suppressed count by differencing with the other members' published counts,
  and a sum without the member would be a different area, so the cell is missing and carries "c";
* another member symbol with no value (e.g. ``"x"``, not available) -- that symbol is carried;
* a member has no row in that period (e.g. an LA that did not exist yet) -- status ``"x"``.

A cell where every member has a value keeps status ``"u"`` (low reliability) if any member's
value is flagged ``"u"``, else ``""``.

Donor groupings
---------------
A cooperative of *m* member LAs is compared with **donor units**: groups of non-member LAs of the
same kind. The default (``method="region_blocks"``) cuts each ONS region's eligible LAs into groups
of exactly *m* LAs -- a seeded random partition within the region, so each donor, like an RCC, is a
set of LAs from one region of the cooperative's size. LAs left over when a region's eligible LAs do
not divide by *m* are listed with ``included = False`` and the reason. ``method="region"`` makes one
donor per ONS region from all its eligible LAs (fewer, larger and unequal donors). Geographic
contiguity is not enforced: the package holds no LA adjacency data (a donor from one region is the
nearest practical analogue). Eligible LAs exclude: the cooperative's members; every LA of any
programme in the config (any wave, any date: their placement outcomes are affected or about to be);
the config's exclusions (City of London, Isles of Scilly); abolished LAs; and, by default
(``exclude_own_region=True``), the other LAs of the cooperative's own region(s), which share
provider markets with the cooperative and could be affected by it (spillovers). The partition is a
deterministic function of ``seed`` and the sorted eligible LA codes: each region is shuffled by a
generator seeded with ``(seed, crc32(region name))``, so one region's grouping does not depend on
another's.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from csceval.panel import PANEL_COLUMNS, PER_10K
from csceval.reference import local_authorities

__all__ = ["DONOR_COLUMNS", "aggregate_units", "donor_groupings", "donor_members"]

DONOR_COLUMNS = ["unit_code", "la_code", "ons_region", "included", "reason"]

_REGION_ABBREV = {
    "East Midlands": "EM", "East of England": "EE", "London": "LON", "North East": "NE", "North West": "NW",
    "South East": "SE", "South West": "SW", "West Midlands": "WM", "Yorkshire and The Humber": "YH", "Unknown": "UNK",
}


def aggregate_units(
    panel: pd.DataFrame,
    members: Mapping[str, Sequence[str]],
    *,
    scale: float | Mapping[str, float] = PER_10K,
    keep_other_las: bool = True,
) -> pd.DataFrame:
    """Panel with each group of member LAs replaced by one cooperative unit.

    Parameters
    ----------
    panel : tidy panel (:data:`csceval.panel.PANEL_COLUMNS`).
    members : unit code -> member LA codes (e.g. ``{"RCC_GM": ["350", ..., "359"]}``).
    scale : multiplier of numerator / denominator (10,000 for rates per 10,000), or one per outcome.
    keep_other_las : keep the rows of LAs that are in no unit (default), or return only the units.

    Returns
    -------
    DataFrame with the panel columns; unit rows have ``la_code`` = the unit code. See the module
    docstring for the aggregation and missing-cell rules.

    Raises
    ------
    ValueError
        If an LA is a member of two units, a unit code is also an LA code of the panel, a unit has
        no members, or a member LA has no rows in the panel.
    """
    data = panel.copy()
    data["la_code"] = data["la_code"].astype(str)
    owner: dict[str, str] = {}
    for unit, codes in members.items():
        codes = [str(c) for c in codes]
        if not codes:
            raise ValueError(f"unit {unit!r} has no member LAs")
        for code in codes:
            if code in owner:
                raise ValueError(f"LA {code} is a member of both {owner[code]!r} and {unit!r}")
            owner[code] = str(unit)
    present = set(data["la_code"])
    clash = sorted(set(map(str, members)) & (present - set(owner)))
    if clash:
        raise ValueError(f"unit code(s) {clash} are also LA codes of the panel; choose other names")
    absent = sorted(set(owner) - present)
    if absent:
        raise ValueError(f"member LA(s) {absent} have no rows in the panel")
    size = {u: len(set(map(str, c))) for u, c in members.items()}

    rows = data[data["la_code"].isin(owner)].copy()
    rows["unit"] = rows["la_code"].map(owner)
    status = rows["status"].fillna("").astype(str)
    missing = rows["numerator"].isna() | rows["denominator"].isna() | rows["value"].isna()
    rows["_c"] = missing & status.eq("c")
    rows["_other"] = np.where(missing & status.ne("c"), status.where(status.ne(""), "x"), "")
    rows["_missing"] = missing
    rows["_u"] = ~missing & status.eq("u")
    grouped = rows.groupby(["unit", "outcome", "period"], sort=True)
    agg = grouped.agg(
        n=("la_code", "nunique"), numerator=("numerator", "sum"), denominator=("denominator", "sum"),
        any_c=("_c", "any"), any_missing=("_missing", "any"), any_u=("_u", "any"),
        other=("_other", lambda s: next((v for v in sorted(s) if v), "")),
    ).reset_index()
    complete = agg["n"].eq(agg["unit"].map(size))
    status_out = np.select(
        [agg["any_c"], agg["any_missing"], ~complete, agg["any_u"]],
        ["c", agg["other"].where(agg["other"].ne(""), "x"), "x", "u"],
        default="",
    )
    ok = ~agg["any_missing"] & complete
    scales = agg["outcome"].map(scale) if isinstance(scale, Mapping) else pd.Series(float(scale), index=agg.index)
    if scales.isna().any():
        raise ValueError(f"no scale for outcome(s) {sorted(agg.loc[scales.isna(), 'outcome'].unique())}")
    num = agg["numerator"].where(ok)
    den = agg["denominator"].where(ok & (agg["denominator"] > 0))
    units = pd.DataFrame({
        "la_code": agg["unit"].astype(str),
        "period": agg["period"],
        "outcome": agg["outcome"],
        "value": num / den * scales,
        "numerator": num,
        "denominator": agg["denominator"].where(ok),
        "status": pd.Series(status_out, index=agg.index).astype(str),
    })
    pieces = [units]
    if keep_other_las:
        pieces.insert(0, data.loc[~data["la_code"].isin(owner), PANEL_COLUMNS])
    out = pd.concat(pieces, ignore_index=True)
    return out.sort_values(["outcome", "la_code", "period"], ignore_index=True)[PANEL_COLUMNS]


def _programme_las(config: Mapping | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if not config:
        return out
    for key, spec in config.get("programmes", {}).items():
        for wave in spec.get("waves", []):
            for code in wave.get("la_codes", []):
                out.setdefault(str(code), f"in programme {key} ({spec.get('name', key)}, {wave.get('name', '')})")
    for group in config.get("exclusions", []):
        for code in group.get("la_codes", []):
            out.setdefault(str(code), f"excluded: {group.get('reason', '')}")
    return out


def donor_groupings(
    la_codes: Iterable[str],
    members: Sequence[str],
    *,
    config: Mapping | None = None,
    exclude: Mapping[str, str] | None = None,
    group_size: int | None = None,
    method: str = "region_blocks",
    seed: int = 20250501,
    exclude_own_region: bool = True,
    prefix: str = "DONOR",
    leftover: str = "drop",
) -> pd.DataFrame:
    """Donor units for a cooperative of ``len(members)`` LAs (see the module docstring).

    Parameters
    ----------
    la_codes : LAs available (e.g. the panel's LAs).
    members : the cooperative's member LA codes.
    config : run configuration; every LA of any programme and every configured exclusion is left out.
    exclude : further LAs to leave out, code -> reason.
    group_size : LAs per donor (default ``len(members)``); ``method="region_blocks"`` only.
    method : ``"region_blocks"`` (default) or ``"region"``.
    seed : seed of the within-region partition.
    exclude_own_region : leave out the other LAs of the members' ONS region(s).
    prefix : donor unit codes are ``<prefix>_<region abbreviation>_<n>``.
    leftover : ``"drop"`` (default: LAs left over after cutting a region into groups of ``m`` are
        not used, so every donor has exactly ``m`` LAs) or ``"spread"`` (they are dealt in turn to
        the region's groups, which then have ``m`` to ``2m - 1`` LAs; a region with fewer than
        ``m`` eligible LAs still gives no donor).

    Returns
    -------
    DataFrame with :data:`DONOR_COLUMNS` (``unit_code`` empty for LAs not used), one row per LA of
    ``la_codes``, sorted by unit then LA; :func:`donor_members` turns it into the ``members``
    argument of :func:`aggregate_units`.
    """
    if leftover not in ("drop", "spread"):
        raise ValueError("leftover must be 'drop' or 'spread'")
    if method not in ("region_blocks", "region"):
        raise ValueError("method must be 'region_blocks' or 'region'")
    members = sorted({str(c) for c in members})
    if not members:
        raise ValueError("the cooperative has no member LAs")
    m = int(group_size or len(members))
    if m < 1:
        raise ValueError("group_size must be at least 1")
    la = local_authorities()
    region_of = dict(zip(la["la_code"], la["ons_region_name"]))
    abolished = {c: int(y) for c, y in zip(la["la_code"], la["last_reporting_year"]) if pd.notna(y)}
    left_out = _programme_las(config)
    left_out.update({str(k): v for k, v in (exclude or {}).items()})
    own_regions = {region_of.get(c, "Unknown") for c in members}
    codes = sorted({str(c) for c in la_codes})
    rows: dict[str, dict] = {}
    eligible: dict[str, list[str]] = {}
    for code in codes:
        region = region_of.get(code, "Unknown")
        rec = dict(unit_code="", la_code=code, ons_region=region, included=False, reason="")
        if code in members:
            rec["reason"] = "member of the cooperative"
        elif code in abolished:
            rec["reason"] = f"abolished after reporting year {abolished[code]}"
        elif code in left_out:
            rec["reason"] = left_out[code]
        elif exclude_own_region and region in own_regions:
            rec["reason"] = f"in the cooperative's own region ({region}): shares its placement market (spillover risk)"
        else:
            eligible.setdefault(region, []).append(code)
        rows[code] = rec
    for region in sorted(eligible):
        pool = sorted(eligible[region])
        abbrev = _REGION_ABBREV.get(region, region[:3].upper())
        if method == "region":
            for code in pool:
                rows[code].update(unit_code=f"{prefix}_{abbrev}", included=True,
                                  reason=f"donor made of all {len(pool)} eligible LAs of {region}")
            continue
        rng = np.random.default_rng([int(seed), zlib.crc32(region.encode())])
        shuffled = [pool[i] for i in rng.permutation(len(pool))]
        n_groups = len(pool) // m
        groups = [shuffled[g * m:(g + 1) * m] for g in range(n_groups)]
        rest = shuffled[n_groups * m:]
        if leftover == "spread" and n_groups:
            for i, code in enumerate(rest):
                groups[i % n_groups].append(code)
            rest = []
        for g, group in enumerate(groups):
            for code in group:
                rows[code].update(unit_code=f"{prefix}_{abbrev}_{g + 1}", included=True,
                                  reason=f"donor group {g + 1} of {n_groups} in {region} ({len(group)} LAs, seeded partition)")
        for code in rest:
            rows[code]["reason"] = (f"left over: {region}'s {len(pool)} eligible LAs do not divide into groups of {m}"
                                    if n_groups else f"{region} has only {len(pool)} eligible LA(s), fewer than {m}")
    table = pd.DataFrame(list(rows.values()), columns=DONOR_COLUMNS)
    return table.sort_values(["unit_code", "la_code"], ignore_index=True)


def donor_members(groupings: pd.DataFrame) -> dict[str, list[str]]:
    """``{unit_code: [la_code, ...]}`` of the included rows of :func:`donor_groupings`."""
    inc = groupings[groupings["included"].astype(bool)]
    return {u: sorted(g["la_code"].astype(str)) for u, g in inc.groupby("unit_code", sort=True)}
