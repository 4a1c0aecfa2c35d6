r"""Synthetic record-level returns (SSDA903 episodes, CIN census events) with known true effects.

:func:`simulate_record_returns` runs the same LA-level model as :func:`csceval.simulate.simulate_la_returns`
(same seed, same ``first_year`` / ``last_year``, same programmes and effects: the same latent rates,
the same populations, the same counts) and then writes, for each LA and each *collection year* in
``record_years``, the files an LA would send:

* ``ssda903/<year>/<la_code>/header.csv`` and ``episodes.csv`` -- the SSDA903 CSV tables in the
  layout :func:`csceval.ingest.read_ssda903` reads (dates dd/mm/YYYY; the code lists of that year:
  SEX 1/2 to 2024 and M/F from 2025, SGO exits E43/E44 to 2018 and E45-E48 from 2019, semi-independent
  H5 to 2024 and supported accommodation K3 from 2025, Z1 to 2025 and Z11 from 2026);
* ``cin_census/<year>/<la_code>.csv`` -- the flattened CIN census CSV :func:`csceval.ingest.read_cin_census`
  reads (one row per event: referral, assessment, s47, icpc, cpp_start, cpp_end, closure);
* ``ons_mid-year_population_estimates_<first-1>_to_<last-1>.csv`` -- the ONS 0-17 denominators in the
  EES layout (the same file rule ``simulate`` writes);
* ``la_counts.csv`` -- the LA-level model counts every file was built to reproduce (one row per LA x
  collection year): ``cin_at31``, ``referrals``, ``rereferrals``, ``cpp_at31``, ``cpp_starts``,
  ``cpp_subsequent``, ``cla_at31``, ``cla_starts``, ``population`` (mid-year before);
* ``postcode_centroids.csv`` -- the centroid of every synthetic postcode the episodes use (the
  layout :func:`csceval.geo.read_postcode_lookup` reads), so placement distances can be measured;
* ``true_effects.csv`` (as :func:`simulate_la_returns` writes it) and ``records_manifest.json``.

Exact by construction
---------------------
Counted the DfE way (see :mod:`csceval.records_panel`), each LA x collection year file reproduces
*exactly* the model counts of the LA-level synthetic data: children in need at 31 March, referrals
in the year, re-referrals within 12 months, CPPs at 31 March, CPP starts (and second or subsequent
plans), CLA at 31 March and CLA starts.  So the LA-level truth (``true_effects.csv``) is the truth of
the record-level data too.  How:

**CIN census** (per LA, year *t*).  With model counts *A* (CIN at 31 March), *R* referrals, *RR*
re-referrals (capped at R/2), *N* NFA referrals, *P* CPPs at 31 March, *S* CPP starts:
the file holds *R* referral episodes in the year plus the episodes carried over from before 1 April
(``max(A_{t-1}, A - open_new)``; a referral 1-1,000 days before the year).  Of the episodes referred
in the year, ``RR`` pairs share a child (the first closes, the second is referred 1-120 days later:
a re-referral within 12 months); ``open_new = min(round(0.45 A), R - 2RR)`` are still open on 31 March,
the carried episodes make up the rest of *A*; ``min(N, ...)`` close the day they are referred
(ReferralNFA true); the others close after an assessment.  CPPs open on 31 March sit on open
episodes (about 60% started in the year), the other starts begin and end within the year, carried
CPPs (``max(P_{t-1}, ...)``) sit on carried episodes and those not open on 31 March end in the year.
Every CPP start has an s47 enquiry and an ICPC before it; other episodes referred in the year get
an s47 with probability 0.12 (and an ICPC without a plan after 15% of those), so s47 and ICPC counts
follow the model only in expectation.  Child identifiers are unique within an LA x year
(re-referrals across collection years are therefore not simulated).

**SSDA903** (per LA, year *t*).  With *C* CLA at 31 March and *N* starts: ``stay = min(N, C,
round(C N / (C_{t-1} + N)))`` starters are still looked after on 31 March; ``max(C_{t-1}, C - stay)``
children are carried over (looked after on 1 April, first episode starting 1-2,000 days before),
``C - stay`` of them still on 31 March; the others cease in the year with a reason drawn from the
national mix of 2024 (SGO 12%, returned home 20%, adopted 9%, ...).  Each child has 1-4 placements
in the year (P(3+) = 0.10, the national share of CLA with 3 or more placements), as episodes that
follow one another without gaps (``REC = X1``, ``RNE = P``); placement types follow the national mix
of 31 March 2024 (kinship foster U1-U3 16%, other foster 51%, children's homes 10%, supported 7%,
with parents 6%, ...).

**Postcodes.**  Synthetic postcodes are in areas beginning with Q, which no real postcode uses: LA
``abc`` has district ``Q<letter a><bc>`` (838 is QG38).  A child's HOME_POST is a unit of sector 1 of
its LA's district; each episode's PL_POST is drawn from the 2024 national mix of CLA on 31 March
(``_DISTANCE``): 69% near home (a unit of sector 2, or the home postcode for a placement with parents,
P1), 22% more than 20 miles away (sector 9), 9% distance unknown (5% PL_POST blank, 4% a sector 8
unit missing from the lookup).  In ``postcode_centroids.csv`` sectors 1 and 2 lie within 2 miles of
the LA's centre and sector 9 units 25-150 miles from it, so a placement is near (under 5 miles) or far
(over 22 miles) by construction, never close to the 20-mile line.

Randomness: one stream per component from :func:`csceval.simulate._dgp.rng` (``"records", ...``),
so the record files do not change any LA-level draw, and the same inputs give byte-identical files.
Synthetic units (``X0001``...) are not real LAs and the readers refuse their codes: record-level
returns are written for real LAs only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ._dgp import rng, round_half_up
from ._ees import write_population_file
from ._model import LAModel, la_level_model  # noqa: F401

__all__ = ["simulate_record_returns", "la_level_model", "RECORD_YEARS", "LA_COUNT_COLUMNS", "POSTCODE_LOOKUP_FILE"]

#: Collection years the readers' schemas cover.
RECORD_YEARS = range(2017, 2027)

LA_COUNT_COLUMNS = ["la_code", "collection_year", "cin_at31", "referrals", "rereferrals", "cpp_at31",
                    "cpp_starts", "cpp_subsequent", "cla_at31", "cla_starts", "population"]

CIN_COLUMNS = ["child", "la_code", "event_type", "date", "cin_episode", "referral_source", "referral_nfa",
               "primary_need", "category_of_abuse", "number_of_previous_cpp", "reason_for_closure"]
EPISODE_COLUMNS = ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
                   "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"]
HEADER_COLUMNS = ["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"]

# National mixes (domain facts section 3: 2024 figures), as code -> share.
_PLACEMENTS = {"U1": 0.06, "U2": 0.01, "U3": 0.09, "U4": 0.20, "U5": 0.01, "U6": 0.30, "K2": 0.09,
               "R1": 0.01, "SUPPORTED": 0.07, "P1": 0.06, "A6": 0.02, "K1": 0.01, "S1": 0.01,
               "R5": 0.01, "OTHER": 0.05}
_EXITS = {"SGO": 0.12, "E4A": 0.17, "E4B": 0.03, "E11": 0.06, "E12": 0.03, "E13": 0.05, "E41": 0.05,
          "E5": 0.08, "E6": 0.04, "E17": 0.10, "E3": 0.04, "E9": 0.02, "E8": 0.21}
_SGO_SPLIT = {"E45": 0.68, "E46": 0.04, "E47": 0.22, "E48": 0.06}
_EXTRA_PLACEMENTS = (0.72, 0.18, 0.07, 0.03)        # P(0, 1, 2, 3 further placements in the year)
_PROVIDERS = {"PR1": 0.50, "PR4": 0.38, "PR5": 0.07, "PR2": 0.05}
_LS_START = {"V2": 0.62, "C1": 0.30, "L2": 0.08}
_LS_CARRIED = {"C2": 0.62, "V2": 0.20, "E1": 0.10, "C1": 0.08}
_CIN_CODE = {"N1": 0.64, "N2": 0.03, "N3": 0.03, "N4": 0.08, "N5": 0.15, "N6": 0.02, "N7": 0.01, "N8": 0.04}
_ETHNIC = {"WBRI": 0.70, "WOTH": 0.05, "MOTH": 0.04, "MWBC": 0.03, "AOTH": 0.03, "APKN": 0.03,
           "BAFR": 0.04, "BOTH": 0.02, "OOTH": 0.03, "NOBT": 0.03}
_REFERRAL_SOURCE = {"5A": 0.08, "2A": 0.20, "3A": 0.05, "3E": 0.04, "3F": 0.05, "1A": 0.06, "1C": 0.02,
                    "4": 0.30, "6": 0.08, "7": 0.02, "8": 0.03, "9": 0.07}
_ABUSE = {"NEG": 0.50, "EMO": 0.36, "PHY": 0.07, "SAB": 0.04, "MUL": 0.03}
_NEED = {"N1": 0.57, "N2": 0.07, "N3": 0.04, "N4": 0.13, "N5": 0.12, "N6": 0.02, "N8": 0.05}
#: Placement distance of CLA on 31 March 2024 (DfE): over 20 miles 22%, distance unknown 9%.
_DISTANCE = {"near": 0.69, "far": 0.22, "blank": 0.05, "unlisted": 0.04}
POSTCODE_LOOKUP_FILE = "postcode_centroids.csv"
_UNIT_LETTERS = np.array(list("ABDEFGHJLN"), dtype=object)   # 10 x 10 = 100 units per sector
_UNITS_PER_SECTOR = 100
_SECTORS = {"home": 1, "near": 2, "unlisted": 8, "far": 9}
_MILES_PER_DEGREE = 6371.0088 / 1.609344 * np.pi / 180       # along a meridian
_P_S47 = 0.12          # extra s47 enquiries on other episodes referred in the year
_P_ICPC_NO_PLAN = 0.15  # of those, ICPCs that do not lead to a plan


# --------------------------------------------------------------------------------------------------
# vectorised helpers
# --------------------------------------------------------------------------------------------------
def _choice(g: np.random.Generator, mix: dict, n: int) -> np.ndarray:
    keys = np.array(list(mix), dtype=object)
    p = np.array(list(mix.values()), dtype=float)
    return keys[g.choice(len(keys), size=n, p=p / p.sum())]


def _expand(counts: np.ndarray):
    """Group index and within-group position of ``counts.sum()`` rows (groups in order)."""
    counts = np.asarray(counts, dtype=np.int64)
    group = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return group, np.arange(counts.sum()) - starts[group]


def _uniform_days(g, low, high) -> np.ndarray:
    """Integer days uniform on [low, high] (arrays; high >= low)."""
    low = np.asarray(low, dtype=np.int64)
    high = np.maximum(np.asarray(high, dtype=np.int64), low)
    return low + np.floor(g.random(np.broadcast(low, high).shape) * (high - low + 1)).astype(np.int64)


def _fmt_days(days: np.ndarray, fmt: str) -> np.ndarray:
    """Day numbers (``datetime64[D]`` or int days since 1970; NaT / int64 min for blank) -> strings.

    Formats each distinct day once (a return spans a few thousand days at most).
    """
    d = np.asarray(days).astype("datetime64[D]")
    uniq, inverse = np.unique(d, return_inverse=True)
    text = pd.Series(uniq.astype("datetime64[s]")).dt.strftime(fmt).fillna("").to_numpy(dtype=object)
    return text[inverse.ravel()]


def _fmt_dmy(days: np.ndarray) -> np.ndarray:
    """dd/mm/YYYY (the SSDA903 CSV format), '' for a blank date."""
    return _fmt_days(days, "%d/%m/%Y")


def _fmt_iso(days: np.ndarray) -> np.ndarray:
    """YYYY-MM-DD (the flattened CIN census CSV), '' for a blank date."""
    return _fmt_days(days, "%Y-%m-%d")


def _prev(values: np.ndarray, reports: np.ndarray) -> np.ndarray:
    """Value of the year before (the LA's own value in its first reporting year)."""
    out = values.copy()
    out[:, 1:] = np.where(reports[:, :-1], values[:, :-1], values[:, 1:])
    return out


# --------------------------------------------------------------------------------------------------
# CIN census
# --------------------------------------------------------------------------------------------------
def _cin_events(g, la: np.ndarray, year: np.ndarray, A, A_prev, R, RR, NFA, P, P_prev, S, SUB,
                assessments: bool = True) -> pd.DataFrame:
    """Flattened CIN events for LA-years (parallel arrays, one entry per LA x year)."""
    RR = np.minimum(RR, R // 2)
    # CPPs open on 31 March: k_new started in the year on open new episodes, k_new2 started in the
    # year on open carried episodes, k_old started before the year (on open carried episodes)
    k_new = np.minimum(np.minimum(round_half_up(0.6 * P), S), R - 2 * RR)
    open_new = np.maximum(k_new, np.minimum(np.minimum(round_half_up(0.45 * A), R - 2 * RR), A - P + k_new))
    carried_open = A - open_new
    s_closed = np.minimum(S - k_new, R - RR - open_new)   # starts ending in the year, on new episodes
    nfa = np.maximum(np.minimum(NFA, R - 2 * RR - open_new - np.maximum(s_closed - RR, 0)), 0)
    rest = R - 2 * RR - open_new - nfa
    left = S - k_new - s_closed                            # starts placed on carried episodes
    k_new2 = np.minimum(left, P - k_new)
    k_old = P - k_new - k_new2
    s_closed2 = left - k_new2
    e_old = np.maximum(P_prev - k_old, 0)                  # plans from before the year ending in it
    carried = np.maximum(A_prev, carried_open + e_old + s_closed2)
    sub_new = np.minimum(SUB, k_new + s_closed)            # repeat plans among in-year episodes' starts
    sub_carried = SUB - sub_new
    if (k_old < 0).any() or (k_old > carried_open).any() or (open_new > A).any():
        bad = np.flatnonzero((k_old < 0) | (k_old > carried_open) | (open_new > A))[0]
        raise ValueError(f"records: LA {la[bad]} {year[bad]}: CPP counts (at 31 March {P[bad]}, starts {S[bad]}) "
                         f"do not fit the CIN episodes (referrals {R[bad]}, at 31 March {A[bad]})")

    ys = (year - 1).astype("int64")
    y0 = (np.array([f"{y}-04-01" for y in ys], dtype="datetime64[D]")).astype(np.int64)   # day numbers
    y1 = y0 + np.array([364 + (1 if ((y + 1) % 4 == 0) else 0) for y in ys])             # 31 March

    # ---- episodes referred in the year ------------------------------------------------------
    gi, pos = _expand(R)
    n = len(gi)
    rr, on, nf = RR[gi], open_new[gi], nfa[gi]
    role = np.select([pos < rr, pos < 2 * rr, pos < 2 * rr + on, pos < 2 * rr + on + nf],
                     ["first", "second", "open", "nfa"], "closed").astype(object)
    child_no = np.where(role == "second", pos - rr, pos)                  # pairs share a child
    episode_no = np.where(role == "second", 2, 1)
    start, end = y0[gi], y1[gi]
    ref = np.empty(n, dtype=np.int64)
    close = np.full(n, -1, dtype=np.int64)
    is_first, is_second = role == "first", role == "second"
    ref_first = _uniform_days(g, start, start + 150)
    close_first = ref_first + _uniform_days(g, 1, 60)
    # second of a pair: its own first's dates (the first of pair j sits at position j of the group)
    base = np.cumsum(R) - R
    first_row = base[gi] + np.where(is_second, pos - rr, pos)
    ref[is_first] = ref_first[is_first]
    close[is_first] = close_first[is_first]
    ref[is_second] = close_first[first_row[is_second]] + _uniform_days(g, np.ones(is_second.sum()), 120)
    other = ~(is_first | is_second)
    ref[other] = _uniform_days(g, start[other], end[other])
    is_nfa = role == "nfa"
    close[is_nfa] = ref[is_nfa]
    # closed after assessment (and pair seconds): close by 31 March
    closing = (role == "closed") | is_second
    ref[role == "closed"] = _uniform_days(g, start[role == "closed"], end[role == "closed"] - 30)
    close[closing] = _uniform_days(g, ref[closing] + 1, end[closing])
    # CPPs: the first k_new open episodes, the first s_closed closing episodes (closed role first)
    closing_rank = np.where(role == "closed", pos - 2 * rr - on - nf, np.where(is_second, rest[gi] + pos - rr, -1))
    cpp_open = (role == "open") & (pos - 2 * rr < k_new[gi])
    cpp_closed = closing & (closing_rank >= 0) & (closing_rank < s_closed[gi])
    has_cpp = cpp_open | cpp_closed
    # CPP timeline within [ref, close or 31 March]: s47 <= icpc = cpp_start <= cpp_end <= close
    stop = np.where(close >= 0, close, end)
    u = np.sort(g.random((n, 3)), axis=1)
    span = stop - ref
    s47 = ref + np.floor(u[:, 0] * 0.3 * span).astype(np.int64)
    cpp_start = s47 + np.floor(u[:, 1] * 0.3 * span).astype(np.int64)
    cpp_end = cpp_start + np.floor((stop - cpp_start) * (0.5 + 0.5 * u[:, 2])).astype(np.int64)
    # repeat plans: the first SUB starts of the LA-year are second or subsequent
    cum_excl = np.cumsum(has_cpp) - has_cpp
    rank_in_group = cum_excl - cum_excl[base[gi]]          # order of the CPP starts within the LA-year
    prev_cpp = np.where(has_cpp & (rank_in_group < sub_new[gi]), 1 + (g.random(n) < 0.3), 0)
    extra_s47 = ~has_cpp & ~is_nfa & (g.random(n) < _P_S47)
    extra_icpc = extra_s47 & (g.random(n) < _P_ICPC_NO_PLAN)
    s47_extra_date = ref + np.floor(g.random(n) * 0.5 * span).astype(np.int64)
    icpc_extra_date = s47_extra_date + np.floor(g.random(n) * (stop - s47_extra_date) * 0.5).astype(np.int64)

    la_num = la.astype(np.int64)
    ids = la_num[gi] * 10**8 + (year[gi] % 100) * 10**6 + child_no
    frames = []
    ref_source = _choice(g, _REFERRAL_SOURCE, n)
    need = _choice(g, _NEED, n)
    abuse = _choice(g, _ABUSE, n)
    closure_reason = np.where(is_nfa, "RC8", _choice(g, {"RC7": 0.55, "RC8": 0.35, "RC5": 0.05, "RC4": 0.02, "RC3": 0.03}, n))
    yr_la = la[gi]

    def ev(mask, etype, date, **attrs):
        d = {"child": ids[mask], "la_code": yr_la[mask], "event_type": etype, "date": date[mask],
             "cin_episode": episode_no[mask], "_group": gi[mask]}
        for k, v in attrs.items():
            d[k] = v[mask] if isinstance(v, np.ndarray) else v
        frames.append(pd.DataFrame(d))

    every = np.ones(n, dtype=bool)
    ev(every, "referral", ref, referral_source=ref_source, referral_nfa=np.where(is_nfa, "true", "false"),
       primary_need=need)
    if assessments:
        ev(~is_nfa, "assessment", np.minimum(ref + _uniform_days(g, np.zeros(n), 10), stop))
    ev(has_cpp, "s47", s47)
    ev(has_cpp, "icpc", cpp_start)
    ev(has_cpp, "cpp_start", cpp_start, category_of_abuse=abuse, number_of_previous_cpp=prev_cpp.astype(str))
    ev(cpp_closed, "cpp_end", cpp_end, category_of_abuse=abuse, number_of_previous_cpp=prev_cpp.astype(str))
    ev(extra_s47, "s47", s47_extra_date)
    ev(extra_icpc, "icpc", icpc_extra_date)
    ev(close >= 0, "closure", close, reason_for_closure=closure_reason)

    # ---- carried-over episodes (referred before 1 April) --------------------------------------
    ci, cpos = _expand(carried)
    m = len(ci)
    c_open = cpos < carried_open[ci]
    c_start, c_end = y0[ci], y1[ci]
    c_ref = c_start - _uniform_days(g, np.ones(m), 1000)
    c_close = np.where(c_open, -1, _uniform_days(g, c_start, c_end))
    # plans on carried episodes, by position: [0, k_old) old and open; [k_old, k_old + k_new2) new and
    # open; [carried_open, + e_old) old ending in the year; [carried_open + e_old, + s_closed2) new, ending
    ko, kn2, co, eo, sc2 = k_old[ci], k_new2[ci], carried_open[ci], e_old[ci], s_closed2[ci]
    old_open = cpos < ko
    new_open = (cpos >= ko) & (cpos < ko + kn2)
    old_end = (cpos >= co) & (cpos < co + eo)
    new_end = (cpos >= co + eo) & (cpos < co + eo + sc2)
    c_stop = np.where(c_close >= 0, c_close, c_end)
    u = np.sort(g.random((m, 2)), axis=1)
    in_year_start = c_start + np.floor(u[:, 0] * (c_stop - c_start)).astype(np.int64)
    c_cpp_start = np.where(old_open | old_end, c_ref + np.floor(g.random(m) * (c_start - c_ref)).astype(np.int64),
                           in_year_start)
    c_cpp_end = np.where(old_end, _uniform_days(g, c_start, c_stop),
                         in_year_start + np.floor(u[:, 1] * (c_stop - in_year_start)).astype(np.int64))
    c_cpp = old_open | new_open | old_end | new_end
    c_new = new_open | new_end
    c_new_rank = np.where(new_open, cpos - ko, np.where(new_end, kn2 + cpos - co - eo, -1))
    c_ids = la_num[ci] * 10**8 + (year[ci] % 100) * 10**6 + 500_000 + cpos
    c_abuse = _choice(g, _ABUSE, m)
    c_prev = np.where(c_new, np.where(c_new_rank < sub_carried[ci], "1", "0"), np.where(g.random(m) < 0.2, "1", "0"))
    c_reason = _choice(g, {"RC7": 0.75, "RC5": 0.05, "RC4": 0.05, "RC3": 0.05, "RC1": 0.05, "RC6": 0.05}, m)
    c_la = la[ci]

    def cev(mask, etype, date, **attrs):
        d = {"child": c_ids[mask], "la_code": c_la[mask], "event_type": etype, "date": date[mask],
             "cin_episode": 1, "_group": ci[mask]}
        for k, v in attrs.items():
            d[k] = v[mask] if isinstance(v, np.ndarray) else v
        frames.append(pd.DataFrame(d))

    allc = np.ones(m, dtype=bool)
    cev(allc, "referral", c_ref, referral_source=_choice(g, _REFERRAL_SOURCE, m), referral_nfa="false",
        primary_need=_choice(g, _NEED, m))
    cev(c_new, "s47", c_cpp_start)
    cev(c_new, "icpc", c_cpp_start)
    cev(c_cpp, "cpp_start", c_cpp_start, category_of_abuse=c_abuse, number_of_previous_cpp=c_prev)
    cev(old_end | new_end, "cpp_end", c_cpp_end, category_of_abuse=c_abuse, number_of_previous_cpp=c_prev)
    cev(c_close >= 0, "closure", c_close, reason_for_closure=c_reason)

    out = pd.concat(frames, ignore_index=True)
    out["date"] = out["date"].to_numpy().astype("datetime64[D]")
    return out


# --------------------------------------------------------------------------------------------------
# SSDA903
# --------------------------------------------------------------------------------------------------
def _cla_records(g, la: np.ndarray, year: np.ndarray, C, C_prev, N) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SSDA903 header and episode rows for LA-years (parallel arrays)."""
    denom = np.maximum(C_prev + N, 1)
    stay = np.minimum(np.minimum(N, C), round_half_up(C * N / denom))
    carried_stay = C - stay
    carried = np.maximum(C_prev, carried_stay)
    ys = (year - 1).astype("int64")
    y0 = (np.array([f"{y}-04-01" for y in ys], dtype="datetime64[D]")).astype(np.int64)
    y1 = y0 + np.array([364 + (1 if ((y + 1) % 4 == 0) else 0) for y in ys])

    # children: starters first, then carried
    si, spos = _expand(N)
    ci, cpos = _expand(carried)
    grp = np.concatenate([si, ci])
    is_starter = np.concatenate([np.ones(len(si), bool), np.zeros(len(ci), bool)])
    stays = np.concatenate([spos < stay[si], cpos < carried_stay[ci]])
    number = np.concatenate([spos, 500_000 + cpos])
    k = len(grp)
    start_yr, end_yr = y0[grp], y1[grp]
    first_decom = np.where(is_starter, _uniform_days(g, start_yr, end_yr), start_yr - _uniform_days(g, np.ones(k), 2000))
    in_from = np.maximum(first_decom, start_yr)
    leave = np.where(stays, -1, _uniform_days(g, in_from, end_yr))
    leave = np.where(~stays & ~is_starter & (leave < start_yr), start_yr, leave)
    stop = np.where(leave >= 0, leave, end_yr)
    extra = g.choice(len(_EXTRA_PLACEMENTS), size=k, p=np.array(_EXTRA_PLACEMENTS) / sum(_EXTRA_PLACEMENTS))
    extra = np.minimum(extra, np.maximum(stop - in_from, 0))  # at least one day per placement
    n_ep = 1 + extra

    ei, epos = _expand(n_ep)
    e = len(ei)
    # cut points in (in_from, stop): sorted uniforms per child, distinct days
    u = g.random(e)
    order = np.lexsort((u, ei))
    u_sorted = u[order]
    span = (stop - in_from)[ei]
    cut = in_from[ei] + 1 + np.floor(u_sorted * np.maximum(span - 1, 0)).astype(np.int64)
    # make cuts strictly increasing within a child: cut_j + j (bounded by stop)
    cut = np.minimum(cut + epos, stop[ei])
    decom = np.where(epos == 0, first_decom[ei], np.roll(cut, 1))
    last = epos == n_ep[ei] - 1
    dec = np.where(last, leave[ei], cut)
    # RNE, LS, placement, provider, reason
    ls_child = np.where(is_starter, _choice(g, _LS_START, k), _choice(g, _LS_CARRIED, k))
    cin_child = _choice(g, _CIN_CODE, k)
    rne = np.where(epos == 0, np.where(is_starter[ei], "S", "P"), "P")
    place = _choice(g, _PLACEMENTS, e)
    yrs = year[grp][ei]
    place = np.where(place == "SUPPORTED", np.where(yrs <= 2024, "H5", "K3"), place)
    place = np.where(place == "OTHER", np.where(yrs <= 2025, "Z1", "Z11"), place)
    provider = np.where(place == "P1", "PR0", _choice(g, _PROVIDERS, e))
    exit_code = _choice(g, _EXITS, k)
    sgo = np.where(year[grp] <= 2018, _choice(g, {"E43": 0.3, "E44": 0.7}, k), _choice(g, _SGO_SPLIT, k))
    exit_code = np.where(exit_code == "SGO", sgo, exit_code)
    rec = np.where(last, np.where(leave[ei] >= 0, exit_code[ei], ""), "X1")
    reason = np.where(~last, _choice(g, {"CARPL": 0.55, "CREQB": 0.12, "CREQO": 0.1, "CHILD": 0.08, "OTHER": 0.15}, e), "")

    ids = la.astype(np.int64)[grp] * 10**8 + (year[grp] % 100) * 10**6 + number
    dec_days = np.where(dec >= 0, dec, np.iinfo(np.int64).min)
    episodes = pd.DataFrame({
        "CHILD": ids[ei], "DECOM": decom.astype("datetime64[D]"),
        "RNE": rne, "LS": ls_child[ei], "CIN": cin_child[ei], "PLACE": place, "PLACE_PROVIDER": provider,
        "DEC": np.where(dec >= 0, dec_days, np.iinfo(np.int64).min).astype("datetime64[D]"),
        "REC": rec, "REASON_PLACE_CHANGE": reason, "HOME_POST": "", "PL_POST": "", "URN": "",
        "_group": grp[ei],
    })
    age_days = _uniform_days(g, np.full(k, 30), np.full(k, 16 * 365))
    dob = np.minimum(first_decom, start_yr) - age_days
    male = g.random(k) < 0.56
    sex = np.where(year[grp] <= 2024, np.where(male, "1", "2"), np.where(male, "M", "F"))
    upn = "A" + pd.Series(g.integers(10**11, 10**12, size=k)).astype(str).to_numpy(dtype=object)
    header = pd.DataFrame({"CHILD": ids, "SEX": sex, "DOB": dob.astype("datetime64[D]"),
                           "ETHNIC": _choice(g, _ETHNIC, k), "UPN": upn, "MOTHER": "", "MC_DOB": "", "_group": grp})
    return header, episodes


# --------------------------------------------------------------------------------------------------
# postcodes
# --------------------------------------------------------------------------------------------------
def _district(la_codes: np.ndarray) -> np.ndarray:
    """Synthetic postcode district of each LA: ``Q``, a letter for the code's hundreds, its last two digits."""
    code = np.asarray(la_codes).astype(np.int64)
    return np.array([f"Q{'ABCDEFGH'[c // 100 - 2]}{c % 100:02d}" for c in code], dtype=object)


def _unit(district: np.ndarray, sector: int, unit: np.ndarray) -> np.ndarray:
    """Postcodes ``<district> <sector><two letters>`` for unit numbers 0-99."""
    unit = np.asarray(unit, dtype=np.int64)
    inward = f"{sector}" + _UNIT_LETTERS[unit // 10] + _UNIT_LETTERS[unit % 10]
    return np.asarray(district, dtype=object) + " " + inward


def _episode_postcodes(g: np.random.Generator, la: np.ndarray, header: pd.DataFrame,
                       episodes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """HOME_POST (the child's, on every episode) and PL_POST of each episode (see the module docstring)."""
    district = _district(la)
    home_of_child = _unit(district[header["_group"].to_numpy()], _SECTORS["home"],
                          g.integers(0, _UNITS_PER_SECTOR, size=len(header)))
    child = pd.Index(header["CHILD"].to_numpy()).get_indexer(episodes["CHILD"].to_numpy())
    home = home_of_child[child]
    ep_district = district[episodes["_group"].to_numpy()]
    kind = _choice(g, _DISTANCE, len(episodes))
    unit = g.integers(0, _UNITS_PER_SECTOR, size=len(episodes))
    placed = np.full(len(episodes), "", dtype=object)
    for name in ("near", "far", "unlisted"):
        rows = kind == name
        placed[rows] = _unit(ep_district[rows], _SECTORS[name], unit[rows])
    with_parents = (kind == "near") & (episodes["PLACE"].to_numpy() == "P1")
    placed[with_parents] = home[with_parents]
    return home, placed


def _offsets(g: np.random.Generator, n: int, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """North and east offsets (miles) of ``n`` points spread evenly over the ring ``low``-``high`` miles."""
    radius = np.sqrt(low**2 + g.random(n) * (high**2 - low**2))
    bearing = g.random(n) * 2 * np.pi
    return radius * np.cos(bearing), radius * np.sin(bearing)


def _postcode_lookup(seed: int, la_codes) -> pd.DataFrame:
    """Centroids of the listed sectors (1, 2, 9) of each LA's synthetic district (see the module docstring).

    Each LA's centre and units come from the LA's own stream: the same whichever LAs are written.
    """
    rows = []
    units = np.arange(_UNITS_PER_SECTOR)
    for code in sorted({str(c) for c in la_codes}):
        g = rng(seed, "records", "postcodes", "lookup", code)
        lat0, lon0 = 50.8 + 4.0 * g.random(), -3.0 + 3.5 * g.random()
        district = _district(np.array([code]))[0]
        for name, (low, high) in (("home", (0.0, 2.0)), ("near", (0.0, 2.0)), ("far", (25.0, 150.0))):
            north, east = _offsets(g, _UNITS_PER_SECTOR, low, high)
            lat = lat0 + north / _MILES_PER_DEGREE
            lon = lon0 + east / (_MILES_PER_DEGREE * np.cos(np.radians(lat0)))
            rows.append(pd.DataFrame({"postcode": _unit(np.full(len(units), district), _SECTORS[name], units),
                                      "latitude": np.round(lat, 6), "longitude": np.round(lon, 6)}))
    return pd.concat(rows, ignore_index=True)


def _write_groups(frame: pd.DataFrame, columns: list[str], path_of):
    """Write the rows of each ``_group`` (frame sorted by it) to ``path_of(group)`` as CSV; yield (group, path).

    pyarrow's CSV writer, unquoted (no field holds a comma or a quote), blank for missing values.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    order = np.argsort(frame["_group"].to_numpy(), kind="stable")
    frame = frame.iloc[order]
    groups = frame["_group"].to_numpy()
    table = pa.Table.from_pandas(frame[columns], preserve_index=False)
    bounds = np.flatnonzero(np.diff(groups)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(groups)]])
    options = pacsv.WriteOptions(quoting_style="none", include_header=False)
    header = (",".join(columns) + "\n").encode("utf-8")
    for a, b in zip(starts, ends):
        if b <= a:
            continue
        gid = int(groups[a])
        path = path_of(gid)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(header)
            pacsv.write_csv(table.slice(a, b - a), handle, write_options=options)
        yield gid, path


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))


def simulate_record_returns(out_dir, *, seed: int, first_year: int = 2013, last_year: int = 2029,
                            record_years=(2017, 2026), programmes: dict, effects: dict,
                            national_rollout: dict | None = None, n_las: int | None = None,
                            la_codes=None, assessments: bool = True) -> dict:
    """Write synthetic SSDA903 and CIN census returns per LA and collection year (see module docstring).

    Parameters
    ----------
    out_dir : path
        Folder to write into.
    seed, first_year, last_year, programmes, effects, national_rollout, n_las
        As for :func:`csceval.simulate.simulate_la_returns` (the LA-level model is that one).
    record_years : (int, int)
        First and last collection year of the record files; within 2017-2026 (the readers' schemas)
        and within ``first_year``..``last_year``.
    la_codes : list of str, optional
        Write only these LAs (all simulated real LAs by default).
    assessments : bool
        Write an assessment event for every referral not closed with no further action (True), or
        leave assessments out (a smaller file at national scale; no panel measure uses them).

    Returns
    -------
    dict
        ``{"ssda903": folder, "cin_census": folder, "population": path, "la_counts": path,
        "true_effects": path, "postcode_lookup": path, "manifest": path, "files": [(la_code, year, kind, path), ...]}``.
    """
    lo, hi = (int(y) for y in record_years)
    if lo > hi or lo < RECORD_YEARS.start or hi > RECORD_YEARS.stop - 1:
        raise ValueError(f"record_years {record_years!r}: must lie within {RECORD_YEARS.start}-{RECORD_YEARS.stop - 1}")
    if lo < first_year or hi > last_year:
        raise ValueError(f"record_years {record_years!r} must lie within first_year..last_year ({first_year}-{last_year})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = la_level_model(seed=seed, first_year=first_year, last_year=last_year, programmes=programmes,
                           effects=effects, national_rollout=national_rollout, n_las=n_las)
    units, years, cols, rep = model.panel.units, model.years, model.columns, model.reports
    take_year = (years >= lo) & (years <= hi)
    take_unit = np.asarray(units.is_real, dtype=bool)
    if la_codes is not None:
        wanted = {str(c) for c in la_codes}
        unknown = wanted - set(units.code[take_unit])
        if unknown:
            raise ValueError(f"la_codes {sorted(unknown)} are not simulated real LAs")
        take_unit &= np.isin(units.code, sorted(wanted))
    ui, ti = np.nonzero(rep & take_unit[:, None] & take_year[None, :])
    la = units.code[ui].astype(str)
    yr = years[ti].astype(np.int64)

    def at(name):
        return cols[name][ui, ti].astype(np.int64)

    def prev(name):
        return _prev(cols[name], rep)[ui, ti].astype(np.int64)

    written = []
    cin_dir, cla_dir = out_dir / "cin_census", out_dir / "ssda903"
    totals = {"events": 0, "episodes": 0, "children": 0}
    for year in range(lo, hi + 1):       # one collection year at a time: memory stays bounded
        sel = np.flatnonzero(yr == year)
        if not len(sel):
            continue

        def at_y(name, sel=sel):
            return at(name)[sel]

        def prev_y(name, sel=sel):
            return prev(name)[sel]

        events = _cin_events(rng(seed, "records", "cin", str(year)), la[sel], yr[sel], at_y("At31_episodes"),
                             prev_y("At31_episodes"), at_y("referral_count"), at_y("rereferral_count"),
                             at_y("no_further_action_count"), at_y("CPP_At31"), prev_y("CPP_At31"),
                             at_y("CPP_start"), at_y("CPP_subsequent"), assessments=assessments)
        order = np.lexsort((events["date"].to_numpy(), events["cin_episode"].to_numpy(),
                            events["child"].to_numpy(), events["_group"].to_numpy()))
        events = events.iloc[order].reset_index(drop=True)
        events["date"] = _fmt_iso(events["date"].to_numpy())
        for gid, path in _write_groups(events, CIN_COLUMNS, lambda gid, sel=sel: cin_dir / str(year) / f"{la[sel][gid]}.csv"):
            written.append((la[sel][gid], year, "cin_census", path))
        totals["events"] += len(events)
        del events
        header, episodes = _cla_records(rng(seed, "records", "cla", str(year)), la[sel], yr[sel],
                                        at_y("cla_on_31_march"), prev_y("cla_on_31_march"), at_y("cla_starting"))
        episodes["HOME_POST"], episodes["PL_POST"] = _episode_postcodes(rng(seed, "records", "postcodes", str(year)),
                                                                        la[sel], header, episodes)
        episodes["DECOM"] = _fmt_dmy(episodes["DECOM"].to_numpy())
        episodes["DEC"] = _fmt_dmy(episodes["DEC"].to_numpy())
        header["DOB"] = _fmt_dmy(header["DOB"].to_numpy())
        folder = lambda gid, sel=sel: cla_dir / str(year) / la[sel][gid]  # noqa: E731
        for gid, path in _write_groups(episodes, EPISODE_COLUMNS, lambda gid: folder(gid) / "episodes.csv"):
            written.append((la[sel][gid], year, "ssda903", path.parent))
        list(_write_groups(header, HEADER_COLUMNS, lambda gid: folder(gid) / "header.csv"))
        totals["episodes"] += len(episodes)
        totals["children"] += len(header)

    counts = pd.DataFrame({
        "la_code": la, "collection_year": yr, "cin_at31": at("At31_episodes"), "referrals": at("referral_count"),
        "rereferrals": np.minimum(at("rereferral_count"), at("referral_count") // 2), "cpp_at31": at("CPP_At31"),
        "cpp_starts": at("CPP_start"), "cpp_subsequent": at("CPP_subsequent"), "cla_at31": at("cla_on_31_march"),
        "cla_starts": at("cla_starting"), "population": model.panel.pop_mid[ui, ti].astype(np.int64),
    })[LA_COUNT_COLUMNS]
    counts_path = out_dir / "la_counts.csv"
    _write_csv(counts_path, counts)
    pop_name = f"ons_mid-year_population_estimates_{first_year - 1}_to_{last_year - 1}.csv"
    pop_path = write_population_file(out_dir / pop_name, model.panel)
    lookup_path = out_dir / POSTCODE_LOOKUP_FILE
    _write_csv(lookup_path, _postcode_lookup(seed, np.unique(la)))
    from csceval.simulate import _write_truth

    truth_path = _write_truth(out_dir / "true_effects.csv", model.truth_records)
    manifest = {
        "generator": "csceval.simulate.records.simulate_record_returns",
        "seed": seed,
        "parameters": {"first_year": first_year, "last_year": last_year, "record_years": [lo, hi], "n_las": n_las,
                       "la_codes": None if la_codes is None else sorted(str(c) for c in la_codes)},
        "n_la_years": int(len(la)),
        "n_cin_events": totals["events"],
        "n_ssda903_episodes": totals["episodes"],
        "n_ssda903_children": totals["children"],
    }
    manifest_path = out_dir / "records_manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return {"ssda903": cla_dir, "cin_census": cin_dir, "population": pop_path, "la_counts": counts_path,
            "true_effects": truth_path, "postcode_lookup": lookup_path, "manifest": manifest_path, "files": written}
