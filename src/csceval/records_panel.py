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
from csceval.threads import worker_threads

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
#: Columns of the interim files that hold text (read as categoricals).
_TEXT_COLUMNS = {"child", "la_code", "event_type", "RNE", "LS", "PLACE", "PLACE_PROVIDER", "REC", *POSTCODE_FIELDS}
_LAST = np.iinfo(np.int64).max        # sorts a missing date after every date


#: Month number (months since January 1970) of a missing date: after every collection year, so a missing
#: date is in no period, a missing start opens nothing and a missing end closes nothing.
_NO_MONTH = 2 ** 40


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


def _sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` without sorting the rows.

    Values in a narrow range (LA x year keys) are marked in a table of the range; others are hashed and
    only the distinct values sorted.
    """
    values = np.asarray(values, dtype=np.int64)
    low = int(values.min()) if len(values) else 0
    if len(values) and int(values.max()) - low < 2 ** 22:
        present = np.zeros(int(values.max()) - low + 1, dtype=bool)
        present[values - low] = True
        rank = np.cumsum(present) - 1
        return np.flatnonzero(present) + low, rank[values - low]
    codes, distinct = pd.factorize(values)
    order = np.argsort(distinct, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return distinct[order], rank[codes]


def _la_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer code of each row's LA and the LA codes as text (``astype(str)`` of each distinct value).

    The distinct values are turned into text, not every row (the same LA given as 301 and "301" is one).
    """
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    names = np.asarray(distinct, dtype=object).astype(str)
    merged, names = pd.factorize(names)
    return merged[codes], np.asarray(names, dtype=object)


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
        la_of_row, names = _la_codes(records["la_code"])
        year = records["collection_year"].to_numpy(dtype=np.int64)
        groups, codes = _sorted_codes(la_of_row.astype(np.int64) * 10_000 + year)
        return cls(names[groups // 10_000], groups % 10_000, codes, la_of_row, frequency)

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

    def year_days(self) -> tuple[np.ndarray, np.ndarray]:
        """First (1 April) and last (31 March) day of each group's year, as days since 1970."""
        first = self.first_month.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        last = (self.first_month + 12).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - 1
        return first, last

    def offsets(self, codes: np.ndarray, months: np.ndarray) -> np.ndarray:
        """Months from the start of each record's collection year (0-11 inside it; missing: far beyond)."""
        return months - self.first_month[codes]

    def frame(self, counts: dict[str, np.ndarray]) -> pd.DataFrame:
        """Wide counts: one row per group x period (empty periods 0), one column per measure."""
        n_periods = self.shape[1]
        columns = {"la_code": np.repeat(self.la, n_periods).astype(str),
                   "collection_year": np.repeat(self.year, n_periods), "period": self.period_starts().ravel()}
        return pd.DataFrame(columns | {measure: values.ravel() for measure, values in counts.items()})


def _is(values: pd.Series, codes) -> np.ndarray:
    """Boolean array: the value is one of ``codes`` (missing values are not).

    A categorical (interim files) is tested through its few categories, not row by row.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        hit = np.append(values.cat.categories.isin(list(codes)), False)     # code -1 (missing): last, False
        return hit[values.cat.codes.to_numpy()]
    return values.isin(list(codes)).to_numpy(dtype=bool)


def _day_numbers(values) -> np.ndarray:
    """Days since 1970 of a date column (``_LAST`` for a missing date).

    The measures are defined on calendar days (the readers give dates without a time of day); a time
    of day, if any, is dropped.
    """
    dates = pd.to_datetime(pd.Series(values)).to_numpy()
    unit, count = np.datetime_data(dates.dtype)
    per_day = int(np.timedelta64(1, "D") // np.timedelta64(count, unit))
    return np.where(np.isnat(dates), _LAST, dates.view(np.int64) // per_day)


def _month_numbers(days: np.ndarray) -> np.ndarray:
    """Months since January 1970 of day numbers (``_NO_MONTH`` for a missing date).

    Counting by month number replaces comparing every date with every period boundary: the periods are
    whole calendar months, so a date's period is its month's offset from April, divided by the step.
    """
    out = np.full(len(days), _NO_MONTH, dtype=np.int64)
    present = np.flatnonzero(days != _LAST)
    if not len(present):
        return out
    days = days[present]
    low, high = int(days.min()), int(days.max())
    if high - low < 1_000_000:      # a table of the month of each day in the range (a few thousand days)
        table = np.arange(low, high + 1).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        out[present] = table[days - low]
    else:
        out[present] = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return out


def _combine(*columns) -> np.ndarray:
    """One int64 per distinct combination of the integer arrays ``columns``, in their lexicographic order.

    Equal rows get equal numbers, and sorting the numbers sorts the rows by the first column, then the
    second...  (``np.argsort(_combine(a, b), kind="stable")`` is ``np.lexsort((b, a))``, one sort
    instead of one per column).  Mixed-radix arithmetic; a column with a very wide range (a missing
    date's ``_LAST``), or a combination whose range would overflow, is first replaced by its rank among
    its distinct values.
    """
    out = np.zeros(len(columns[0]), dtype=np.int64)
    if not len(out):
        return out
    span = 1
    for column in columns:
        column = np.asarray(column, dtype=np.int64)
        low = int(column.min())
        width = int(column.max()) - low + 1
        if width >= 2 ** 31:
            column, low = _sorted_codes(column)[1], 0
            width = int(column.max()) + 1
        if span * width >= 2 ** 62:
            out = _sorted_codes(out)[1]
            span = int(out.max()) + 1
        out = out * width + (column - low)
        span *= width
    return out


def _codes(values: pd.Series) -> np.ndarray:
    """Integers, equal where the values are equal (missing values equal each other).

    Integer columns (the child codes of the interim reader) are taken as they are.
    """
    if pd.api.types.is_integer_dtype(values.dtype) and not isinstance(values.dtype, pd.CategoricalDtype):
        array = values.to_numpy()
        if array.dtype.kind in "iu":
            return array.astype(np.int64, copy=False)
    return pd.factorize(values, use_na_sentinel=False)[0]


def _first_of_each(key: np.ndarray) -> np.ndarray:
    """Boolean array: the first element (in order) of each distinct value of ``key``."""
    return ~pd.Series(key, copy=False).duplicated().to_numpy()


def _rank_in_runs(sorted_keys: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal ``sorted_keys``."""
    n = len(sorted_keys)
    new = np.ones(n, dtype=bool)
    new[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return np.arange(n) - np.maximum.accumulate(np.where(new, np.arange(n), 0))


class _Flows:
    """``[group, period]`` counts of events dated in their own collection year, one thing counted once.

    ``offset``: each row's date as months from the start of its collection year (:meth:`_Grid.offsets`).
    ``distinct``: integer arrays identifying one thing (e.g. the child and the date): counted once per
    period.  The period of each row and the identity of each thing are worked out once for all the
    measures counted from the same dates.
    """

    def __init__(self, grid: _Grid, codes: np.ndarray, offset: np.ndarray, *distinct, among=True):
        """``among``: the only rows any count will take (a boolean array, or True for all)."""
        self.grid = grid
        self.rows = np.flatnonzero((offset >= 0) & (offset < 12) & among)
        self.cell = codes[self.rows] * grid.shape[1] + offset[self.rows] // grid.step
        self.thing = None
        if distinct:            # 0 .. k-1 per distinct (period, thing), and the period of each
            self.thing = pd.factorize(_combine(self.cell, *(d[self.rows] for d in distinct)))[0]
            self.cell_of_thing = np.empty(int(self.thing.max()) + 1 if len(self.thing) else 0, dtype=np.int64)
            self.cell_of_thing[self.thing] = self.cell

    def count(self, mask) -> np.ndarray:
        """Counts of the rows in ``mask`` (a boolean array over all rows)."""
        keep = np.asarray(mask, dtype=bool)[self.rows]
        if self.thing is None:
            cell = self.cell[keep]
        else:
            seen = np.zeros(len(self.cell_of_thing), dtype=bool)
            seen[self.thing[keep]] = True
            cell = self.cell_of_thing[seen]
        size = self.grid.shape[0] * self.grid.shape[1]
        return np.bincount(cell, minlength=size).reshape(self.grid.shape)


def _stock(grid: _Grid, codes: np.ndarray, start: np.ndarray, end: np.ndarray, masks: dict) -> dict[str, np.ndarray]:
    """``[group, period]`` counts of the intervals [start, end) covering each period's last day, per mask.

    ``start``, ``end``: month offsets (:meth:`_Grid.offsets`); a missing start is never open, a missing
    end is still open.  Open on day d: start <= d and (end missing or end > d).  A period's last day is
    the last day of a month, so the interval covers the periods from the one holding its start up to,
    not including, the one holding its end: each interval adds 1 there and takes 1 off after (a
    difference array, summed along the periods) instead of testing every period's last day.
    """
    n_groups, n_periods = grid.shape
    first = np.clip(start // grid.step, 0, n_periods)
    stop = np.clip(end // grid.step, 0, n_periods)
    covers = first < stop
    out = {}
    for measure, mask in masks.items():
        rows = covers & mask
        base = codes[rows] * (n_periods + 1)
        size = n_groups * (n_periods + 1)
        change = (np.bincount(base + first[rows], minlength=size) - np.bincount(base + stop[rows], minlength=size))
        out[measure] = change.reshape(n_groups, n_periods + 1).cumsum(axis=1)[:, :n_periods]
    return out


# --------------------------------------------------------------------------------------------------
# CIN census
# --------------------------------------------------------------------------------------------------
def _rereferrals(la: np.ndarray, child: np.ndarray, days: np.ndarray) -> np.ndarray:
    """For each referral: a distinct earlier referral of the same child in the same LA within 365 days."""
    who = _combine(la, child)
    order = np.argsort(_combine(who, days), kind="stable")
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
    rows = rows[np.argsort(_combine(key[rows], days[rows]), kind="stable")]
    return rows, _rank_in_runs(key[rows])


def _first_per_key(key: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The first of ``rows`` (in record order) for each distinct key."""
    return rows[_first_of_each(key[rows])]


def _match(key_a: np.ndarray, key_b: np.ndarray) -> np.ndarray:
    """For each of ``key_b``: its position in ``key_a`` (distinct values), -1 where absent."""
    return pd.Index(key_a).get_indexer(key_b)


def _matched(values: np.ndarray, rows: np.ndarray, match: np.ndarray, missing) -> np.ndarray:
    """``values[rows[match]]``, ``missing`` where ``match`` is -1 (no match)."""
    out = np.full(len(match), missing, dtype=values.dtype)
    found = match >= 0
    out[found] = values[rows[match[found]]]
    return out


def cin_counts(events: pd.DataFrame, frequency: str = "annual") -> pd.DataFrame:
    """Counts of the CIN measures (``CIN_MEASURES``) per LA, collection year and period (one column each)."""
    grid = _Grid.of(events, frequency)
    codes = grid.codes
    event, kinds = pd.factorize(events["event_type"])
    kind = {name: i for i, name in enumerate(kinds)}

    def of_type(name):
        return event == kind.get(name, -2)

    days = _day_numbers(events["date"])
    offset = grid.offsets(codes, _month_numbers(days))
    child = _codes(events["child"])
    episode = _codes(pd.to_numeric(events["cin_episode"]).fillna(0))
    is_ref, is_start = of_type("referral"), of_type("cpp_start")
    previous = pd.to_numeric(events["number_of_previous_cpp"], errors="coerce").fillna(0).to_numpy() > 0
    rereferral = np.zeros(len(events), dtype=bool)
    refs = np.flatnonzero(is_ref)
    rereferral[refs] = _rereferrals(grid.la_of_row[refs], child[refs], days[refs])
    flows = _Flows(grid, codes, offset, child, days, among=is_ref | is_start | of_type("s47") | of_type("icpc"))
    counts = {"referrals": flows.count(is_ref), "rereferrals": flows.count(rereferral), "s47": flows.count(of_type("s47")),
              "icpc": flows.count(of_type("icpc")), "cpp_starts": flows.count(is_start),
              "cpp_subsequent": flows.count(is_start & previous)}
    key = _combine(codes, child, episode)
    no_end = np.int64(_NO_MONTH)

    # plans: the k-th start paired with the k-th end (by date) within a child's episode of one file
    starts, k_start = _nth(key, days, np.flatnonzero(is_start))
    ends, k_end = _nth(key, days, np.flatnonzero(of_type("cpp_end")))
    pair = _combine(np.concatenate([key[ends], key[starts]]), np.concatenate([k_end, k_start]))
    match = _match(pair[:len(ends)], pair[len(ends):])
    plan_end = _matched(offset, ends, match, no_end)
    counts.update(_stock(grid, codes[starts], offset[starts], plan_end, {"cpp_stock": np.ones(len(starts), bool)}))

    # CIN episodes: first referral to first closure (NFA referrals left out)
    opened = _first_per_key(key, refs)
    closed = _first_per_key(key, np.flatnonzero(of_type("closure")))
    match = _match(key[closed], key[opened])
    episode_end = _matched(offset, closed, match, no_end)
    nfa = events["referral_nfa"].astype("boolean").fillna(False).to_numpy(dtype=bool)[opened]
    counts.update(_stock(grid, codes[opened], offset[opened], episode_end, {"cin_stock": ~nfa}))
    return grid.frame({m: counts[m] for m in CIN_MEASURES})


# --------------------------------------------------------------------------------------------------
# SSDA903
# --------------------------------------------------------------------------------------------------
def cla_counts(episodes: pd.DataFrame, frequency: str = "annual", postcode_lookup: pd.DataFrame | None = None) -> pd.DataFrame:
    """Counts of the SSDA903 measures per LA, collection year and period (one column each).

    ``CLA_MEASURES`` (the annual-only ones at annual frequency), and ``DISTANCE_MEASURES`` when a
    postcode lookup (:func:`csceval.geo.read_postcode_lookup`, or postcodes located beforehand:
    :class:`_Located`) is given.
    """
    grid = _Grid.of(episodes, frequency)
    kept = ~_is(episodes["LS"], SHORT_BREAKS)
    ep = episodes.loc[kept]
    codes = grid.codes[kept]
    child = _codes(ep["child"])
    decom, dec = _day_numbers(ep["DECOM"]), _day_numbers(ep["DEC"])
    start, end = grid.offsets(codes, _month_numbers(decom)), grid.offsets(codes, _month_numbers(dec))

    def has(column, codes):
        return _is(ep[column], codes)

    starting = has("RNE", {"S"})
    rec = ep["REC"].astype("string").fillna("").str.strip()
    ceased = (dec != _LAST) & ~rec.isin(["", "X1"]).to_numpy(dtype=bool)
    starts, exits = _Flows(grid, codes, start, child, among=starting), _Flows(grid, codes, end, child, among=ceased)
    counts = {
        "cla_starts": starts.count(starting),
        "cla_starts_icc": starts.count(starting & has("LS", {"C1"})),
        "cla_exits": exits.count(ceased),
        "cla_exits_sgo": exits.count(ceased & has("REC", SGO)),
        "cla_exits_home": exits.count(ceased & has("REC", HOME)),
        "cla_exits_adoption": exits.count(ceased & has("REC", ADOPTION)),
    }
    masks = {"cla_stock": np.ones(len(ep), bool), "cla_kinship": has("PLACE", KINSHIP),
             "cla_residential": has("PLACE", RESIDENTIAL), "cla_private": has("PLACE_PROVIDER", {"PR4"})}
    if postcode_lookup is not None:
        masks.update(_distance_masks(ep, postcode_lookup))
    counts.update(_stock(grid, codes, start, end, masks))
    measures = [m for m in CLA_MEASURES if m not in ANNUAL_MEASURES]
    if frequency == "annual":
        counts.update(_three_plus(grid, codes, child, decom, dec, ~has("RNE", {"L"})))
        measures += ANNUAL_MEASURES
    if postcode_lookup is not None:
        measures += DISTANCE_MEASURES
    return grid.frame({m: counts[m] for m in measures})


def _distance_masks(ep: pd.DataFrame, lookup: pd.DataFrame) -> dict[str, np.ndarray]:
    """Episodes placed more than ``DISTANCE_MILES`` from home, and episodes with no known distance."""
    from csceval.geo import distance_between_postcodes, haversine_miles

    missing = [c for c in POSTCODE_FIELDS if c not in ep.columns]
    if missing:
        raise ValueError(f"placement distance needs the SSDA903 episode columns {missing}: the episodes given lack them")
    columns = [ep[c] for c in POSTCODE_FIELDS]
    if all(isinstance(c.dtype, pd.CategoricalDtype) for c in columns):
        if not isinstance(lookup, _Located):
            lookup = _Located(np.concatenate([np.asarray(c.cat.categories, dtype=object) for c in columns]), lookup)
        (lat1, lon1), (lat2, lon2) = (lookup.at(c) for c in columns)
        miles = haversine_miles(lat1, lon1, lat2, lon2)
    else:
        lookup = lookup.lookup if isinstance(lookup, _Located) else lookup
        miles = distance_between_postcodes(ep["HOME_POST"], ep["PL_POST"], lookup)
    return {"cla_over_20_miles": miles > DISTANCE_MILES, "cla_distance_unknown": np.isnan(miles)}


class _Located:
    """Postcodes located beforehand (:func:`csceval.geo.locate_postcodes`): distinct text -> centroid.

    Locating costs little per postcode but much per call (a dozen string operations), and an LA's returns
    hold only a few hundred distinct postcodes: the interim path locates every LA's postcodes in one call
    (:meth:`of_files`), then each LA's categories are looked up here.  ``lookup``: the centroid lookup.
    """

    def __init__(self, values, lookup: pd.DataFrame):
        from csceval.geo import locate_postcodes

        self.lookup = lookup
        self.index = pd.Index(pd.unique(pd.Series(values, dtype="string").dropna()), dtype="string")
        lat, lon = locate_postcodes(pd.Series(self.index, dtype="string"), lookup)
        self.lat, self.lon = np.append(lat, np.nan), np.append(lon, np.nan)  # position -1: not located

    @classmethod
    def of_files(cls, paths: list[Path], lookup: pd.DataFrame) -> "_Located":
        """Every distinct postcode of the SSDA903 interim files ``paths`` (only their dictionaries are read)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        values = []
        for path in paths:
            table = pq.ParquetFile(path, read_dictionary=POSTCODE_FIELDS).read(columns=POSTCODE_FIELDS)
            values += [chunk.dictionary.to_numpy(zero_copy_only=False) for column in table.columns
                       for chunk in column.chunks if pa.types.is_dictionary(chunk.type)]
        return cls(np.concatenate(values) if values else np.zeros(0, dtype=object), lookup)

    def at(self, column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Latitude and longitude of each row of a categorical column (NaN: missing or no location)."""
        from csceval.geo import locate_postcodes

        categories = pd.Index(column.cat.categories, dtype="string")
        where = self.index.get_indexer(categories)
        lat, lon = self.lat[where], self.lon[where]
        todo = np.flatnonzero(where < 0)                # not seen beforehand (none on the interim path)
        if len(todo):
            lat[todo], lon[todo] = locate_postcodes(pd.Series(categories[todo], dtype="string"), self.lookup)
        codes = column.cat.codes.to_numpy()
        return np.append(lat, np.nan)[codes], np.append(lon, np.nan)[codes]  # code -1 (missing): NaN


def _three_plus(grid: _Grid, codes, child, decom, dec, placement_change) -> dict[str, np.ndarray]:
    """Looked after on 31 March with 3+ placements in the year, and looked after on 31 March (annual).

    ``decom``, ``dec``: day numbers (``_LAST`` where missing).
    """
    first_day, last_day = grid.year_days()
    in_year = (decom <= last_day[codes]) & (dec >= first_day[codes])
    rows = np.flatnonzero(in_year)
    who = _dense(codes[rows], child[rows])
    order = np.argsort(_combine(who, decom[rows]), kind="stable")    # ties keep record order
    rows, who = rows[order], who[order]
    first_of_child = _rank_in_runs(who) == 0
    n_placements = np.bincount(who, weights=first_of_child | placement_change[rows]).astype(np.int64)
    open_at_end = np.unique(who[dec[rows] == _LAST])
    group = np.empty(len(n_placements), dtype=np.int64)
    group[who] = codes[rows]
    return {"cla_stock_31march": np.bincount(group[open_at_end], minlength=grid.shape[0])[:, None],
            "cla_3plus": np.bincount(group[open_at_end[n_placements[open_at_end] >= 3]],
                                     minlength=grid.shape[0])[:, None]}


def _dense(*codes) -> np.ndarray:
    """0 .. k-1: one number per distinct combination of the integer arrays ``codes``."""
    return pd.factorize(_combine(*codes))[0].astype(np.int64) if len(codes[0]) else np.zeros(0, dtype=np.int64)


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


def _side_by_side(cin: list[pd.DataFrame], cla: list[pd.DataFrame]) -> pd.DataFrame | None:
    """Both collections' counts (lists of :func:`cin_counts`, :func:`cla_counts` frames) side by side.

    ``KEYS`` and one column per measure, or None if there are none.  An LA-year with one collection's
    return but not the other's has missing counts for the other's measures (no rows in the panel, not
    zeros).  One merge for all LAs: merging each LA's pair would cost more than counting a small LA.
    """
    counts = [pd.concat(frames, ignore_index=True) for frames in (cin, cla) if frames]
    if not counts:
        return None
    return counts[0] if len(counts) == 1 else counts[0].merge(counts[1], on=KEYS, how="outer")


def _empty_panel() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(PANEL_COLUMNS, ["str", "datetime64[ns]", "str", "float", "float", "float", "str"])})


def _tidy(wide: pd.DataFrame, population: pd.DataFrame, outcomes=None) -> pd.DataFrame:
    """Wide counts (:func:`_side_by_side`, any number of LAs) -> the tidy panel, sorted.

    ``outcomes`` None: every outcome whose numerator and denominator the counts hold.  Rows whose
    numerator (or, for a share, denominator) is missing are left out.
    """
    measures = [m for m in wide.columns if m not in KEYS]
    if outcomes is None:
        outcomes = [o for o, (num, den) in RECORD_OUTCOMES.items() if num in measures
                    and (den == "population" or den in measures)]
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


def _check_outcomes(outcomes) -> None:
    unknown = [o for o in outcomes if o not in RECORD_OUTCOMES]
    if unknown:
        raise ValueError(f"unknown record-level outcome(s) {unknown}; known: {list(RECORD_OUTCOMES)}")


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
    if outcomes is not None:
        _check_outcomes(outcomes)
    cin = [cin_counts(events, frequency)] if events is not None and len(events) else []
    cla = [cla_counts(episodes, frequency, postcode_lookup)] if episodes is not None and len(episodes) else []
    wide = _side_by_side(cin, cla)
    if wide is None:
        return _empty_panel()
    return _tidy(wide, population, outcomes)


def _read_interim(paths: list[Path], columns: list[str]) -> pd.DataFrame | None:
    """One collection's interim files of one LA (all years, in ``paths`` order) as one frame, or None.

    Only ``columns`` are read.  Text columns (child pseudonyms, codes) are read as the files store them,
    a dictionary of distinct values and an integer per row, and become categoricals: the counts only
    compare them, and turning millions of pseudonyms into strings and hashing them again cost more than
    all the counting.
    """
    if not paths:
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = [c for c in columns if c in _TEXT_COLUMNS]
    tables = [pq.ParquetFile(p, read_dictionary=text).read(columns=columns) for p in paths]
    table = pa.concat_tables(tables, promote_options="permissive").unify_dictionaries()
    categorical = pd.DataFrame({name: _categorical(table.column(name), codes_only=name == "child") for name in text})
    return pd.concat([table.drop_columns(text).to_pandas(), categorical], axis=1)


def _categorical(column, codes_only: bool = False):
    """An Arrow dictionary column whose chunks share one dictionary (``unify_dictionaries``) -> Categorical.

    ``codes_only``: just the integer codes (-1 missing), for the child pseudonyms, which are only compared
    (a Categorical would check its hundred thousand categories are distinct, again).
    """
    import pyarrow as pa

    if not pa.types.is_dictionary(column.type):          # e.g. an all-missing column stored without values
        return pd.Categorical(column.to_pandas())
    codes = [(chunk.indices.fill_null(-1) if chunk.null_count else chunk.indices).to_numpy() for chunk in column.chunks]
    codes = np.concatenate(codes) if codes else np.zeros(0, np.int32)
    if codes_only:
        return codes
    categories = pd.Index(column.chunks[0].dictionary.to_pandas() if column.num_chunks else [], dtype="str")
    return pd.Categorical.from_codes(codes, categories=categories)


def build_panel_from_interim(interim_dirs, population_path, frequency: str = "annual", postcode_lookup=None,
                             threads: int | None = None) -> pd.DataFrame:
    """The records panel from the per-year interim folders rule ``ingest_records`` writes.

    Each folder holds ``ssda903_<la>.parquet`` and ``cin_census_<la>.parquet``.  One LA at a time (all its
    years together, so re-referrals look back across years): memory holds one LA's records, never the
    whole country's.  Each LA's counts are kept wide (a few hundred rows) and made tidy once at the end.
    ``postcode_lookup``: path of a postcode-centroid CSV (placement distance), or None.  ``threads``: 2 or
    more reads the next LA's files while counting this one's (default: ``OMP_NUM_THREADS``, else the
    CPUs, at most 4); the panel is the same whatever the number.
    """
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency {frequency!r} is not one of {FREQUENCIES}")
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
    if lookup is not None:
        lookup = _Located.of_files([p for la in files for p in files[la].get("ssda903", [])], lookup)

    def load(la):
        return (_read_interim(files[la].get("ssda903", []), columns["ssda903"]),
                _read_interim(files[la].get("cin_census", []), columns["cin_census"]))

    cin, cla = [], []
    for episodes, events in _prefetched(sorted(files), load, worker_threads() if threads is None else threads):
        if events is not None and len(events):
            cin.append(cin_counts(events, frequency))
        if episodes is not None and len(episodes):
            cla.append(cla_counts(episodes, frequency, lookup))
    wide = _side_by_side(cin, cla)
    return _empty_panel() if wide is None else _tidy(wide, population)


def _prefetched(items: list, load, threads: int):
    """``load(item)`` for each of ``items``, in order; with ``threads`` > 1 the next item is loaded in a
    background thread while the caller works on this one.

    Reading Parquet releases the GIL, so reading LA n + 1 overlaps counting LA n on a second core.  Only
    one item is read ahead (memory holds two LAs' records), and each result depends only on its item:
    the panel does not depend on the number of threads.
    """
    if threads <= 1 or len(items) <= 1:
        for item in items:
            yield load(item)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = pool.submit(load, items[0])
        for following in [*items[1:], None]:
            current = ahead.result()
            if following is not None:
                ahead = pool.submit(load, following)
            yield current
