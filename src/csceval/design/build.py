"""A programme's design outputs, as the workflow builds them (rules in ``workflow/rules/design.smk``).

The functions here put the pieces of :mod:`csceval.design` together for one programme, using the
``design:`` block of the run configuration:

* :func:`window_panel` -- the panel rows inside the programme's estimation window (whole periods).
* :func:`build_pools` -- the configured comparison pools (``eligible``, ``neighbours``, ``matched``),
  each a :mod:`csceval.design.pools` table; :func:`pools_long` / :func:`read_pools` write and read
  them as one long CSV; :func:`membership_table` is the wide "who is in which pool and why" list.
* :func:`restrict_to_pool` -- a timing table whose comparison LAs are one pool's LAs.
* :func:`balance_report` -- balance of every pool, the "before matching" rows once.
* :func:`pretest_row`, :func:`mde_rows` -- the parallel-trends pre-test and the placebo MDEs of one
  outcome.
* :func:`plan_pools`, :func:`plan_assumptions` -- the pool and assumption sections of the plan.
* :func:`report_columns` -- column names for ``results/report`` tables: counts of LAs, periods and
  draws are named for what they count, so the disclosure guard (which treats ``n_*`` columns as
  counts of children) checks only counts of children.

Pools never include a treated or excluded LA: every pool selects among the timing table's
comparison LAs (:mod:`csceval.design.pools`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from csceval.design.balance import balance_table, parallel_trends_pretest, resolve_pre_periods
from csceval.design.pools import eligible_pool, matched_pool, neighbour_pool, pool_summary
from csceval.design.timing import PERIOD_MONTHS, estimation_sample, first_period_containing
from csceval.reference import local_authorities

__all__ = [
    "POOL_KINDS", "balance_report", "build_pools", "membership_table", "mde_rows", "plan_assumptions", "plan_pools",
    "pools_long", "pretest_row", "read_pools", "report_columns", "restrict_to_pool", "window_panel",
]

#: Pool kinds the config can ask for, in the order they are listed.
POOL_KINDS = ("eligible", "neighbours", "matched")

_DESCRIPTIONS = {
    "eligible": "all LAs never treated by this programme within its window and not excluded (the estimators' comparison group)",
    "neighbours": "DfE statistical neighbours of the treated LAs ({model} model, band {band} or closer{rank})",
    "matched": "nearest-neighbour matching without replacement on pre-period outcome levels{trends}, log child population "
               "and region (k = {k}, caliper {caliper}, candidates: {within})",
}
_USE = {"eligible": "primary (estimators)", "neighbours": "robustness / diagnostics", "matched": "robustness / diagnostics"}


def window_panel(panel: pd.DataFrame, spec: Mapping, frequency: str = "annual") -> pd.DataFrame:
    """Panel rows whose period lies wholly in ``window_start`` .. ``clean_window_end`` of ``spec``."""
    rows = panel.copy()
    rows["la_code"] = rows["la_code"].astype(str)
    rows["period"] = pd.to_datetime(rows["period"])
    end = rows["period"] + pd.DateOffset(months=PERIOD_MONTHS[frequency]) - pd.Timedelta(days=1)
    keep = end <= pd.Timestamp(spec["clean_window_end"])
    if spec.get("window_start"):
        keep &= rows["period"] >= pd.Timestamp(spec["window_start"])
    return rows[keep].reset_index(drop=True)


def _neighbour_description(model: str, cfg: Mapping) -> str:
    band = cfg.get("min_band") or "any"
    rank = f", ranks 1-{cfg['max_rank']}" if cfg.get("max_rank") else ""
    return _DESCRIPTIONS["neighbours"].format(model=model, band=band, rank=rank)


def build_pools(
    panel: pd.DataFrame,
    timing: pd.DataFrame,
    outcomes: Sequence[str],
    design: Mapping,
    neighbours: Mapping[str, pd.DataFrame] | None = None,
    neighbour_model: str | None = None,
) -> dict[str, pd.DataFrame]:
    """The comparison pools of one programme.

    Parameters
    ----------
    panel : tidy panel restricted to the programme's window (:func:`window_panel`).
    timing : treatment timing table.
    outcomes : outcomes whose pre-period levels and trends are matched on.
    design : the config's ``design`` block (``pools``, ``neighbours``, ``matching``).
    neighbours : model -> long neighbour table; every model gives a pool, the one named
        ``neighbour_model`` is the ``"neighbours"`` pool (and the matching candidates when
        ``design.matching.within`` is ``neighbours``); the others are keyed ``"neighbours_<model>"``.
    neighbour_model : model of the ``"neighbours"`` pool (default: the only one).

    Returns
    -------
    dict kind -> pool table, in :data:`POOL_KINDS` order.
    """
    kinds = list(design.get("pools", POOL_KINDS))
    unknown = sorted(set(kinds) - set(POOL_KINDS))
    if unknown:
        raise ValueError(f"design.pools: unknown pool(s) {unknown}; expected some of {list(POOL_KINDS)}")
    pools: dict[str, pd.DataFrame] = {"eligible": eligible_pool(timing)} if "eligible" in kinds else {}
    ncfg = design.get("neighbours") or {}
    if "neighbours" in kinds:
        if not neighbours:
            raise ValueError("the neighbours pool needs a statistical neighbour table (data.statistical_neighbours)")
        models = [str(m) for m in neighbours]
        model = str(neighbour_model) if neighbour_model is not None else models[0]
        if model not in models:
            raise ValueError(f"design.neighbours.model: {model!r} is not one of the neighbour models given {models}")
        for m in [model] + [x for x in models if x != model]:
            table = neighbour_pool(timing, neighbours[m], min_band=ncfg.get("min_band", "Close"), model=m,
                                   max_rank=ncfg.get("max_rank"))
            table["description"] = _neighbour_description(m, ncfg)
            pools["neighbours" if m == model else f"neighbours_{m}"] = table
    if "matched" in kinds:
        mcfg = design.get("matching") or {}
        within = mcfg.get("within", "eligible")
        if within == "neighbours" and "neighbours" not in pools:
            raise ValueError("design.matching.within: 'neighbours' needs the neighbours pool")
        table = matched_pool(
            panel, timing, outcomes, k=int(mcfg.get("k", 2)), caliper=mcfg.get("caliper", 1.0),
            region=mcfg.get("region", "penalised"), region_penalty=float(mcfg.get("region_penalty", 1.0)),
            trends=bool(mcfg.get("trends", True)), candidates=pools["neighbours"] if within == "neighbours" else None,
        )
        table["description"] = _DESCRIPTIONS["matched"].format(
            trends=" and trends" if mcfg.get("trends", True) else "", k=mcfg.get("k", 2),
            caliper="none" if mcfg.get("caliper", 1.0) is None else f"{mcfg.get('caliper', 1.0):g} SD",
            within="the neighbour pool" if within == "neighbours" else "all eligible LAs")
        pools["matched"] = table
    if "eligible" in pools:
        pools["eligible"]["description"] = _DESCRIPTIONS["eligible"]
    return pools


_LONG_FIRST = ["pool_kind", "pool", "la_code", "la_name", "region", "role", "included", "reason"]


def _names() -> tuple[dict, dict]:
    la = local_authorities()
    return dict(zip(la["la_code"], la["la_name"])), dict(zip(la["la_code"], la["region_name"]))


def pools_long(pools: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """All pools in one long table (one row per pool x LA), with LA name and region."""
    names, regions = _names()
    frames = []
    for kind, table in pools.items():
        t = table.copy()
        t.insert(0, "pool_kind", kind)
        t["la_name"] = t["la_code"].map(lambda c: names.get(c, ""))
        t["region"] = t["la_code"].map(lambda c: regions.get(c, ""))
        frames.append(t)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_LONG_FIRST)
    rest = [c for c in out.columns if c not in _LONG_FIRST]
    return out[_LONG_FIRST + rest]


def read_pools(path) -> dict[str, pd.DataFrame]:
    """Read a :func:`pools_long` CSV back into kind -> pool table (types restored)."""
    table = pd.read_csv(path, dtype={"la_code": str, "matched_to": str, "nearest_treated": str}, keep_default_na=False,
                        na_values={"distance": [""], "nearest_distance": [""], "match_number": [""]})
    table["included"] = table["included"].astype(str).str.lower().eq("true")
    for column in ("matched_to", "nearest_treated"):
        if column in table.columns:
            table[column] = table[column].replace("", pd.NA)
    return {kind: rows.drop(columns="pool_kind").reset_index(drop=True)
            for kind, rows in table.groupby("pool_kind", sort=False)}


def membership_table(pools: Mapping[str, pd.DataFrame], timing: pd.DataFrame) -> pd.DataFrame:
    """One row per LA: name, region, role, wave, first treated period, why excluded, and for every pool
    whether the LA is in it (``in_<pool>``) and why (``<pool>_reason``)."""
    names, regions = _names()
    t = timing.copy()
    t["la_code"] = t["la_code"].astype(str)
    out = pd.DataFrame({
        "la_code": t["la_code"], "la_name": t["la_code"].map(lambda c: names.get(c, "")),
        "region": t["la_code"].map(lambda c: regions.get(c, "")), "role": t["role"], "wave": t["wave"].fillna(""),
        "first_treated": pd.to_datetime(t["first_treated"]).dt.strftime("%Y-%m-%d").fillna(""),
        "date_status": t["date_status"].fillna(""),
        "excluded_because": t["reason"].where(t["role"].eq("excluded"), "").fillna(""),
    })
    for kind, table in pools.items():
        p = table.drop_duplicates("la_code").set_index(table["la_code"].drop_duplicates().astype(str))
        out[f"in_{kind}"] = out["la_code"].map(p["included"].astype(bool)).fillna(False).map({True: "yes", False: "no"})
        out[f"{kind}_reason"] = out["la_code"].map(p["reason"]).fillna("not listed in this pool")
    order = {"treated": 0, "comparison": 1, "excluded": 2}
    return out.sort_values(["role", "la_code"], key=lambda s: s.map(order) if s.name == "role" else s, ignore_index=True)


def restrict_to_pool(timing: pd.DataFrame, pool: pd.DataFrame | None) -> pd.DataFrame:
    """Timing table whose comparison LAs are ``pool``'s included LAs; other comparison LAs become
    ``excluded`` with the reason "not in pool <name>"."""
    if pool is None:
        return timing
    keep = set(pool.loc[pool["included"].astype(bool), "la_code"].astype(str))
    name = str(pool["pool"].iloc[0]) if len(pool) else "pool"
    t = timing.copy()
    out = t["role"].eq("comparison") & ~t["la_code"].astype(str).isin(keep)
    t.loc[out, "role"] = "excluded"
    t.loc[out, "reason"] = f"not in pool {name}"
    return t


def balance_report(panel: pd.DataFrame, timing: pd.DataFrame, pools: Mapping[str, pd.DataFrame],
                   outcomes: Sequence[str], trends: bool = True) -> pd.DataFrame:
    """Balance of the treated LAs against every pool (:func:`csceval.design.balance.balance_table`):
    the ``before: eligible pool`` rows once, then each other pool's ``after`` rows; a ``pool`` column."""
    frames, before_done = [], False
    for kind, pool in pools.items():
        table = balance_table(panel, timing, None if kind == "eligible" else pool, outcomes, trends=trends)
        if before_done:
            table = table[~table["sample"].str.startswith("before")]
        before_done = True
        frames.append(table.assign(pool=kind))
    if not frames:
        frames.append(balance_table(panel, timing, None, outcomes, trends=trends).assign(pool="eligible"))
    out = pd.concat(frames, ignore_index=True)
    out.loc[out["sample"].str.startswith("before"), "pool"] = "eligible"
    return out[["pool"] + [c for c in out.columns if c != "pool"]]


def pretest_row(panel: pd.DataFrame, timing: pd.DataFrame, outcome: str, spec: Mapping, estimation: Mapping,
                frequency: str = "annual", n_permutations: int = 0, seed: int | None = 1) -> pd.DataFrame:
    """Parallel-trends pre-test of one outcome on the estimation sample (treated vs eligible LAs),
    with the event window of the estimators (``estimation.event_window``)."""
    sample = estimation_sample(panel, timing, outcome, spec.get("window_start", "1900-01-01"), spec["clean_window_end"], frequency)
    window = estimation.get("event_window") or {}
    leads = window.get("leads")
    n_treated = int(timing["role"].eq("treated").sum())
    if leads is not None and n_treated and leads > n_treated:
        leads = n_treated  # more lead coefficients than treated LAs makes the cluster-robust Wald test singular
    table = parallel_trends_pretest(sample, leads=leads, lags=window.get("lags"), n_permutations=n_permutations, seed=seed)
    table["outcome"] = outcome
    return table


def mde_rows(panel: pd.DataFrame, timing: pd.DataFrame, pools: Mapping[str, pd.DataFrame], outcome: str,
             spec: Mapping, mde_config: Mapping, alpha: float = 0.05, frequency: str = "annual") -> pd.DataFrame:
    """Placebo MDEs of one outcome, one row per pool in ``mde_config["pools"]``
    (:func:`csceval.power.placebo_mde`, static TWFE). A pool too small for the wave structure gives a row
    with an empty MDE and the reason in ``notes``."""
    from csceval.power import placebo_mde

    rows = []
    for kind in mde_config.get("pools", ["eligible", "matched"]):
        pool = pools.get(kind)
        try:
            if pool is None:
                raise ValueError(f"pool {kind!r} was not built (design.pools)")
            res = placebo_mde(panel, timing, outcome, n_sims=int(mde_config.get("n_sims", 200)),
                              seed=mde_config.get("seed", 20250401), alpha=alpha, power=float(mde_config.get("power", 0.8)),
                              frequency=frequency, window_start=spec.get("window_start"), window_end=spec["clean_window_end"],
                              pool=None if kind == "eligible" else pool)
            row = res.as_row()
        except ValueError as err:
            row = dict(outcome=outcome, estimator="twfe", mde=np.nan, alpha=alpha, power=mde_config.get("power", 0.8),
                       n_sims=int(mde_config.get("n_sims", 200)), frequency=frequency, notes=f"not computable: {err}")
        rows.append({"pool": kind, **row})
    return pd.DataFrame(rows)


def plan_pools(pools: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Pool rows of the analysis plan: ``pool, role, n_included, description, included``."""
    summary = pool_summary(list(pools.values()))
    summary["kind"] = list(pools)
    summary["role"] = summary["kind"].map(lambda k: _USE.get(k, "robustness / diagnostics"))
    summary["description"] = [str(p["description"].iloc[0]) if "description" in p.columns and len(p) else ""
                              for p in pools.values()]
    return summary[["pool", "role", "n_included", "description", "included"]]


def plan_assumptions(spec: Mapping, config: Mapping, frequency: str = "annual", periods=None) -> list[str]:
    """Assumptions and dates of the design, each with its status, for the analysis plan."""
    out = []
    for wave in spec.get("waves", []):
        out.append(f"{wave['name']} starts {wave['start']} ({wave['date_status'].upper()}: {wave.get('source', '') or 'no source given'}).")
    out.append(f"Clean comparison window ends {spec['clean_window_end']} (ASSUMED by design: "
               f"{spec.get('clean_window_reason', '') or 'no reason given'}).")
    ant = ((config.get("estimation") or {}).get("callaway_santanna") or {}).get("anticipation", 0)
    out.append(f"Anticipation: {ant} period(s) (ASSUMED): LAs do not change practice before their wave starts.")
    out.append("Parallel trends (ASSUMED, tested in part): without the programme, treated and comparison LAs' outcomes "
               "would have moved in parallel; the pre-test and the pre-trend figures are the evidence.")
    out.append("No spill-over (ASSUMED): comparison LAs are unaffected by the programme; LAs treated by another "
               "programme within the window are excluded from the comparison group.")
    for group in config.get("exclusions", []) or []:
        out.append(f"Excluded LAs {', '.join(group['la_codes'])}: {group['reason']}.")
    if frequency == "annual":
        note = ("Data are annual DfE reporting years (ending 31 March). A wave starting part-way through a year counts "
                "as treated from that whole year, so the first treated year is partly exposed; the placebo MDE uses "
                "the same annual wave structure. Quarterly MDEs need record-level returns (data.frequency quarterly); "
                "published EES files give no quarterly series.")
    else:
        note = (f"Data are {frequency}; waves are placed in the {frequency} period containing their start date and the "
                "placebo MDE uses that wave structure.")
    if periods is not None and len(periods):
        p = pd.DatetimeIndex(sorted(pd.to_datetime(pd.Index(periods).unique())))
        first = first_period_containing(min(pd.Timestamp(w["start"]) for w in spec.get("waves", [])), p)
        post = p[p >= first] if pd.notna(first) else p[:0]
        note += (f" The window holds {len(p)} period(s) with data ({p[0].date()} to {p[-1].date()}), {len(post)} of them "
                 "treated (from the period containing the first wave's start).")
        if len(post) <= 2:
            note += (f" Only {len(post)} post-treatment period(s): effects that take longer to appear cannot be "
                     "detected within the clean window.")
    out.append(note)
    return out


#: Report column names for counts that are not counts of children.
_REPORT_NAMES = {
    "n_comparison": "comparison_las", "n_clusters": "clusters_las", "n_pre_coefficients": "pre_coefficients",
    "n_sims": "placebo_draws", "n_units": "las_in_placebo", "n_drawable": "las_drawable", "n_periods": "placebo_periods",
    "n_included": "las_included", "n_listed": "las_listed",
}


def report_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Rename counts of LAs, periods and draws (``n_*``) to say what they count (``n_treated`` and
    ``n_control`` keep their names: the disclosure rules exempt them)."""
    return table.rename(columns={k: v for k, v in _REPORT_NAMES.items() if k in table.columns})


def pre_periods_of(panel: pd.DataFrame, timing: pd.DataFrame) -> pd.DatetimeIndex:
    """The pre-period the pools and balance use (every period before the earliest first treated)."""
    return resolve_pre_periods(panel, timing)
