"""Record-level returns -> LA x period panel: hand-built records with hand-counted measures."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from csceval.geo import read_postcode_lookup
from csceval.panel import PANEL_COLUMNS
from csceval.records_panel import build_records_panel, periods_of_year

POP = pd.DataFrame({"la_code": ["301", "301"], "collection_year": [2024, 2025], "population": [10_000.0, 20_000.0]})


def _episodes(rows):
    """rows: (child, DECOM, DEC, RNE, LS, PLACE, PROVIDER, REC), collection year 2024, LA 301."""
    frame = pd.DataFrame(rows, columns=["child", "DECOM", "DEC", "RNE", "LS", "PLACE", "PLACE_PROVIDER", "REC"])
    frame["DECOM"] = pd.to_datetime(frame["DECOM"])
    frame["DEC"] = pd.to_datetime(frame["DEC"])
    frame["la_code"] = "301"
    frame["collection_year"] = 2024
    return frame


def _events(rows, year=2024):
    """rows: (child, event_type, date, cin_episode, nfa, previous_cpp)."""
    frame = pd.DataFrame(rows, columns=["child", "event_type", "date", "cin_episode", "referral_nfa", "number_of_previous_cpp"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["la_code"] = "301"
    frame["collection_year"] = year
    frame["referral_nfa"] = frame["referral_nfa"].astype("boolean")
    frame["number_of_previous_cpp"] = frame["number_of_previous_cpp"].astype("Int64")
    return frame


EPISODES = _episodes([
    # a: in care all year, 3 placements (first began before the year), kinship at 31 March
    ("a", "2022-05-01", "2023-06-01", "P", "C2", "U6", "PR1", "X1"),
    ("a", "2023-06-01", "2023-09-01", "P", "C2", "K2", "PR4", "X1"),
    ("a", "2023-09-01", None, "P", "C2", "U1", "PR1", None),
    # b: starts 10 May 2023 under an interim care order, leaves with an SGO 1 February 2024
    ("b", "2023-05-10", "2024-02-01", "S", "C1", "U3", "PR1", "E45"),
    # c: starts 1 March 2024, in a children's home, private provider, a legal-status change the same day
    ("c", "2024-03-01", "2024-03-01", "S", "V2", "K2", "PR4", "X1"),
    ("c", "2024-03-01", None, "L", "C2", "K2", "PR4", None),
    # d: respite (short breaks): left out of every measure
    ("d", "2023-07-01", None, "S", "V3", "U6", "PR1", None),
    # e: in care from before the year, returns home 31 March 2024 (not looked after on 31 March)
    ("e", "2021-01-01", "2024-03-31", "P", "V2", "U4", "PR1", "E4A"),
])

EVENTS = _events([
    # x: referral 1 May 2023 (NFA, closed the same day); re-referred 1 Dec 2023 -> s47 -> ICPC -> plan (open)
    ("x", "referral", "2023-05-01", 1, True, None),
    ("x", "closure", "2023-05-01", 1, None, None),
    ("x", "referral", "2023-12-01", 2, False, None),
    ("x", "s47", "2023-12-05", 2, None, None),
    ("x", "icpc", "2023-12-20", 2, None, None),
    ("x", "cpp_start", "2023-12-20", 2, None, 1),
    # y: referred 2 years ago (still open), plan from before the year ending 15 Aug 2023
    ("y", "referral", "2022-01-10", 1, False, None),
    ("y", "cpp_start", "2022-02-01", 1, None, 0),
    ("y", "cpp_end", "2023-08-15", 1, None, 0),
    # z: referred 1 Feb 2024, closed 20 Feb 2024 (not open on 31 March); referral 18 months before in last year's file
    ("z", "referral", "2024-02-01", 1, False, None),
    ("z", "closure", "2024-02-20", 1, None, None),
])
EVENTS_PREVIOUS = _events([("z", "referral", "2022-08-01", 1, False, None), ("z", "closure", "2022-09-01", 1, None, None)], 2023)


def _value(panel, outcome, period="2023-04-01"):
    row = panel[(panel["outcome"] == outcome) & (panel["period"] == pd.Timestamp(period))]
    assert len(row) == 1, f"expected one row of {outcome} for {period}, got {len(row)}"
    return row.iloc[0]


@pytest.fixture(scope="module")
def annual():
    return build_records_panel(EPISODES, pd.concat([EVENTS_PREVIOUS, EVENTS]), POP, "annual")


def test_panel_follows_the_tidy_contract(annual):
    assert list(annual.columns) == PANEL_COLUMNS, "the records panel must have the tidy panel columns in order"
    assert annual["la_code"].map(type).eq(str).all(), "la_code must be a string"
    assert str(annual["period"].dtype).startswith("datetime64"), "period must be a date"


@pytest.mark.parametrize("outcome, numerator", [
    ("cla_rate_per_10k", 2),             # a and c on 31 March (d is respite, e left on 31 March, b left)
    ("cla_starts_rate_per_10k", 2),      # b and c (d respite)
    ("cla_starts_icc_rate_per_10k", 1),  # b under an interim care order
    ("cla_exits_rate_per_10k", 2),       # b (SGO) and e (home); c's X1 is not an exit
    ("cla_exits_sgo_rate_per_10k", 1),
    ("cla_exits_home_rate_per_10k", 1),
    ("cla_exits_adoption_rate_per_10k", 0),
    ("referral_rate_per_10k", 3),        # x twice, z once, in 2023-24
    ("s47_rate_per_10k", 1),
    ("icpc_rate_per_10k", 1),
    ("cpp_starts_rate_per_10k", 1),
    ("cpp_rate_per_10k", 1),             # x's plan open; y's ended in August
    ("cin_rate_per_10k", 2),             # x (episode 2) and y open on 31 March; x's NFA and z closed
])
def test_annual_counts_match_hand_counts(annual, outcome, numerator):
    row = _value(annual, outcome)
    assert row["numerator"] == numerator, f"{outcome}: counted {row['numerator']}, hand count {numerator}"
    assert row["denominator"] == 10_000, "rates use the ONS population of the mid-year before the reporting year"
    assert row["value"] == pytest.approx(numerator), "per 10,000 children with a population of 10,000"


@pytest.mark.parametrize("outcome, numerator, denominator", [
    ("rereferral_pct", 1, 3),            # x's second referral (7 months later); z's previous one was 18 months before
    ("cpp_subsequent_pct", 1, 1),
    ("kinship_foster_pct", 1, 2),        # a in U1
    ("residential_pct", 1, 2),           # c in K2
    ("private_provision_pct", 1, 2),     # c with PR4
    ("placements_3plus_pct", 1, 2),      # a had 3 placements; c's L episode is not a new placement
])
def test_annual_shares_match_hand_counts(annual, outcome, numerator, denominator):
    row = _value(annual, outcome)
    assert (row["numerator"], row["denominator"]) == (numerator, denominator), f"{outcome}: wrong numerator/denominator"
    assert row["value"] == pytest.approx(100 * numerator / denominator), f"{outcome} is a percentage"


def test_previous_years_file_is_not_counted_again(annual):
    rows = annual[annual["outcome"].eq("referral_rate_per_10k")]
    prev = rows[rows["period"] == pd.Timestamp("2022-04-01")]
    assert prev["numerator"].tolist() == [1], "the 2023 file counts only its own year's referral (z, August 2022)"


def test_quarterly_stocks_and_flows():
    q = build_records_panel(EPISODES, EVENTS, POP, "quarterly")
    assert list(periods_of_year(2024, "quarterly").strftime("%Y-%m-%d")) == ["2023-04-01", "2023-07-01", "2023-10-01", "2024-01-01"]
    cla = q[q["outcome"].eq("cla_rate_per_10k")].set_index("period")["numerator"]
    # 30 June: a, b, e; 30 Sept: a, b, e; 31 Dec: a, b, e; 31 March: a, c
    assert cla.tolist() == [3, 3, 3, 2], f"CLA at each quarter end, got {cla.tolist()}"
    refs = q[q["outcome"].eq("referral_rate_per_10k")].set_index("period")["numerator"]
    assert refs.tolist() == [1, 0, 1, 1], f"referrals per quarter (empty quarters are 0, not missing), got {refs.tolist()}"
    cpp = q[q["outcome"].eq("cpp_rate_per_10k")].set_index("period")["numerator"]
    assert cpp.tolist() == [1, 0, 1, 1], f"plans open at each quarter end (y's ends 15 Aug), got {cpp.tolist()}"
    assert "placements_3plus_pct" not in set(q["outcome"]), "3+ placements is an annual measure only"


def test_missing_population_gives_missing_rate_with_status():
    p = build_records_panel(EPISODES, None, POP.iloc[1:], "annual")
    row = _value(p, "cla_rate_per_10k")
    assert np.isnan(row["value"]) and row["status"] == "x", "no population: the rate is missing, not 0 or infinite"
    share = _value(p, "kinship_foster_pct")
    assert share["value"] == pytest.approx(50.0), "shares do not need the population"


def test_unknown_frequency_is_refused():
    with pytest.raises(ValueError, match="frequency 'weekly'"):
        build_records_panel(EPISODES, EVENTS, POP, "weekly")


def test_a_missing_return_gives_no_rows_not_zeros(annual):
    """The 2022-23 CIN census file is loaded but no 2022-23 SSDA903 return: CLA outcomes have no row then."""
    year = annual[annual["period"] == pd.Timestamp("2022-04-01")]
    assert "referral_rate_per_10k" in set(year["outcome"]), "the CIN return of 2022-23 is counted"
    assert not year["outcome"].str.startswith("cla_").any(), \
        "an LA-year without an SSDA903 return must not get CLA counts of 0 (that would read as no child in care)"


# placement distance: every child's home is AB1 1AA; placements due north of it at hand-set distances
R_MILES = 6371.0088 / 1.609344
PLACED = {  # (child, DECOM) -> PL_POST
    ("a", "2022-05-01"): "AB1 1AA",     # at home (0 miles)
    ("a", "2023-06-01"): "",            # blank: distance unknown
    ("a", "2023-09-01"): "ab12ff",      # 20.1 miles: over 20 (spelling normalised)
    ("b", "2023-05-10"): "ZZ9 9ZZ",     # not in the lookup: distance unknown
    ("c", "2024-03-01"): "AB1 2NN",     # 19.9 miles: not over 20
    ("d", "2023-07-01"): "AB1 2FF",     # short breaks: never counted
    ("e", "2021-01-01"): "AB1 1AA",
}


@pytest.fixture(scope="module")
def lookup(tmp_path_factory):
    north = {miles: 52.0 + math.degrees(miles / R_MILES) for miles in (20.1, 19.9)}   # along a meridian: R * dlat
    path = tmp_path_factory.mktemp("geo") / "centroids.csv"
    path.write_text(f"postcode,latitude,longitude\nAB1 1AA,52.0,-1.0\nAB1 2FF,{north[20.1]!r},-1.0\n"
                    f"AB1 2NN,{north[19.9]!r},-1.0\n")
    return read_postcode_lookup(path)


def _with_postcodes():
    ep = EPISODES.copy()
    ep["HOME_POST"] = "AB1 1AA"
    ep["PL_POST"] = [PLACED[(c, d.strftime("%Y-%m-%d"))] for c, d in zip(ep["child"], ep["DECOM"])]
    return ep


def test_placement_distance_on_31_march(lookup):
    p = build_records_panel(_with_postcodes(), None, POP, "annual", postcode_lookup=lookup)
    over, unknown = _value(p, "placed_over_20_miles_pct"), _value(p, "placement_distance_unknown_pct")
    assert (over["numerator"], over["denominator"]) == (1, 2), "of a (20.1 miles) and c (19.9 miles) only a is over 20"
    assert over["value"] == pytest.approx(50.0), "a % of all children looked after on 31 March"
    assert (unknown["numerator"], unknown["denominator"]) == (0, 2), "both CLA on 31 March have a known distance"


def test_placement_distance_at_each_quarter_end(lookup):
    q = build_records_panel(_with_postcodes(), None, POP, "quarterly", postcode_lookup=lookup)
    over = q[q["outcome"].eq("placed_over_20_miles_pct")].set_index("period")["numerator"].tolist()
    unknown = q[q["outcome"].eq("placement_distance_unknown_pct")].set_index("period")["numerator"].tolist()
    # 30 June: a blank, b not found, e home; 30 Sept and 31 Dec: a 20.1 miles, b not found, e home; 31 March: a, c
    assert over == [0, 1, 1, 1], f"CLA placed over 20 miles at each quarter's last day, got {over}"
    assert unknown == [2, 1, 1, 0], f"blank and unmatched postcodes are 'distance unknown', got {unknown}"


def test_placement_distance_needs_a_lookup():
    p = build_records_panel(_with_postcodes(), None, POP, "annual")
    assert not p["outcome"].isin(["placed_over_20_miles_pct", "placement_distance_unknown_pct"]).any(), \
        "without a postcode lookup the distance outcomes must be absent, not 0"


# the interim path (rule records_panel): per-LA, per-year Parquet files read back must count exactly as the frames
POP_HEADER = ("time_period,time_identifier,geographic_level,country_code,country_name,region_code,region_name,"
              "old_la_code,new_la_code,la_name,age_group,population_estimate\n")
POP_LAS = {"301": "E06000001", "302": "E06000002", "303": "E06000003"}


def _shifted(frame, la, years, date_columns):
    """A copy of ``frame`` as another LA's return ``years`` later (every date moved by as many years)."""
    out = frame.copy()
    out["la_code"] = la
    out["collection_year"] = out["collection_year"] + years
    for column in date_columns:
        out[column] = out[column] + pd.DateOffset(years=years)
    return out


@pytest.fixture(scope="module")
def interim(tmp_path_factory, lookup):
    """Interim folders as rule ingest_records writes them, and the same records as frames.

    LA 301: both returns for 2023-24 (and a CIN census for 2022-23); LA 302: both a year later, with a
    missing child pseudonym and blank text; LA 303: a CIN census but no SSDA903 return.
    """
    from csceval.workflow_support import write_parquet

    root = tmp_path_factory.mktemp("interim")
    ep301 = _with_postcodes()
    ep302 = _shifted(ep301, "302", 1, ["DECOM", "DEC"])
    ep302.loc[ep302.index[0], "child"] = None
    ep302.loc[ep302.index[1], ["REC", "PL_POST", "PLACE"]] = [None, None, None]
    episodes = pd.concat([ep301, ep302], ignore_index=True)
    events = pd.concat([EVENTS_PREVIOUS, EVENTS, _shifted(EVENTS, "302", 1, ["date"]),
                        _shifted(EVENTS, "303", 0, ["date"])], ignore_index=True)
    for kind, frame in (("ssda903", episodes), ("cin_census", events)):
        for (year, la), rows in frame.groupby(["collection_year", "la_code"]):
            write_parquet(rows.reset_index(drop=True), root / "records" / str(year) / f"{kind}_{la}.parquet")
    population = root / "population.csv"
    population.write_text(POP_HEADER + "".join(
        f"{year - 1},Reporting year,Local authority,E92000001,England,E12000001,North East,{la},{code},LA {la},"
        f"Children aged 0 to 17 years,{10_000 + 1_000 * (year - 2023)}\n"
        for la, code in POP_LAS.items() for year in (2023, 2024, 2025)))
    lookup_path = root / "centroids.csv"
    lookup_path.write_text("postcode,latitude,longitude\n" + "".join(
        f"{code},{float(row.latitude)!r},{float(row.longitude)!r}\n" for code, row in lookup.iterrows()))
    return {"dirs": sorted((root / "records").iterdir()), "population": population, "lookup": lookup_path,
            "episodes": episodes, "events": events}


@pytest.mark.parametrize("frequency", ["annual", "quarterly", "monthly"])
@pytest.mark.parametrize("with_lookup", [False, True])
def test_interim_files_count_as_the_frames(interim, frequency, with_lookup):
    """The interim reader (text as categoricals, child codes, LAs read one at a time, one merge at the
    end) must give exactly the panel of the same records passed as frames: a difference would mean the
    fast path counts something else than the documented definitions."""
    from pandas.testing import assert_frame_equal

    from csceval.records_panel import build_panel_from_interim, read_population

    lookup_path = interim["lookup"] if with_lookup else None
    got = build_panel_from_interim(interim["dirs"], interim["population"], frequency, postcode_lookup=lookup_path)
    want = build_records_panel(interim["episodes"], interim["events"], read_population(interim["population"]),
                               frequency, postcode_lookup=read_postcode_lookup(lookup_path) if with_lookup else None)
    assert set(got["la_code"]) == {"301", "302", "303"}, "every LA's files must be read"
    assert not got[got["la_code"].eq("303")]["outcome"].str.startswith("cla_").any(), \
        "an LA with no SSDA903 return must get no CLA rows"
    assert with_lookup == got["outcome"].eq("placed_over_20_miles_pct").any(), "distance outcomes only with a lookup"
    assert_frame_equal(got, want, check_exact=True)


def test_interim_panel_does_not_depend_on_threads(interim):
    """Reading the next LA in a background thread must not change the panel (nor its row order)."""
    from pandas.testing import assert_frame_equal

    from csceval.records_panel import build_panel_from_interim

    one, two = (build_panel_from_interim(interim["dirs"], interim["population"], "quarterly",
                                         postcode_lookup=interim["lookup"], threads=threads) for threads in (1, 2))
    assert_frame_equal(one, two, check_exact=True)


def test_postcodes_located_beforehand_or_not_give_the_same_centroids(lookup):
    """The interim path locates every LA's postcodes once, then looks each LA's up; a postcode it has
    not seen is located then.  Either way each row must get what csceval.geo.locate_postcodes gives it
    (a mismatch would move children across the 20-mile line or into 'unknown')."""
    from csceval.geo import locate_postcodes
    from csceval.records_panel import _Located

    values = pd.Series(["ab12ff", "AB1 2NN", None, "ZZ9 9ZZ", "", "AB1 1AA", "ab12ff"], dtype="category")
    want = locate_postcodes(values.astype("string"), lookup)
    for seen in ([], ["AB1 2NN"], list(values.cat.categories)):
        got = _Located(seen, lookup).at(values)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w, err_msg=f"postcodes located beforehand: {seen}")
