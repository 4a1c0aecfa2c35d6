r"""Comparison pools: which LAs each design compares the treated LAs with, and why.

Every pool is a DataFrame a reviewer can open, one row per LA of the timing table (plus any
statistical neighbour that has no data), with at least

``la_code``, ``pool`` (the pool's name), ``role`` (from :func:`csceval.design.treatment_timing`),
``included`` (bool) and ``reason`` (why the LA is in or out, in words).

A treated or excluded LA is **never** included: pools only select among the timing table's
``comparison`` LAs (LAs never treated by this programme and not excluded for another programme or a
configured reason such as City of London and Isles of Scilly).

* :func:`eligible_pool` -- all comparison-role LAs.
* :func:`neighbour_pool` -- the union of the treated LAs' DfE statistical neighbours within a
  closeness band (see :mod:`csceval.design.neighbours`). Extra columns ``neighbour_of`` (each
  treated LA naming it, with rank and band), ``n_treated_neighbours``, ``best_rank``, ``best_band``.
* :func:`matched_pool` -- nearest-neighbour matching without replacement on pre-period features.
  Extra columns ``matched_to``, ``match_number``, ``distance``, ``nearest_treated``,
  ``nearest_distance``.

Matching
--------
Features (:func:`csceval.design.balance.pre_period_features`): each outcome's pre-period level and
linear trend, log child population and the numeric columns of a covariate table (e.g. a
deprivation proxy). Each feature is standardised by its SD over the treated and candidate LAs
(``ddof=1``). The distance between treated LA *i* and candidate *j* is the root mean square
standardised difference, with region handled as an extra term,

.. math::

    d_{ij} = \Big(\frac{\sum_{f=1}^{F} (z_{if} - z_{jf})^2 + \pi^2\,\mathbf{1}\{r_i \ne r_j\}}{F}\Big)^{1/2},

so ``caliper`` is in SD units whatever the number of features, and the region penalty
:math:`\pi` (``region_penalty``) counts like one feature differing by :math:`\pi` SDs.
``region="exact"`` allows only same-region matches; ``"ignore"`` drops the term. Matching is
greedy without replacement, in ``k`` rounds: in each round every treated LA that still needs a match
gets one, pairs taken in increasing distance (ties by treated then candidate ``la_code``), a
candidate used at most once overall; pairs beyond ``caliper`` are never taken. Distances are
rounded to 12 decimal places before sorting and inputs are sorted by ``la_code`` first, so
the result does not depend on row order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from csceval.design.balance import pre_period_features, resolve_pre_periods
from csceval.design.neighbours import band_rank
from csceval.reference import local_authorities

__all__ = ["POOL_COLUMNS", "eligible_pool", "matched_pool", "neighbour_pool", "pool_summary"]

#: Columns every pool has (pools add their own after these).
POOL_COLUMNS = ["la_code", "pool", "role", "included", "reason"]


def _roles(timing: pd.DataFrame) -> pd.DataFrame:
    t = timing.copy()
    t["la_code"] = t["la_code"].astype(str)
    if t["la_code"].duplicated().any():
        raise ValueError(f"timing table lists LA(s) more than once: {sorted(set(t.loc[t['la_code'].duplicated(), 'la_code']))}")
    return t.set_index("la_code", drop=False).sort_index()


def _not_included_reason(row) -> str:
    if row["role"] == "treated":
        wave = f" ({row['wave']})" if isinstance(row.get("wave"), str) and row.get("wave") else ""
        return f"treated by this programme{wave}"
    return f"excluded: {row['reason']}" if row.get("reason") else "excluded"


def eligible_pool(timing: pd.DataFrame) -> pd.DataFrame:
    """All comparison-role LAs of ``timing``: one row per LA, ``pool = "eligible"``."""
    t = _roles(timing)
    rows = []
    for code, row in t.iterrows():
        included = row["role"] == "comparison"
        reason = ("eligible: never treated by this programme within its window and not excluded"
                  if included else _not_included_reason(row))
        rows.append(dict(la_code=code, pool="eligible", role=row["role"], included=included, reason=reason))
    return pd.DataFrame(rows, columns=POOL_COLUMNS)


def neighbour_pool(
    timing: pd.DataFrame,
    neighbours: pd.DataFrame,
    min_band: str | None = "Close",
    model: str | None = None,
    max_rank: int | None = None,
) -> pd.DataFrame:
    """Union of the treated LAs' statistical neighbours within a closeness band.

    Parameters
    ----------
    timing : :func:`csceval.design.treatment_timing` table.
    neighbours : long neighbour table (:func:`csceval.design.neighbours.read_statistical_neighbours`).
    min_band : loosest band kept (``"Close"`` keeps Extremely close, Very close and Close); ``None``
        keeps all bands, including pairs without a band.
    model : neighbour model to use (required when ``neighbours`` holds several).
    max_rank : keep only neighbours ranked 1..``max_rank`` (all by default).

    Returns
    -------
    Pool table (``pool = "neighbours_<model>_<band>"``) with ``neighbour_of``,
    ``n_treated_neighbours``, ``best_rank``, ``best_band``. A neighbour is included when it is a
    comparison-role LA and within the band and rank limits for at least one treated LA; every
    neighbour left out says why (treated by this programme, excluded and why, outside the band, no
    data in the panel). A neighbour that no longer exists (e.g. Cumbria 909 after March 2023) is
    kept as listed, with a note; its successors are not added.
    """
    t = _roles(timing)
    nb = neighbours.copy()
    if "model" in nb.columns:
        models = sorted(nb["model"].astype(str).unique())
        if model is not None:
            nb = nb[nb["model"].astype(str).eq(str(model))]
            if nb.empty:
                raise ValueError(f"no neighbours for model {model!r}; the table has {models}")
        elif len(models) > 1:
            raise ValueError(f"the neighbour table holds several models {models}; pass model=")
        model = model or (models[0] if models else "")
    if "section" in nb.columns:
        nb = nb[nb["section"].fillna("current").eq("current")]
    nb["la_code"] = nb["la_code"].astype(str)
    nb["neighbour_code"] = nb["neighbour_code"].astype(str)
    limit = None if min_band is None else band_rank(min_band)
    treated = sorted(t.index[t["role"].eq("treated")])
    links = nb[nb["la_code"].isin(treated)].sort_values(["la_code", "rank"])
    missing_treated = sorted(set(treated) - set(links["la_code"]))
    la = local_authorities()
    last_year = dict(zip(la["la_code"], la["last_reporting_year"]))

    def within(row) -> bool:
        if max_rank is not None and row["rank"] > max_rank:
            return False
        if limit is None:
            return True
        return pd.notna(row["closeness"]) and band_rank(row["closeness"]) <= limit

    links = links.assign(within=[within(r) for _, r in links.iterrows()])
    band_label = "all" if min_band is None else min_band.lower().replace(" ", "_")
    pool_name = f"neighbours_{model}_{band_label}" if model else f"neighbours_{band_label}"
    codes = sorted(set(t.index) | set(links["neighbour_code"]))
    rows = []
    for code in codes:
        mine = links[links["neighbour_code"].eq(code)]
        role = t.loc[code, "role"] if code in t.index else "not in panel"
        described = "; ".join(
            f"{r.la_code} (rank {r.rank}, {r.closeness if pd.notna(r.closeness) else 'no band'})" for r in mine.itertuples()
        )
        best_rank = int(mine["rank"].min()) if len(mine) else pd.NA
        bands = [b for b in mine["closeness"] if pd.notna(b)]
        best_band = min(bands, key=band_rank) if bands else pd.NA
        in_band = bool(mine["within"].any())
        included = in_band and role == "comparison"
        if mine.empty:
            if role == "comparison":
                reason = "not a statistical neighbour of any treated LA"
            elif role == "treated" and code in missing_treated:
                reason = "treated by this programme; it has no statistical neighbours in the table for this model"
            else:
                reason = _not_included_reason(t.loc[code])
        else:
            which = f"statistical neighbour of {described}"
            if included:
                reason = which
            elif role == "treated":
                reason = f"{which}, but treated by this programme"
            elif role == "excluded":
                reason = f"{which}, but excluded: {t.loc[code, 'reason']}"
            elif role == "not in panel":
                reason = f"{which}, but has no data in the panel"
            else:
                limits = [] if min_band is None else [f"closer than '{min_band}'"]
                if max_rank is not None:
                    limits.append(f"ranked <= {max_rank}")
                reason = f"{which}, but not {' and '.join(limits)}"
            if pd.notna(last_year.get(code, pd.NA)):
                reason += f" (note: this LA was abolished after reporting year {last_year[code]}; its successors are not added)"
        rows.append(dict(la_code=code, pool=pool_name, role=role, included=included, reason=reason,
                         neighbour_of=described, n_treated_neighbours=int(mine["la_code"].nunique()),
                         best_rank=best_rank, best_band=best_band))
    table = pd.DataFrame(rows)
    table["best_rank"] = table["best_rank"].astype("Int64")
    return table


def _greedy_match(dist: np.ndarray, treated: list[str], candidates: list[str], k: int) -> list[tuple[int, int, int]]:
    """(treated index, candidate index, match number) of greedy matching without replacement."""
    used = np.zeros(len(candidates), bool)
    matches: list[tuple[int, int, int]] = []
    rounded = np.round(dist, 12)
    ti, ci = np.nonzero(np.isfinite(rounded))
    order = np.lexsort((ci, ti, rounded[ti, ci]))  # distance, then treated code, then candidate code
    pairs = list(zip(ti[order], ci[order]))
    for number in range(1, k + 1):
        done = np.zeros(len(treated), bool)
        for i, j in pairs:
            if done[i] or used[j]:
                continue
            done[i] = True
            used[j] = True
            matches.append((int(i), int(j), number))
    return matches


def matched_pool(
    panel: pd.DataFrame,
    timing: pd.DataFrame,
    outcomes: Sequence[str],
    covariates: pd.DataFrame | None = None,
    k: int = 1,
    caliper: float | None = None,
    pre_periods: Iterable | None = None,
    *,
    region: str = "penalised",
    region_penalty: float = 1.0,
    trends: bool = True,
    candidates: pd.DataFrame | None = None,
    require_last_period: bool = True,
) -> pd.DataFrame:
    """Nearest-neighbour matched comparison pool (see the module docstring for the distance).

    Parameters
    ----------
    panel : tidy panel.
    timing : treatment timing table.
    outcomes : outcomes whose pre-period level (and trend) are matched on.
    covariates : optional LA covariate table (``la_code`` + numeric columns such as a deprivation
        proxy; an optional ``region`` column overrides the reference region).
    k : matches per treated LA.
    caliper : largest allowed distance (SD units); ``None`` = no caliper.
    pre_periods : pre-period start dates (default: before the earliest first treated period).
    region : ``"penalised"`` (default), ``"exact"`` or ``"ignore"``.
    region_penalty : the penalty :math:`\\pi` of ``"penalised"``.
    trends : match on pre-period trends as well as levels.
    candidates : a pool table whose included LAs are the only candidates (e.g. a neighbour pool);
        default all comparison-role LAs.
    require_last_period : candidates must have a value of every matching outcome in the panel's
        last period (an LA abolished since, e.g. Cumbria 909, cannot serve as a comparison after
        treatment starts).

    Returns
    -------
    Pool table (``pool = "matched"``) with ``matched_to``, ``match_number``, ``distance`` for matched
    LAs, ``nearest_treated``/``nearest_distance`` for every candidate, and for each treated LA a
    reason saying how many of its ``k`` matches were found within the caliper.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    if region not in ("penalised", "exact", "ignore"):
        raise ValueError("region must be 'penalised', 'exact' or 'ignore'")
    t = _roles(timing)
    pre = resolve_pre_periods(panel, timing, pre_periods)
    panel = panel.sort_values(["outcome", "la_code", "period"], kind="stable")
    features = pre_period_features(panel, outcomes, pre, covariates, la_codes=t.index, trends=trends)
    numeric = [c for c in features.columns if c != "region"]
    treated = sorted(t.index[t["role"].eq("treated")])
    comparison = set(t.index[t["role"].eq("comparison")])
    if candidates is not None:
        allowed = set(candidates.loc[candidates["included"].astype(bool), "la_code"].astype(str))
        pool_name = f"matched_within_{candidates['pool'].iloc[0]}" if "pool" in candidates.columns and len(candidates) else "matched"
    else:
        allowed = comparison
        pool_name = "matched"
    cand = sorted(comparison & allowed)
    complete = features[numeric].notna().all(axis=1)
    treated_ok = [c for c in treated if complete.get(c, False)]
    no_recent: set[str] = set()
    if require_last_period:
        rows_ = panel[panel["outcome"].isin(outcomes) & panel["value"].notna()]
        last = rows_[rows_["period"].eq(panel["period"].max())]
        have = last.groupby("la_code")["outcome"].nunique()
        no_recent = {c for c in cand if have.get(c, 0) < len(set(outcomes))}
    cand_ok = [c for c in cand if complete.get(c, False) and c not in no_recent]
    X = features[numeric].to_numpy(float)
    both = features.index.isin(treated_ok + cand_ok)
    sd = np.nanstd(X[both], axis=0, ddof=1) if both.sum() > 1 else np.ones(len(numeric))
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    Z = pd.DataFrame(X / sd, index=features.index, columns=numeric)
    zt, zc = Z.loc[treated_ok].to_numpy(), Z.loc[cand_ok].to_numpy()
    sq = ((zt[:, None, :] - zc[None, :, :]) ** 2).sum(axis=2)
    n_terms = len(numeric)
    rt = features.loc[treated_ok, "region"].to_numpy(str)
    rc = features.loc[cand_ok, "region"].to_numpy(str)
    differ = rt[:, None] != rc[None, :]
    if region == "penalised":
        sq = sq + region_penalty**2 * differ
    dist = np.sqrt(sq / max(n_terms, 1))
    eligible = np.ones_like(dist, bool)
    if region == "exact":
        eligible &= ~differ
    if caliper is not None:
        eligible &= dist <= caliper
    matches = _greedy_match(np.where(eligible, dist, np.inf), treated_ok, cand_ok, k)

    matched = {cand_ok[j]: (treated_ok[i], number, float(dist[i, j])) for i, j, number in matches}
    n_found = pd.Series(0, index=treated)
    for i, _, _ in matches:
        n_found[treated_ok[i]] += 1
    nearest = {}
    for j, code in enumerate(cand_ok):
        col = np.where(np.isfinite(dist[:, j]), np.round(dist[:, j], 12), np.inf)
        if len(col):
            i = int(np.lexsort((np.arange(len(col)), col))[0])
            nearest[code] = (treated_ok[i], float(dist[i, j]))
    rows = []
    for code in t.index:
        row = t.loc[code]
        role = row["role"]
        rec = dict(la_code=code, pool=pool_name, role=role, included=False, reason="", matched_to=pd.NA,
                   match_number=pd.NA, distance=np.nan, nearest_treated=pd.NA, nearest_distance=np.nan)
        if code in nearest:
            rec["nearest_treated"], rec["nearest_distance"] = nearest[code]
        if role == "treated":
            if code not in treated_ok:
                missing = [c for c in numeric if pd.isna(features.loc[code, c])] if code in features.index else numeric
                rec["reason"] = f"treated by this programme; not matched: missing pre-period feature(s) {', '.join(missing)}"
            else:
                rec["reason"] = (f"treated by this programme; {n_found[code]} of {k} match(es) found"
                                 + (f" within caliper {caliper:g}" if caliper is not None else ""))
                found = [c for c, m in matched.items() if m[0] == code]
                if found:
                    rec["reason"] += f": {', '.join(sorted(found, key=lambda c: matched[c][1]))}"
        elif role != "comparison":
            rec["reason"] = _not_included_reason(row)
        elif code not in allowed:
            rec["reason"] = "comparison LA outside the candidate pool"
        elif code in no_recent:
            rec["reason"] = (f"eligible but no value of every matching outcome in the last period "
                             f"({pd.Timestamp(panel['period'].max()).date()}): cannot serve as a comparison after treatment starts")
        elif code not in cand_ok:
            missing = [c for c in numeric if pd.isna(features.loc[code, c])]
            rec["reason"] = f"eligible but not matchable: missing pre-period feature(s) {', '.join(missing)}"
        elif code in matched:
            to, number, d = matched[code]
            rec.update(included=True, matched_to=to, match_number=number, distance=d,
                       reason=f"matched to {to} (match {number} of {k}, distance {d:.3f})")
        else:
            near = f"; nearest treated LA {nearest[code][0]} at distance {nearest[code][1]:.3f}" if code in nearest else ""
            rec["reason"] = f"eligible but not selected{near}"
        rows.append(rec)
    table = pd.DataFrame(rows)
    table["match_number"] = table["match_number"].astype("Int64")
    return table


def pool_summary(pools: Sequence[pd.DataFrame] | dict) -> pd.DataFrame:
    """One row per pool: ``pool, n_included, n_listed, included`` (the codes, comma-separated)."""
    items = pools.values() if isinstance(pools, dict) else pools
    rows = []
    for p in items:
        inc = sorted(p.loc[p["included"].astype(bool), "la_code"].astype(str))
        rows.append(dict(pool=str(p["pool"].iloc[0]) if len(p) else "", n_included=len(inc), n_listed=len(p),
                         included=", ".join(inc)))
    return pd.DataFrame(rows)
