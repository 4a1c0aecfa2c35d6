"""Comparison pools: never a treated or excluded LA; neighbour pools follow the published files;
matching is deterministic, exact when twins exist, respects caliper, region and k; the analysis
plan renders the pools and is fixed by its inputs' hash."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
import yaml

from csceval.design import treatment_timing
from csceval.design.neighbours import read_statistical_neighbours
from csceval.design.plan import analysis_plan_markdown
from csceval.design.pools import eligible_pool, matched_pool, neighbour_pool, pool_summary
from csceval.reference import la_codes, local_authorities
from conftest import REPO

REAL_CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
PERIODS = pd.to_datetime([f"{y}-04-01" for y in range(2015, 2025)])
CODES = [c for c in la_codes(2024) if c not in ("201", "420")][:60]
TREATED = CODES[:4]
OTHER_PROGRAMME = CODES[4:6]
TINY = CODES[6]
CONFIG = {
    "programmes": {
        "p": {"name": "P", "clean_window_end": "2025-03-31", "waves": [
            {"name": "wave 1", "start": "2022-07-01", "date_status": "assumed", "la_codes": TREATED[:2]},
            {"name": "wave 2", "start": "2023-04-01", "date_status": "assumed", "la_codes": TREATED[2:]}]},
        "q": {"name": "Q", "clean_window_end": "2025-03-31", "waves": [
            {"name": "only", "start": "2023-01-01", "date_status": "assumed", "la_codes": OTHER_PROGRAMME}]},
    },
    "exclusions": [{"la_codes": [TINY], "reason": "tiny LA"}],
}


def make_panel(seed=1, codes=CODES, outcomes=("y1", "y2")):
    rng = np.random.default_rng(seed)
    rows = []
    for o in outcomes:
        level = rng.normal(50, 10, len(codes))
        slope = rng.normal(0, 1, len(codes))
        pop = rng.lognormal(11, 0.4, len(codes))
        for i, code in enumerate(codes):
            for t, p in enumerate(PERIODS):
                num = max(0.0, level[i] + slope[i] * t + rng.normal(0, 2)) * pop[i] / 1e4
                rows.append((code, p, o, num / pop[i] * 1e4, num, pop[i], ""))
    return pd.DataFrame(rows, columns=["la_code", "period", "outcome", "value", "numerator", "denominator", "status"])


def timing_for(panel, config=CONFIG, programme="p"):
    return treatment_timing(programme, config, panel["la_code"].unique(), panel["period"].unique())


def _never_treated_or_excluded(pool, timing):
    bad = set(timing.loc[timing["role"].ne("comparison"), "la_code"])
    included = set(pool.loc[pool["included"], "la_code"])
    return included & bad


# --------------------------------------------------------------------------------- eligible
def test_eligible_pool_is_exactly_the_comparison_role():
    panel = make_panel()
    timing = timing_for(panel)
    pool = eligible_pool(timing)
    assert set(pool.loc[pool["included"], "la_code"]) == set(timing.loc[timing["role"].eq("comparison"), "la_code"]), \
        "the eligible pool must be every comparison-role LA and nothing else"
    assert not _never_treated_or_excluded(pool, timing), "eligible pool includes a treated or excluded LA"
    reasons = pool.set_index("la_code")["reason"]
    assert "treated by this programme" in reasons[TREATED[0]] and "tiny LA" in reasons[TINY], "each LA left out must say why"


# ------------------------------------------------------------------------------- neighbours
def _neighbour_table():
    """Treated LA 0's neighbours: another treated LA, another programme's LA, the tiny LA, two
    comparison LAs (one 'Not close'), and an LA with no data (not in the panel)."""
    absent = [c for c in la_codes(2024) if c not in CODES][0]
    rows = [(TREATED[0], TREATED[1], 1, "Very close"), (TREATED[0], OTHER_PROGRAMME[0], 2, "Very close"),
            (TREATED[0], TINY, 3, "Close"), (TREATED[0], CODES[10], 4, "Close"), (TREATED[0], CODES[11], 5, "Not close"),
            (TREATED[0], absent, 6, "Close"), (TREATED[2], CODES[12], 1, "Extremely close"), (CODES[20], CODES[21], 1, "Very close")]
    table = pd.DataFrame(rows, columns=["la_code", "neighbour_code", "rank", "closeness"])
    return table.assign(model="test", la_name="", section="current"), absent


def test_neighbour_pool_keeps_only_comparison_neighbours_within_band_and_says_why():
    panel = make_panel()
    timing = timing_for(panel)
    table, absent = _neighbour_table()
    pool = neighbour_pool(timing, table, min_band="Close").set_index("la_code")
    assert set(pool.index[pool["included"]]) == {CODES[10], CODES[12]}, \
        "only comparison-role neighbours of treated LAs within 'Close' may be included"
    assert "treated by this programme" in pool.loc[TREATED[1], "reason"], "a treated neighbour must be dropped with the reason"
    assert "treated by q" in pool.loc[OTHER_PROGRAMME[0], "reason"], "another programme's LA must be dropped with the reason"
    assert "tiny LA" in pool.loc[TINY, "reason"], "an excluded neighbour must be dropped with its exclusion reason"
    assert "not closer than 'Close'" in pool.loc[CODES[11], "reason"], "a neighbour outside the band must say so"
    assert "no data in the panel" in pool.loc[absent, "reason"], "a neighbour without data must say so"
    assert CODES[21] in pool.index and not pool.loc[CODES[21], "included"], \
        "neighbours of comparison LAs are not neighbours of the treated LAs"
    loose = neighbour_pool(timing, table, min_band=None)
    assert set(loose.loc[loose["included"], "la_code"]) == {CODES[10], CODES[11], CODES[12]}, "min_band=None keeps all bands"


@pytest.mark.parametrize("seed", range(5))
def test_no_pool_ever_includes_a_treated_or_excluded_la(seed):
    rng = np.random.default_rng(seed)
    panel = make_panel(seed)
    timing = timing_for(panel)
    table = pd.DataFrame([(t, n, r + 1, rng.choice(["Very close", "Close", "Somewhat close"]))
                          for t in TREATED for r, n in enumerate(rng.choice([c for c in CODES if c != t], 10, replace=False))],
                         columns=["la_code", "neighbour_code", "rank", "closeness"])
    pools = [eligible_pool(timing), neighbour_pool(timing, table, min_band=None),
             matched_pool(panel, timing, ["y1", "y2"], k=3), matched_pool(panel, timing, ["y1"], k=2, region="exact")]
    for pool in pools:
        assert not _never_treated_or_excluded(pool, timing), f"pool {pool['pool'].iloc[0]} includes a treated or excluded LA"


@pytest.mark.shared_data
def test_ffc_neighbour_pool_matches_the_published_2025_file(shared_ees):
    codes = la_codes(2024)
    timing = treatment_timing("ffc", REAL_CONFIG, codes, PERIODS)
    table = read_statistical_neighbours(shared_ees / "sn_model_2025_wide.csv")
    pool = neighbour_pool(timing, table, min_band="Close", model="2025")
    treated = {c for w in REAL_CONFIG["programmes"]["ffc"]["waves"] for c in w["la_codes"]}
    expected = set()
    with open(shared_ees / "sn_model_2025_wide.csv", encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["old_la_code"] in treated:
                expected |= {row[f"SN_{k}"] for k in range(1, 11) if row[f"SN_{k}P"].strip() in ("Extremely close", "Very close", "Close")}
    not_comparison = set(timing.loc[timing["role"].ne("comparison"), "la_code"])
    assert set(pool.loc[pool["included"], "la_code"]) == expected - not_comparison, \
        "the FFfC neighbour pool must be the published neighbours within 'Close' minus treated and excluded LAs"
    dorset = table[table["la_code"].eq("838")]["neighbour_code"]
    assert set(dorset) <= set(pool.loc[pool["neighbour_of"].str.contains("838"), "la_code"]), \
        "every published 2025 neighbour of Dorset (838) must be listed as Dorset's neighbour in the pool table"


# ---------------------------------------------------------------------------------- matching
def test_matching_is_deterministic_and_independent_of_row_order():
    panel = make_panel(3)
    timing = timing_for(panel)
    a = matched_pool(panel, timing, ["y1", "y2"], k=2, caliper=2.0)
    b = matched_pool(panel, timing, ["y1", "y2"], k=2, caliper=2.0)
    pd.testing.assert_frame_equal(a, b, obj="the same matching run twice")
    shuffled = matched_pool(panel.sample(frac=1.0, random_state=7).reset_index(drop=True),
                            timing.sample(frac=1.0, random_state=8).reset_index(drop=True), ["y1", "y2"], k=2, caliper=2.0)
    pd.testing.assert_frame_equal(a, shuffled, obj="matching on shuffled panel and timing rows")


def test_exact_twins_are_matched_at_distance_zero_and_k_controls_are_distinct():
    panel = make_panel(4)
    twins = dict(zip(TREATED, CODES[30:34]))
    for t, c in twins.items():  # comparison LA c becomes an exact copy of treated LA t
        src = panel[panel["la_code"].eq(t)].copy()
        panel = pd.concat([panel[panel["la_code"].ne(c)], src.assign(la_code=c)], ignore_index=True)
    timing = timing_for(panel)
    pool = matched_pool(panel, timing, ["y1", "y2"], k=1, region="ignore")
    got = pool.dropna(subset=["matched_to"]).set_index("matched_to")
    assert {t: got.loc[t, "la_code"] for t in TREATED} == twins, "each treated LA must be matched to its exact twin"
    assert np.allclose(got["distance"], 0.0), "a twin's distance must be 0"
    pool2 = matched_pool(panel, timing, ["y1", "y2"], k=3, region="ignore")
    inc = pool2[pool2["included"]]
    assert len(inc) == 3 * len(TREATED) and inc["la_code"].is_unique, "k=3 without replacement: 3 distinct controls per treated LA"
    assert (inc.groupby("matched_to").size() == 3).all(), "every treated LA must get k matches when no caliper binds"


def test_caliper_and_exact_region_are_respected():
    panel = make_panel(5)
    timing = timing_for(panel)
    tight = matched_pool(panel, timing, ["y1", "y2"], k=1, caliper=1e-6, region="ignore")
    assert not tight["included"].any(), "no pair is within a caliper of 1e-6 on continuous data"
    treated_reasons = tight.loc[tight["role"].eq("treated"), "reason"]
    assert treated_reasons.str.contains("0 of 1 match").all(), "unmatched treated LAs must report 0 of k matches"
    exact = matched_pool(panel, timing, ["y1", "y2"], k=2, region="exact")
    region = local_authorities().set_index("la_code")["ons_region_name"]
    inc = exact[exact["included"]]
    assert (inc["la_code"].map(region).to_numpy() == inc["matched_to"].map(region).to_numpy()).all(), \
        "region='exact' must only match within the ONS region"
    assert (inc["distance"] <= inc["distance"].max()).all() and inc["distance"].notna().all(), "every match reports its distance"


# -------------------------------------------------------------------------------------- plan
def test_analysis_plan_states_pre_registration_hash_and_content():
    panel = make_panel()
    timing = timing_for(panel)
    spec = dict(CONFIG["programmes"]["p"], outcomes=["y1", "y2"], outcome_chain={
        "y1": {"stage": "short_term", "expected_direction": "decrease", "primary": True, "rationale": "because"},
        "y2": {"stage": "long_term", "expected_direction": "no_change"}})
    meta = {"y1": {"label": "Outcome one", "collection": "CIN census", "measure": "m1", "file_pattern": "f1.csv"},
            "y2": {"label": "Outcome two", "collection": "SSDA903", "measure": "m2", "file_pattern": "f2.csv"}}
    pools = pool_summary([eligible_pool(timing)])
    mdes = pd.DataFrame([{"outcome": "y1", "estimator": "twfe", "mde": 1.5, "mde_relative": 0.1, "alpha": 0.05, "power": 0.8}])
    args = ("p", spec, meta, pools, mdes, ["twfe"], {"method": "randomization", "reason": "few treated"})
    text = analysis_plan_markdown(*args)
    assert "generated before any impact estimate was looked at" in text, "the plan must say it precedes any estimate"
    assert text == analysis_plan_markdown(*args), "the same inputs must give the same plan"
    assert text.index("Short-term") < text.index("Long-term"), "outcomes must be listed along the chain, short-term first"
    assert "| Short-term | Outcome one (`y1`) | CIN census | `m1` in `f1.csv` | decrease | yes | because |" in text, \
        "each outcome row must give stage, label, return, fields, direction, primary flag and rationale"
    changed = analysis_plan_markdown("p", spec, meta, pools, mdes.assign(mde=1.6), ["twfe"], args[-1])
    digest = lambda t: t.split("`")[1]  # noqa: E731
    assert digest(changed) != digest(text), "changing an input (an MDE) must change the inputs hash"
