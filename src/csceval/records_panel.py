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
placed_over_20_miles_pct             (only with a postcode lookup) looked after on the last day in a
                                     placement more than 20 miles from home, % of looked after (CLA
                                     placement distance: 31 March; see below)
placement_distance_unknown_pct       (only with a postcode lookup) looked after on the last day with no
                                     distance: home or placement postcode blank, malformed or not in
                                     the lookup, % of looked after
===================================  ===============================================================

Children looked after under an agreed series of short-term breaks (LS V3 / V4) are left out of every
SSDA903 measure, as DfE leaves them out of its looked after figures.

**Placement distance.**  With a postcode-centroid lookup (:func:`csceval.geo.read_postcode_lookup`),
the distance of a looked after child's placement is the great-circle distance between the centroids
of the HOME_POST and PL_POST of the episode open on the day; "more than 20 miles" is strictly over
20.0 miles.  Like DfE's figures (CLA on 31 March: over 20 miles, and distance not known or not
recorded, each as a % of all CLA) the denominator is every looked after child and unknown distances
are counted apart, not dropped.  Where ours differs: DfE measures from "the home address from which
first placed" with full-postcode centroids; we use the episode's own HOME_POST and the finest level
the lookup holds (a sector or district centroid adds error of a few miles near the threshold); DfE
also splits inside / outside the LA boundary, which needs the LA of each postcode and is not done.
Without a lookup the two outcomes are not produced.
"""


from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from csceval.panel import PANEL_COLUMNS, PER_10K, POPULATION

__all__ = ["RECORD_OUTCOMES", "FREQUENCIES", "DISTANCE_MILES", "periods_of_year", "read_population", "cin_counts",
           "cla_counts", "build_records_panel", "build_panel_from_interim"]

FREQUENCIES = ("annual", "quarterly", "monthly")
#: Placements strictly further than this from home count in ``placed_over_20_miles_pct``.
DISTANCE_MILES = 20.0

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
    "placed_over_20_miles_pct": ("cla_over_20_miles", "cla_stock"),
    "placement_distance_unknown_pct": ("cla_distance_unknown", "cla_stock"),
}
CIN_MEASURES = ["referrals", "rereferrals", "s47", "icpc", "cpp_starts", "cpp_subsequent", "cpp_stock", "cin_stock"]
CLA_MEASURES = ["cla_starts", "cla_starts_icc", "cla_stock", "cla_exits", "cla_exits_sgo", "cla_exits_home",
                "cla_exits_adoption", "cla_kinship", "cla_residential", "cla_private", "cla_3plus", "cla_stock_31march"]
ANNUAL_MEASURES = ["cla_3plus", "cla_stock_31march"]
DISTANCE_MEASURES = ["cla_over_20_miles", "cla_distance_unknown"]
KEYS = ["la_code", "collection_year", "period"]

SGO = {"E43", "E44", "E45", "E46", "E47", "E48"}
HOME = {"E4A", "E4B"}
ADOPTION = {"E11", "E12"}
KINSHIP = {"U1", "U2", "U3"}
RESIDENTIAL = {"K1", "K2", "R1"}
SHORT_BREAKS = {"V3", "V4"}
#: Columns of the interim files each collection's counts read.
EPISODE_COLUMNS = ["child", "la_code", "collection_year", "DECOM", "DEC", "RNE", "LS", "PLACE", "PLACE_PROVIDER", "REC"]
POSTCODE_FIELDS = ["HOME_POST", "PL_POST"]
EVENT_COLUMNS = ["child", "la_code", "collection_year", "event_type", "date", "cin_episode", "referral_nfa",
                 "number_of_previous_cpp"]
_LAST = np.iinfo(np.int64).max        # sorts a missing date after every date


# --------------------------------------------------------------------------------------------------
# periods and the LA x collection-year grid
# --------------------------------------------------------------------------------------------------
def periods_of_year(year: int, frequency: str) -> pd.DatetimeIndex:
    """Start dates of the periods of collection year ``year`` (1 April ``year - 1`` to 31 March ``year``)."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency {frequency!r} is not one of {FREQUENCIES}")
    step = {"annual": 12, "quarterly": 3, "monthly": 1}[frequency]
    return pd.date_range(pd.Timestamp(int(year) - 1, 4, 1), periods=12 // step, freq=f"{step}MS")


def _months(first_month: np.ndarray) -> np.ndarray:
    """Months since January 1970 -> first day of that month, ``datetime64[ns]``."""
    return np.asarray(first_month, dtype=np.int64).astype("datetime64[M]").astype("datetime64[ns]")


@dataclass
class _Grid:
    """The LA x collection-year groups of one collection's records, and each record's group.

    A collection year runs from 1 April ``year - 1`` to 31 March ``year``: ``shape[1]`` periods of
    ``step`` months each (calendar months and quarters line up with April).  Counts are ``shape`` arrays.
    """

    la: np.ndarray          # [G] LA code
    year: np.ndarray        # [G] collection year
    codes: np.ndarray       # [rows] group of each record
    la_of_row: np.ndarray   # [rows] integer code of each record's LA
    frequency: str

    @classmethod
    def of(cls, records: pd.DataFrame, frequency: str) -> "_Grid":
        la_of_row, names = pd.factorize(records["la_code"].astype(str), use_na_sentinel=False)
        year = records["collection_year"].to_numpy(dtype=np.int64)
        groups, codes = np.unique(la_of_row.astype(np.int64) * 10_000 + year, return_inverse=True)
        return cls(np.asarray(names, dtype=object)[groups // 10_000], groups % 10_000, codes.ravel(), la_of_row, frequency)

    @property
    def step(self) -> int:
        return {"annual": 12, "quarterly": 3, "monthly": 1}[self.frequency]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.year), 12 // self.step

    @property
    def first_month(self) -> np.ndarray:
        """April of ``year - 1`` as months since January 1970, per group."""
        return (self.year - 1 - 1970) * 12 + 3

    def period_starts(self) -> np.ndarray:
        """``[group, period]`` first days."""
        return _months(self.first_month[:, None] + self.step * np.arange(self.shape[1]))

    def period_ends(self) -> np.ndarray:
        """``[group, period]`` last days."""
        return _months(self.first_month[:, None] + self.step * np.arange(1, self.shape[1] + 1)) - np.timedelta64(1, "D")

    def zeros(self) -> np.ndarray:
        return np.zeros(self.shape, dtype=np.int64)

    def frame(self, counts: dict[str, np.ndarray]) -> pd.DataFrame:
        """Wide counts: one row per group x period (empty periods 0), one column per measure."""
        n_periods = self.shape[1]
        out = pd.DataFrame({"la_code": np.repeat(self.la, n_periods).astype(str),
                            "collection_year": np.repeat(self.year, n_periods),
                            "period": self.period_starts().ravel()})
        for measure, values in counts.items():
            out[measure] = values.ravel()
        return out


def _is(values: pd.Series, codes) -> np.ndarray:
    """Boolean array: the value is one of ``codes`` (missing values are not)."""
    return values.isin(list(codes)).to_numpy(dtype=bool)


def _dates(values) -> np.ndarray:
    return pd.to_datetime(pd.Series(values)).to_numpy().astype("datetime64[ns]")


def _day_numbers(dates: np.ndarray) -> np.ndarray:
    """Days since 1970 (``_LAST`` for a missing date)."""
    days = dates.astype("datetime64[D]").astype(np.int64)
    return np.where(np.isnat(dates), _LAST, days)


def _dense(*codes) -> np.ndarray:
    """One integer per distinct combination of the non-negative integer arrays ``codes``."""
    out = np.zeros(len(codes[0]), dtype=np.int64)
    for column in codes:
        column = np.asarray(column, dtype=np.int64)
        base = int(column.max()) + 1 if len(column) else 1
        out = np.unique(out * base + column, return_inverse=True)[1].ravel()
    return out


def _rank_in_runs(sorted_keys: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal ``sorted_keys``."""
    n = len(sorted_keys)
    new = np.ones(n, dtype=bool)
    new[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return np.arange(n) - np.maximum.accumulate(np.where(new, np.arange(n), 0))


def _flow(grid: _Grid, codes: np.ndarray, dates: np.ndarray, mask, *distinct) -> np.ndarray:
    """``[group, period]`` counts of the rows in ``mask`` dated in their own collection year.

    ``distinct``: integer arrays identifying one thing (e.g. the child): counted once per period.
    """
    starts, ends = grid.period_starts(), grid.period_ends()
    keep = np.asarray(mask, dtype=bool) & (dates >= starts[codes, 0]) & (dates <= ends[codes, -1])
    dates, codes = dates[keep], codes[keep]
    period = (dates[:, None] >= starts[codes]).sum(axis=1) - 1
    cell = codes * grid.shape[1] + period
    if distinct:
        cell = cell[np.unique(_dense(cell, *(d[keep] for d in distinct)), return_index=True)[1]]
    return np.bincount(cell, minlength=grid.shape[0] * grid.shape[1]).reshape(grid.shape)


def _stock(grid: _Grid, codes: np.ndarray, start: np.ndarray, end: np.ndarray, masks: dict) -> dict[str, np.ndarray]:
    """``[group, period]`` counts of the intervals [start, end) covering each period's last day, per mask.

    ``end`` NaT means still open.  Open on day d: start <= d and (end missing or end > d).
    """
    ends = grid.period_ends()
    out = {measure: grid.zeros() for measure in masks}
    still_open = np.isnat(end)
    for j in range(grid.shape[1]):
        day = ends[codes, j]
        covered = (start <= day) & (still_open | (end > day))
        for measure, mask in masks.items():
            out[measure][:, j] = np.bincount(codes[covered & mask], minlength=grid.shape[0])
    return out


# --------------------------------------------------------------------------------------------------
# CIN census
# --------------------------------------------------------------------------------------------------
def _rereferrals(la: np.ndarray, child: np.ndarray, days: np.ndarray) -> np.ndarray:
    """For each referral: a distinct earlier referral of the same child in the same LA within 365 days."""
    who = _dense(la, child)
    order = np.lexsort((days, who))
    who_s, days_s = who[order], days[order]
    same_child = np.zeros(len(order), dtype=bool)
    same_child[1:] = who_s[1:] == who_s[:-1]
    new_date = ~same_child
    new_date[1:] |= days_s[1:] != days_s[:-1]
    # previous distinct referral date of the same child, for each distinct (child, date)
    distinct = np.flatnonzero(new_date)
    prior = np.zeros(len(distinct), dtype=bool)
    gap = days_s[distinct[1:]] - days_s[distinct[:-1]]
    prior[1:] = (who_s[distinct[1:]] == who_s[distinct[:-1]]) & (gap > 0) & (gap <= 365)
    flag = np.empty(len(order), dtype=bool)
    flag[order] = prior[np.cumsum(new_date) - 1]
    return flag


def _nth(key: np.ndarray, days: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` ordered by key then date, and each row's rank within its key."""
    rows = rows[np.lexsort((days[rows], key[rows]))]
    return rows, _rank_in_runs(key[rows])


def _first_per_key(key: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The first of ``rows`` (in record order) for each distinct key."""
    return np.sort(rows[np.unique(key[rows], return_index=True)[1]])


def _matched_dates(dates: np.ndarray, rows: np.ndarray, match: np.ndarray) -> np.ndarray:
    """``dates[rows[match]]``, NaT where ``match`` is -1 (no match)."""
    out = np.full(len(match), np.datetime64("NaT"), dtype="datetime64[ns]")
    found = match >= 0
    out[found] = dates[rows[match[found]]]
    return out


def cin_counts(events: pd.DataFrame, frequency: str = "annual") -> pd.DataFrame:
    """Counts of the CIN measures (``CIN_MEASURES``) per LA, collection year and period (one column each)."""
    grid = _Grid.of(events, frequency)
    codes = grid.codes
    event = events["event_type"]
    date = _dates(events["date"])
    days = _day_numbers(date)
    child = pd.factorize(events["child"], use_na_sentinel=False)[0]
    episode = pd.factorize(pd.to_numeric(events["cin_episode"]).fillna(0))[0]
    is_ref, is_start = _is(event, {"referral"}), _is(event, {"cpp_start"})
    previous = pd.to_numeric(events["number_of_previous_cpp"], errors="coerce").fillna(0).to_numpy() > 0
    rereferral = np.zeros(len(events), dtype=bool)
    refs = np.flatnonzero(is_ref)
    rereferral[refs] = _rereferrals(grid.la_of_row[refs], child[refs], days[refs])
    counts = {
        "referrals": _flow(grid, codes, date, is_ref, child, days),
        "rereferrals": _flow(grid, codes, date, rereferral, child, days),
        "s47": _flow(grid, codes, date, _is(event, {"s47"}), child, days),
        "icpc": _flow(grid, codes, date, _is(event, {"icpc"}), child, days),
        "cpp_starts": _flow(grid, codes, date, is_start, child, days),
        "cpp_subsequent": _flow(grid, codes, date, is_start & previous, child, days),
    }
    key = _dense(codes, child, episode)

    # plans: the k-th start paired with the k-th end (by date) within a child's episode of one file
    starts, k_start = _nth(key, days, np.flatnonzero(is_start))
    ends, k_end = _nth(key, days, np.flatnonzero(_is(event, {"cpp_end"})))
    width = len(events) + 1
    match = pd.Index(key[ends] * width + k_end).get_indexer(key[starts] * width + k_start)
    plan_end = _matched_dates(date, ends, match)
    counts.update(_stock(grid, codes[starts], date[starts], plan_end, {"cpp_stock": np.ones(len(starts), bool)}))

    # CIN episodes: first referral to first closure (NFA referrals left out)
    opened = _first_per_key(key, refs)
    closed = _first_per_key(key, np.flatnonzero(_is(event, {"closure"})))
    match = pd.Index(key[closed]).get_indexer(key[opened])
    episode_end = _matched_dates(date, closed, match)
    nfa = events["referral_nfa"].astype("boolean").fillna(False).to_numpy(dtype=bool)[opened]
    counts.update(_stock(grid, codes[opened], date[opened], episode_end, {"cin_stock": ~nfa}))
    return grid.frame({m: counts[m] for m in CIN_MEASURES})


# --------------------------------------------------------------------------------------------------
# SSDA903
# --------------------------------------------------------------------------------------------------
def cla_counts(episodes: pd.DataFrame, frequency: str = "annual", postcode_lookup: pd.DataFrame | None = None) -> pd.DataFrame:
    """Counts of the SSDA903 measures per LA, collection year and period (one column each).

    ``CLA_MEASURES`` (the annual-only ones at annual frequency), and ``DISTANCE_MEASURES`` when a
    postcode lookup (:func:`csceval.geo.read_postcode_lookup`) is given.
    """
    grid = _Grid.of(episodes, frequency)
    kept = ~_is(episodes["LS"], SHORT_BREAKS)
    ep = episodes.loc[kept]
    codes = grid.codes[kept]
    child = pd.factorize(ep["child"], use_na_sentinel=False)[0]
    decom, dec = _dates(ep["DECOM"]), _dates(ep["DEC"])

    def has(column, codes):
        return _is(ep[column], codes)

    start = has("RNE", {"S"})
    rec = ep["REC"].astype("string").fillna("").str.strip()
    ceased = ~np.isnat(dec) & ~rec.isin(["", "X1"]).to_numpy(dtype=bool)
    counts = {
        "cla_starts": _flow(grid, codes, decom, start, child),
        "cla_starts_icc": _flow(grid, codes, decom, start & has("LS", {"C1"}), child),
        "cla_exits": _flow(grid, codes, dec, ceased, child),
        "cla_exits_sgo": _flow(grid, codes, dec, ceased & has("REC", SGO), child),
        "cla_exits_home": _flow(grid, codes, dec, ceased & has("REC", HOME), child),
        "cla_exits_adoption": _flow(grid, codes, dec, ceased & has("REC", ADOPTION), child),
    }
    masks = {"cla_stock": np.ones(len(ep), bool), "cla_kinship": has("PLACE", KINSHIP),
             "cla_residential": has("PLACE", RESIDENTIAL), "cla_private": has("PLACE_PROVIDER", {"PR4"})}
    if postcode_lookup is not None:
        masks.update(_distance_masks(ep, postcode_lookup))
    counts.update(_stock(grid, codes, decom, dec, masks))
    measures = [m for m in CLA_MEASURES if m not in ANNUAL_MEASURES]
    if frequency == "annual":
        counts.update(_three_plus(grid, codes, child, decom, dec, ~has("RNE", {"L"})))
        measures += ANNUAL_MEASURES
    if postcode_lookup is not None:
        measures += DISTANCE_MEASURES
    return grid.frame({m: counts[m] for m in measures})


def _distance_masks(ep: pd.DataFrame, lookup: pd.DataFrame) -> dict[str, np.ndarray]:
    """Episodes placed more than ``DISTANCE_MILES`` from home, and episodes with no known distance."""
    from csceval.geo import distance_between_postcodes

    missing = [c for c in POSTCODE_FIELDS if c not in ep.columns]
    if missing:
        raise ValueError(f"placement distance needs the SSDA903 episode columns {missing}: the episodes given lack them")
    miles = distance_between_postcodes(ep["HOME_POST"], ep["PL_POST"], lookup)
    return {"cla_over_20_miles": miles > DISTANCE_MILES, "cla_distance_unknown": np.isnan(miles)}


def _three_plus(grid: _Grid, codes, child, decom, dec, placement_change) -> dict[str, np.ndarray]:
    """Looked after on 31 March with 3+ placements in the year, and looked after on 31 March (annual)."""
    start, end = grid.period_starts()[codes, 0], grid.period_ends()[codes, -1]
    in_year = (decom <= end) & (np.isnat(dec) | (dec >= start))
    rows = np.flatnonzero(in_year)
    who = _dense(codes[rows], child[rows])
    order = np.lexsort((decom[rows], who))                 # stable: ties keep record order
    rows, who = rows[order], who[order]
    first_of_child = _rank_in_runs(who) == 0
    n_placements = np.bincount(who, weights=first_of_child | placement_change[rows]).astype(np.int64)
    open_at_end = np.unique(who[np.isnat(dec[rows])])
    group = np.empty(len(n_placements), dtype=np.int64)
    group[who] = codes[rows]
    return {"cla_stock_31march": np.bincount(group[open_at_end], minlength=grid.shape[0])[:, None],
            "cla_3plus": np.bincount(group[open_at_end[n_placements[open_at_end] >= 3]],
                                     minlength=grid.shape[0])[:, None]}


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


def build_records_panel(episodes: pd.DataFrame | None, events: pd.DataFrame | None, population: pd.DataFrame,
                        frequency: str = "annual", outcomes=None, postcode_lookup: pd.DataFrame | None = None) -> pd.DataFrame:
    """The tidy LA x period panel from record-level returns (see the module docstring).

    Parameters
    ----------
    episodes : SSDA903 episodes (``read_ssda903(...).episodes``, concatenated over LAs and years), or None.
    events : CIN census events (``read_cin_census(...).events``, concatenated), or None.
    population : :func:`read_population` output.
    frequency : ``annual``, ``quarterly`` or ``monthly``.
    outcomes : names in :data:`RECORD_OUTCOMES` (default all those the inputs given can make).
    postcode_lookup : :func:`csceval.geo.read_postcode_lookup` output, or None (no placement distance).

    Returns
    -------
    DataFrame with :data:`csceval.panel.PANEL_COLUMNS`, sorted by outcome, la_code, period.  An LA x
    year with no return of a collection has no rows for that collection's outcomes; a period of a
    return with no events has numerator 0.  A missing population gives a missing rate, status ``x``.
    """
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency {frequency!r} is not one of {FREQUENCIES}")
    counts = []
    if events is not None and len(events):
        counts.append(cin_counts(events, frequency))
    if episodes is not None and len(episodes):
        counts.append(cla_counts(episodes, frequency, postcode_lookup))
    measures = [m for frame in counts for m in frame.columns if m not in KEYS]
    if outcomes is None:
        outcomes = [o for o, (num, den) in RECORD_OUTCOMES.items() if num in measures
                    and (den == "population" or den in measures)]
    unknown = [o for o in outcomes if o not in RECORD_OUTCOMES]
    if unknown:
        raise ValueError(f"unknown record-level outcome(s) {unknown}; known: {list(RECORD_OUTCOMES)}")
    if not counts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(PANEL_COLUMNS, ["str", "datetime64[ns]", "str", "float", "float", "float", "str"])})
    wide = counts[0] if len(counts) == 1 else counts[0].merge(counts[1], on=KEYS, how="outer")
    pop = population.assign(la_code=population["la_code"].astype(str))
    wide = wide.merge(pop, on=["la_code", "collection_year"], how="left")
    la, period = wide["la_code"].to_numpy(dtype=object), wide["period"].to_numpy()
    pieces = []
    for outcome in outcomes:
        num, den = RECORD_OUTCOMES[outcome]
        if num not in wide.columns:
            continue
        numerator = wide[num].to_numpy(dtype=float)
        denominator = wide["population" if den == "population" else den].to_numpy(dtype=float)
        rows = ~np.isnan(numerator) if den == "population" else ~np.isnan(numerator) & ~np.isnan(denominator)
        numerator, denominator = numerator[rows], denominator[rows]
        scale = PER_10K if den == "population" else 100.0
        ok = denominator > 0
        value = np.where(ok, numerator / np.where(ok, denominator, 1.0) * scale, np.nan)
        status = np.where(ok, "", np.where(np.isnan(denominator), "x", "z"))
        pieces.append(pd.DataFrame({"la_code": la[rows], "period": period[rows], "outcome": outcome, "value": value,
                                    "numerator": numerator, "denominator": denominator, "status": status}))
    panel = pd.concat(pieces, ignore_index=True)
    panel["period"] = pd.to_datetime(panel["period"]).astype("datetime64[ns]")
    return panel.sort_values(["outcome", "la_code", "period"], ignore_index=True)[PANEL_COLUMNS]


def build_panel_from_interim(interim_dirs, population_path, frequency: str = "annual", postcode_lookup=None) -> pd.DataFrame:
    """The records panel from the per-year interim folders rule ``ingest_records`` writes.

    Each folder holds ``ssda903_<la>.parquet`` and ``cin_census_<la>.parquet``.  One LA at a time (all its
    years together, so re-referrals look back across years): memory holds one LA's records, never the
    whole country's.  ``postcode_lookup``: path of a postcode-centroid CSV (placement distance), or None.
    """
    population = read_population(population_path)
    lookup = None
    if postcode_lookup is not None:
        from csceval.geo import read_postcode_lookup

        lookup = read_postcode_lookup(postcode_lookup)
    columns = {"ssda903": EPISODE_COLUMNS + (POSTCODE_FIELDS if lookup is not None else []),
               "cin_census": EVENT_COLUMNS}
    files: dict[str, dict[str, list[Path]]] = {}
    for folder in interim_dirs:
        for path in sorted(Path(folder).glob("*.parquet")):
            kind, _, la = path.stem.rpartition("_")
            files.setdefault(la, {}).setdefault(kind, []).append(path)
    pieces = []
    for la in sorted(files):
        def load(kind):
            paths = files[la].get(kind, [])
            return pd.concat([pd.read_parquet(p, columns=columns[kind]) for p in paths], ignore_index=True) if paths else None

        pieces.append(build_records_panel(load("ssda903"), load("cin_census"), population, frequency,
                                          postcode_lookup=lookup))
    if not pieces:
        return build_records_panel(None, None, population, frequency)
    panel = pd.concat(pieces, ignore_index=True)
    return panel.sort_values(["outcome", "la_code", "period"], ignore_index=True)
