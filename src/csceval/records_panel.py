r"""Record-level returns (SSDA903 episodes, CIN census events) to the tidy LA x period panel.

Input: the frames the validated readers return -- ``read_ssda903(...).episodes`` and
``read_cin_census(...).events`` -- for one or more LAs and collection years (concatenated), and the ONS
0-17 mid-year population (:func:`read_population`).  Output: the tidy panel contract of
:mod:`csceval.panel` (``la_code, period, outcome, value, numerator, denominator, status``) at
``frequency`` ``annual`` (DfE reporting years, starting 1 April), ``quarterly`` (calendar quarters,
starting 1 January, April, July, October: four per reporting year) or ``monthly``.

**Which file counts what.**  A collection year's return holds every episode open at some point in the
year, so the same event can appear in two years' files.  Each measure of a period is taken from the
file of the collection year (1 April - 31 March) that contains the period: flows count events dated
in the period, stocks are counted on the period's last day.  Nothing is counted twice.

**Rates** (``*_rate_per_10k``): numerator per 10,000 children aged 0-17, the denominator the ONS
mid-year estimate of the calendar year before the reporting year (DfE convention), the same for every
month or quarter of a reporting year; flows of a month or quarter are *not* annualised.
**Shares** (``*_pct``): numerator as a percentage of the denominator named below (not the
population).  A share whose denominator is 0 has no value and status ``z`` (not applicable).

===================================  ===============================================================
outcome                              definition (DfE publication it follows; where ours differs)
===================================  ===============================================================
referral_rate_per_10k                referrals (CINreferralDate) in the period (CIN census, table C1)
rereferral_pct                       referrals within 12 months (365 days) of a previous referral of the
                                     same child, % of referrals (C1).  Looks back across every loaded
                                     year of the LA; a child known to another LA is not linked (as DfE)
s47_rate_per_10k                     section 47 enquiries started (S47ActualStartDate) (D1)
icpc_rate_per_10k                    initial child protection conferences (DateOfInitialCPC) (D1)
cpp_starts_rate_per_10k              child protection plans started (CPPstartDate) (D3)
cpp_subsequent_pct                   starts of a second or subsequent plan (NumberOfPreviousCPP > 0), %
                                     of plans started (D3)
cpp_rate_per_10k                     children on a plan on the period's last day: a plan started on or
                                     before it, not ended on or before it (D5: 31 March)
cin_rate_per_10k                     CIN episodes open on the last day: referral on or before it, no
                                     closure on or before it, excluding referrals closed with no further
                                     action (B1 "At31_episodes"; DfE's headline counts children, and
                                     the published rate too -- the LA-level synthetic model, and this
                                     measure, count episodes)
cla_starts_rate_per_10k              children starting to be looked after (episode with RNE = S) (CLA
                                     table A/C), a child counted once per period
cla_starts_icc_rate_per_10k          of those, starts under an interim care order (LS = C1): entries with
                                     care proceedings under way.  DfE does not publish this split
cla_rate_per_10k                     children looked after on the last day (DECOM on or before it, DEC
                                     blank or after it) (CLA table A1: 31 March)
cla_exits_rate_per_10k               children ceasing to be looked after (episode DEC in the period with a
                                     reason other than X1) (CLA table D1)
cla_exits_sgo_rate_per_10k           ceased with a special guardianship order (E43-E48)
cla_exits_home_rate_per_10k          ceased returning home to parents (E4A, E4B)
cla_exits_adoption_rate_per_10k      ceased adopted (E11, E12)
kinship_foster_pct                   looked after on the last day in a foster placement with relatives or
                                     friends (U1-U3), % of looked after (CLA table A2)
residential_pct                      in a secure children's home, children's home or residential care
                                     home (K1, K2, R1), % of looked after
private_provision_pct                placed with a private provider (PR4), % of looked after
placements_3plus_pct                 (annual only) looked after on 31 March with 3 or more placements
                                     during the year, % of looked after on 31 March (CLA placement
                                     stability).  A placement is an episode open in the year, except an
                                     episode that only changed the legal status (RNE = L) after another
                                     episode of the year; DfE also leaves out some temporary moves
                                     (T0-T4), which we do not
===================================  ===============================================================

Children looked after under an agreed series of short-term breaks (LS V3 / V4) are left out of every
SSDA903 measure, as DfE leaves them out of its looked after figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from csceval.panel import PANEL_COLUMNS, PER_10K, POPULATION

__all__ = ["RECORD_OUTCOMES", "FREQUENCIES", "periods_of_year", "read_population", "cin_counts", "cla_counts",
           "build_records_panel"]

FREQUENCIES = ("annual", "quarterly", "monthly")

#: outcome -> (numerator measure, denominator: "population" or another measure)
RECORD_OUTCOMES: dict[str, tuple[str, str]] = {
    "referral_rate_per_10k": ("referrals", "population"),
    "rereferral_pct": ("rereferrals", "referrals"),
    "s47_rate_per_10k": ("s47", "population"),
    "icpc_rate_per_10k": ("icpc", "population"),
    "cpp_starts_rate_per_10k": ("cpp_starts", "population"),
    "cpp_subsequent_pct": ("cpp_subsequent", "cpp_starts"),
    "cpp_rate_per_10k": ("cpp_stock", "population"),
    "cin_rate_per_10k": ("cin_stock", "population"),
    "cla_starts_rate_per_10k": ("cla_starts", "population"),
    "cla_starts_icc_rate_per_10k": ("cla_starts_icc", "population"),
    "cla_rate_per_10k": ("cla_stock", "population"),
    "cla_exits_rate_per_10k": ("cla_exits", "population"),
    "cla_exits_sgo_rate_per_10k": ("cla_exits_sgo", "population"),
    "cla_exits_home_rate_per_10k": ("cla_exits_home", "population"),
    "cla_exits_adoption_rate_per_10k": ("cla_exits_adoption", "population"),
    "kinship_foster_pct": ("cla_kinship", "cla_stock"),
    "residential_pct": ("cla_residential", "cla_stock"),
    "private_provision_pct": ("cla_private", "cla_stock"),
    "placements_3plus_pct": ("cla_3plus", "cla_stock_31march"),
}
CIN_MEASURES = ["referrals", "rereferrals", "s47", "icpc", "cpp_starts", "cpp_subsequent", "cpp_stock", "cin_stock"]
CLA_MEASURES = ["cla_starts", "cla_starts_icc", "cla_stock", "cla_exits", "cla_exits_sgo", "cla_exits_home",
                "cla_exits_adoption", "cla_kinship", "cla_residential", "cla_private", "cla_3plus", "cla_stock_31march"]
ANNUAL_ONLY = {"placements_3plus_pct"}

SGO = {"E43", "E44", "E45", "E46", "E47", "E48"}
HOME = {"E4A", "E4B"}
ADOPTION = {"E11", "E12"}
KINSHIP = {"U1", "U2", "U3"}
RESIDENTIAL = {"K1", "K2", "R1"}
SHORT_BREAKS = {"V3", "V4"}
COUNT_COLUMNS = ["la_code", "collection_year", "period", "measure", "count"]


# --------------------------------------------------------------------------------------------------
# periods
# --------------------------------------------------------------------------------------------------
def periods_of_year(year: int, frequency: str) -> pd.DatetimeIndex:
    """Start dates of the periods of collection year ``year`` (1 April ``year - 1`` to 31 March ``year``)."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency {frequency!r} is not one of {FREQUENCIES}")
    step = {"annual": 12, "quarterly": 3, "monthly": 1}[frequency]
    return pd.date_range(pd.Timestamp(int(year) - 1, 4, 1), periods=12 // step, freq=f"{step}MS")


def _period_of(dates: pd.Series, frequency: str) -> pd.Series:
    """Start date of the period holding each date."""
    d = pd.to_datetime(dates)
    if frequency == "monthly":
        return d.dt.to_period("M").dt.start_time
    if frequency == "quarterly":
        return d.dt.to_period("Q").dt.start_time
    year = d.dt.year - (d.dt.month < 4).astype(int)
    return pd.to_datetime(pd.DataFrame({"year": year, "month": 4, "day": 1}))


def _year_bounds(years) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(years, dtype=np.int64)
    start = (pd.to_datetime(pd.DataFrame({"year": y - 1, "month": 4, "day": 1})).to_numpy())
    end = (pd.to_datetime(pd.DataFrame({"year": y, "month": 3, "day": 31})).to_numpy())
    return start, end


def _in_own_year(dates: pd.Series, years: pd.Series) -> np.ndarray:
    start, end = _year_bounds(years.to_numpy())
    d = pd.to_datetime(dates).to_numpy()
    return (d >= start) & (d <= end)


def _period_ends(years: np.ndarray, frequency: str) -> tuple[np.ndarray, np.ndarray]:
    """For each row's collection year: period starts and last days, arrays ``[row, period]``."""
    uniq, inverse = np.unique(np.asarray(years, dtype=np.int64), return_inverse=True)
    starts = np.stack([periods_of_year(y, frequency).to_numpy() for y in uniq]) if len(uniq) else np.empty((0, 1))
    ends = np.stack([(periods_of_year(y, frequency) + pd.DateOffset(months=12 // len(periods_of_year(y, frequency)))
                      - pd.Timedelta(days=1)).to_numpy() for y in uniq]) if len(uniq) else np.empty((0, 1))
    return starts[inverse], ends[inverse]


def _flow(frame: pd.DataFrame, mask, date_col: str, measure: str, frequency: str, distinct=None) -> pd.DataFrame:
    """Rows of ``frame[mask]`` dated in their own collection year, counted per LA, year and period.

    ``distinct``: columns identifying one thing (e.g. ``["child"]``): counted once per period.
    """
    rows = frame.loc[np.asarray(mask, dtype=bool)]
    rows = rows.loc[_in_own_year(rows[date_col], rows["collection_year"])]
    out = pd.DataFrame({"la_code": rows["la_code"].to_numpy(), "collection_year": rows["collection_year"].to_numpy(),
                        "period": _period_of(rows[date_col], frequency).to_numpy()})
    for i, column in enumerate(distinct or []):
        out[f"_k{i}"] = rows[column].to_numpy()
    if distinct:
        out = out.drop_duplicates()
    counts = out.groupby(["la_code", "collection_year", "period"]).size().rename("count").reset_index()
    counts["measure"] = measure
    return counts[COUNT_COLUMNS]


def _stock(la, years, start, end, measure_masks: dict, frequency: str) -> pd.DataFrame:
    """Count intervals [start, end) covering each period's last day; one measure per mask.

    ``end`` NaT means still open.  Open on day d: start <= d and (end missing or end > d).
    """
    if not len(la):
        return pd.DataFrame(columns=COUNT_COLUMNS)
    keys = pd.DataFrame({"la_code": np.asarray(la).astype(str), "collection_year": np.asarray(years, dtype=np.int64)})
    codes, groups = pd.factorize(pd.MultiIndex.from_frame(keys))
    g_la = groups.get_level_values(0).to_numpy()
    g_year = groups.get_level_values(1).to_numpy()
    p_start, p_end = _period_ends(g_year, frequency)               # [group, period]
    s = np.asarray(start, dtype="datetime64[ns]")
    e = np.asarray(end, dtype="datetime64[ns]")
    G, P = p_end.shape
    pieces = []
    for measure, mask in measure_masks.items():
        mask = np.asarray(mask, dtype=bool)
        sums = np.zeros((G, P), dtype=np.int64)
        for j in range(P):
            d = p_end[codes, j]
            covered = mask & (s <= d) & (np.isnat(e) | (e > d))
            sums[:, j] = np.bincount(codes, weights=covered, minlength=G).astype(np.int64)
        pieces.append(pd.DataFrame({"la_code": np.repeat(g_la, P), "collection_year": np.repeat(g_year, P),
                                    "period": p_start.ravel(), "measure": measure, "count": sums.ravel()}))
    return pd.concat(pieces, ignore_index=True)[COUNT_COLUMNS]


# --------------------------------------------------------------------------------------------------
# CIN census
# --------------------------------------------------------------------------------------------------
def cin_counts(events: pd.DataFrame, frequency: str = "annual") -> pd.DataFrame:
    """Counts of the CIN measures (``CIN_MEASURES``) per LA, collection year and period (long form)."""
    ev = events[["child", "la_code", "event_type", "date", "cin_episode", "referral_nfa", "number_of_previous_cpp",
                 "collection_year"]].copy()
    ev["date"] = pd.to_datetime(ev["date"])
    ev["child"] = pd.factorize(ev["child"])[0]                 # integer codes: faster keys
    ev["la_code"] = ev["la_code"].astype(str).to_numpy(dtype=object)
    ev["event_type"] = ev["event_type"].astype(str).to_numpy(dtype=object)
    ev["cin_episode"] = ev["cin_episode"].fillna(0).astype(np.int64)
    et = ev["event_type"]
    pieces = []
    # referrals and re-referrals: a referral is (child, date); look back across all loaded years
    refs = ev.loc[et.eq("referral"), ["la_code", "child", "date", "collection_year"]]
    uniq = refs.drop_duplicates(["la_code", "child", "date"]).sort_values(["la_code", "child", "date"])
    gap = uniq.groupby(["la_code", "child"])["date"].diff()
    uniq = uniq.assign(rereferral=(gap <= pd.Timedelta(days=365)) & (gap > pd.Timedelta(0)))
    refs = refs.merge(uniq[["la_code", "child", "date", "rereferral"]], on=["la_code", "child", "date"], how="left")
    key = ["child", "date"]
    pieces.append(_flow(refs, np.ones(len(refs), bool), "date", "referrals", frequency, distinct=key))
    pieces.append(_flow(refs, refs["rereferral"].fillna(False), "date", "rereferrals", frequency, distinct=key))
    pieces.append(_flow(ev, et.eq("s47"), "date", "s47", frequency, distinct=key))
    pieces.append(_flow(ev, et.eq("icpc"), "date", "icpc", frequency, distinct=key))
    pieces.append(_flow(ev, et.eq("cpp_start"), "date", "cpp_starts", frequency, distinct=key))
    subsequent = et.eq("cpp_start") & (pd.to_numeric(ev["number_of_previous_cpp"], errors="coerce").fillna(0) > 0)
    pieces.append(_flow(ev, subsequent, "date", "cpp_subsequent", frequency, distinct=key))

    # plans: k-th start paired with the k-th end within a child's episode of one file
    keys = ["la_code", "collection_year", "child", "cin_episode"]
    starts = ev.loc[et.eq("cpp_start"), keys + ["date"]].sort_values(keys + ["date"])
    ends = ev.loc[et.eq("cpp_end"), keys + ["date"]].sort_values(keys + ["date"])
    starts["k"] = starts.groupby(keys, dropna=False).cumcount()
    ends["k"] = ends.groupby(keys, dropna=False).cumcount()
    plans = starts.merge(ends.rename(columns={"date": "end"}), on=keys + ["k"], how="left")
    pieces.append(_stock(plans["la_code"].to_numpy(), plans["collection_year"].to_numpy(), plans["date"].to_numpy(),
                         plans["end"].to_numpy(), {"cpp_stock": np.ones(len(plans), bool)}, frequency))
    # CIN episodes: referral to closure (NFA referrals left out)
    ref_ep = ev.loc[et.eq("referral"), keys + ["date", "referral_nfa"]].drop_duplicates(keys)
    close = ev.loc[et.eq("closure"), keys + ["date"]].drop_duplicates(keys).rename(columns={"date": "end"})
    episodes = ref_ep.merge(close, on=keys, how="left")
    nfa = episodes["referral_nfa"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    pieces.append(_stock(episodes["la_code"].to_numpy(), episodes["collection_year"].to_numpy(), episodes["date"].to_numpy(),
                         episodes["end"].to_numpy(), {"cin_stock": ~nfa}, frequency))
    return pd.concat(pieces, ignore_index=True)


# --------------------------------------------------------------------------------------------------
# SSDA903
# --------------------------------------------------------------------------------------------------
def cla_counts(episodes: pd.DataFrame, frequency: str = "annual") -> pd.DataFrame:
    """Counts of the SSDA903 measures (``CLA_MEASURES``) per LA, collection year and period (long form)."""
    ep = episodes.loc[~episodes["LS"].isin(SHORT_BREAKS),
                      ["child", "la_code", "collection_year", "DECOM", "DEC", "RNE", "LS", "PLACE", "PLACE_PROVIDER", "REC"]].copy()
    ep["child"] = pd.factorize(ep["child"])[0]
    for column in ("la_code", "RNE", "LS", "PLACE", "PLACE_PROVIDER", "REC"):
        ep[column] = ep[column].astype(str).to_numpy(dtype=object)
    ep["DECOM"] = pd.to_datetime(ep["DECOM"])
    ep["DEC"] = pd.to_datetime(ep["DEC"])
    rec = ep["REC"].replace({"nan": "", "<NA>": "", "None": ""})
    pieces = [
        _flow(ep, ep["RNE"].eq("S"), "DECOM", "cla_starts", frequency, distinct=["child"]),
        _flow(ep, ep["RNE"].eq("S") & ep["LS"].eq("C1"), "DECOM", "cla_starts_icc", frequency, distinct=["child"]),
    ]
    ceased = ep["DEC"].notna() & rec.ne("") & rec.ne("X1")
    pieces += [
        _flow(ep, ceased, "DEC", "cla_exits", frequency, distinct=["child"]),
        _flow(ep, ceased & rec.isin(SGO), "DEC", "cla_exits_sgo", frequency, distinct=["child"]),
        _flow(ep, ceased & rec.isin(HOME), "DEC", "cla_exits_home", frequency, distinct=["child"]),
        _flow(ep, ceased & rec.isin(ADOPTION), "DEC", "cla_exits_adoption", frequency, distinct=["child"]),
    ]
    masks = {
        "cla_stock": np.ones(len(ep), bool),
        "cla_kinship": ep["PLACE"].isin(KINSHIP).to_numpy(),
        "cla_residential": ep["PLACE"].isin(RESIDENTIAL).to_numpy(),
        "cla_private": ep["PLACE_PROVIDER"].eq("PR4").to_numpy(),
    }
    pieces.append(_stock(ep["la_code"].to_numpy(), ep["collection_year"].to_numpy(), ep["DECOM"].to_numpy(),
                         ep["DEC"].to_numpy(), masks, frequency))
    if frequency == "annual":
        pieces.append(_three_plus(ep))
    return pd.concat(pieces, ignore_index=True)


def _three_plus(ep: pd.DataFrame) -> pd.DataFrame:
    """Looked after on 31 March with 3+ placements in the year, and looked after on 31 March."""
    start, end = _year_bounds(ep["collection_year"].to_numpy())
    decom, dec = ep["DECOM"].to_numpy(), ep["DEC"].to_numpy()
    in_year = (decom <= end) & (np.isnat(dec) | (dec >= start))
    rows = ep.loc[in_year, ["la_code", "collection_year", "child", "DECOM", "RNE"]].sort_values(
        ["la_code", "collection_year", "child", "DECOM"], kind="stable")
    first = ~rows.duplicated(["la_code", "collection_year", "child"])
    rows["placement"] = first | rows["RNE"].ne("L")
    n_place = rows.groupby(["la_code", "collection_year", "child"])["placement"].sum()
    open_end = ep.loc[in_year & np.isnat(dec), ["la_code", "collection_year", "child"]].drop_duplicates()
    open_end = open_end.merge(n_place.rename("n").reset_index(), on=["la_code", "collection_year", "child"], how="left")
    agg = open_end.groupby(["la_code", "collection_year"]).agg(cla_stock_31march=("child", "size"),
                                                              cla_3plus=("n", lambda n: int((n >= 3).sum())))
    agg = agg.reset_index()
    agg["period"] = pd.to_datetime(pd.DataFrame({"year": agg["collection_year"] - 1, "month": 4, "day": 1}))
    long = agg.melt(id_vars=["la_code", "collection_year", "period"], value_vars=["cla_stock_31march", "cla_3plus"],
                    var_name="measure", value_name="count")
    return long[COUNT_COLUMNS]


# --------------------------------------------------------------------------------------------------
# population and the panel
# --------------------------------------------------------------------------------------------------
def read_population(path) -> pd.DataFrame:
    """ONS 0-17 mid-year estimates (the EES file) -> ``la_code, collection_year, population``.

    ``collection_year`` is the mid-year + 1: the reporting year the estimate is the denominator of.
    """
    from csceval.ingest import read_ees
    from csceval.panel import _la_rows

    path = Path(path)
    rows = _la_rows(read_ees(path), POPULATION, path)
    return pd.DataFrame({"la_code": rows["la_code"].astype(str).to_numpy(),
                         "collection_year": rows["time_period"].astype(int).to_numpy() + 1,
                         "population": rows["value"].astype(float).to_numpy()})


def _grid(present: pd.DataFrame, frequency: str, measures: list[str]) -> pd.DataFrame:
    """Every LA x collection year present x period x measure (so empty periods count 0, not missing)."""
    rows = []
    for la, year in present[["la_code", "collection_year"]].drop_duplicates().itertuples(index=False):
        for p in periods_of_year(year, frequency):
            rows.append((la, int(year), p))
    base = pd.DataFrame(rows, columns=["la_code", "collection_year", "period"])
    return base.merge(pd.DataFrame({"measure": measures}), how="cross")


def build_records_panel(episodes: pd.DataFrame | None, events: pd.DataFrame | None, population: pd.DataFrame,
                        frequency: str = "annual", outcomes=None) -> pd.DataFrame:
    """The tidy LA x period panel from record-level returns (see the module docstring).

    Parameters
    ----------
    episodes : SSDA903 episodes (``read_ssda903(...).episodes``, concatenated over LAs and years), or None.
    events : CIN census events (``read_cin_census(...).events``, concatenated), or None.
    population : :func:`read_population` output.
    frequency : ``annual``, ``quarterly`` or ``monthly``.
    outcomes : names in :data:`RECORD_OUTCOMES` (default all those the inputs given can make).

    Returns
    -------
    DataFrame with :data:`csceval.panel.PANEL_COLUMNS`, sorted by outcome, la_code, period.  An LA x
    year with no return of a collection has no rows for that collection's outcomes; a period of a
    return with no events has numerator 0.  A missing population gives a missing rate, status ``x``.
    """
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency {frequency!r} is not one of {FREQUENCIES}")
    counts, measures = [], []
    if events is not None and len(events):
        counts.append(_fill(cin_counts(events, frequency), events, frequency, CIN_MEASURES))
        measures += CIN_MEASURES
    if episodes is not None and len(episodes):
        cla_measures = [m for m in CLA_MEASURES if frequency == "annual" or m not in ("cla_3plus", "cla_stock_31march")]
        counts.append(_fill(cla_counts(episodes, frequency), episodes, frequency, cla_measures))
        measures += cla_measures
    if outcomes is None:
        outcomes = [o for o, (num, den) in RECORD_OUTCOMES.items() if num in measures
                    and (den == "population" or den in measures)]
    unknown = [o for o in outcomes if o not in RECORD_OUTCOMES]
    if unknown:
        raise ValueError(f"unknown record-level outcome(s) {unknown}; known: {list(RECORD_OUTCOMES)}")
    if not counts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(PANEL_COLUMNS, ["str", "datetime64[ns]", "str", "float", "float", "float", "str"])})
    wide = pd.concat(counts, ignore_index=True).pivot_table(
        index=["la_code", "collection_year", "period"], columns="measure", values="count", aggfunc="sum", fill_value=0)
    wide = wide.reset_index()
    wide["la_code"] = wide["la_code"].astype(str)
    pop = population.assign(la_code=population["la_code"].astype(str))
    wide = wide.merge(pop, on=["la_code", "collection_year"], how="left")
    pieces = []
    for outcome in outcomes:
        num, den = RECORD_OUTCOMES[outcome]
        if num not in wide.columns:
            continue
        part = wide.dropna(subset=[num]) if den == "population" else wide.dropna(subset=[num, den])
        numerator = part[num].astype(float)
        denominator = part["population"].astype(float) if den == "population" else part[den].astype(float)
        scale = PER_10K if den == "population" else 100.0
        ok = denominator > 0
        value = np.where(ok, numerator / denominator.where(ok, 1.0) * scale, np.nan)
        status = np.where(ok, "", np.where(denominator.isna(), "x", "z"))
        pieces.append(pd.DataFrame({"la_code": part["la_code"].to_numpy(), "period": part["period"].to_numpy(),
                                    "outcome": outcome, "value": value, "numerator": numerator.to_numpy(),
                                    "denominator": denominator.to_numpy(), "status": status}))
    panel = pd.concat(pieces, ignore_index=True)
    panel["period"] = pd.to_datetime(panel["period"]).astype("datetime64[ns]")
    return panel.sort_values(["outcome", "la_code", "period"], ignore_index=True)[PANEL_COLUMNS]


def _fill(counts: pd.DataFrame, records: pd.DataFrame, frequency: str, measures: list[str]) -> pd.DataFrame:
    """Counts on the full grid of the returns present (zeros where nothing happened)."""
    grid = _grid(records[["la_code", "collection_year"]].astype({"la_code": str}), frequency, measures)
    counts = counts.assign(la_code=counts["la_code"].astype(str), period=pd.to_datetime(counts["period"]))
    counts = counts.groupby(["la_code", "collection_year", "period", "measure"], as_index=False)["count"].sum()
    out = grid.merge(counts, on=["la_code", "collection_year", "period", "measure"], how="left")
    out["count"] = out["count"].fillna(0).astype(np.int64)
    return out[COUNT_COLUMNS]


def build_panel_from_interim(interim_dirs, population_path, frequency: str = "annual") -> pd.DataFrame:
    """The records panel from the per-year interim folders rule ``ingest_records`` writes.

    Each folder holds ``ssda903_<la>.parquet`` and ``cin_census_<la>.parquet``.  One LA at a time (all its
    years together, so re-referrals look back across years): memory holds one LA's records, never the
    whole country's.
    """
    population = read_population(population_path)
    files: dict[str, dict[str, list[Path]]] = {}
    for folder in interim_dirs:
        for path in sorted(Path(folder).glob("*.parquet")):
            kind, _, la = path.stem.rpartition("_")
            files.setdefault(la, {}).setdefault(kind, []).append(path)
    pieces = []
    for la in sorted(files):
        def load(kind):
            paths = files[la].get(kind, [])
            return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True) if paths else None

        pieces.append(build_records_panel(load("ssda903"), load("cin_census"), population, frequency))
    if not pieces:
        return build_records_panel(None, None, population, frequency)
    panel = pd.concat(pieces, ignore_index=True)
    return panel.sort_values(["outcome", "la_code", "period"], ignore_index=True)
