"""Treatment timing and roles: partial first periods count as treated, other programmes' LAs and
configured exclusions never enter a comparison pool, the window keeps whole periods only."""

from __future__ import annotations

import pandas as pd
import pytest

from csceval.design import estimation_sample, first_period_containing, treatment_timing

PERIODS = pd.to_datetime([f"{y}-04-01" for y in range(2012, 2027)])
CONFIG = {
    "programmes": {
        "ffc": {"name": "FFfC", "clean_window_end": "2025-03-31", "waves": [
            {"name": "wave 1", "start": "2023-07-01", "date_status": "assumed", "la_codes": ["838", "925"]},
            {"name": "wave 2", "start": "2024-04-01", "date_status": "confirmed", "la_codes": ["821"]},
        ]},
        "fnp": {"name": "FNP", "clean_window_end": "2025-03-31", "waves": [
            {"name": "wave 1", "start": "2023-10-01", "date_status": "assumed", "la_codes": ["846"]}]},
        "rcc": {"name": "RCC", "clean_window_end": "2029-03-31", "waves": [
            {"name": "GM", "start": "2025-05-01", "date_status": "confirmed", "la_codes": ["350"]}]},
    },
    "exclusions": [{"la_codes": ["201"], "reason": "tiny"}],
}


@pytest.mark.parametrize(
    "start, expected",
    [("2023-07-01", "2023-04-01"), ("2024-04-01", "2024-04-01"), ("2024-03-31", "2023-04-01"), ("2011-01-01", None), ("2030-01-01", None)],
)
def test_first_treated_period_is_the_period_containing_the_start(start, expected):
    got = first_period_containing(start, PERIODS)
    assert (pd.isna(got) and expected is None) or got == pd.Timestamp(expected), f"start {start} -> {got}"


def test_roles_and_reasons():
    timing = treatment_timing("ffc", CONFIG, ["838", "925", "821", "846", "350", "201", "999"], PERIODS).set_index("la_code")
    assert timing.loc["838", "first_treated"] == pd.Timestamp("2023-04-01"), "July 2023 start -> reporting year 2024"
    assert timing.loc["821", "first_treated"] == pd.Timestamp("2024-04-01")
    assert timing.loc["846", "role"] == "excluded" and "fnp" in timing.loc["846", "reason"], "another programme's LA treated within the window must be excluded"
    assert timing.loc["350", "role"] == "comparison", "an LA treated only after this programme's window ends is a valid comparison"
    assert timing.loc["201", "role"] == "excluded" and timing.loc["201", "reason"] == "tiny"
    assert timing.loc["999", "role"] == "comparison"
    comparison = set(timing.index[timing.role == "comparison"])
    assert not comparison & {"838", "925", "821", "846", "201"}, "no treated or excluded LA may be in the comparison pool"


def test_treated_la_without_data_is_reported():
    timing = treatment_timing("ffc", CONFIG, ["838", "999"], PERIODS).set_index("la_code")
    assert "no data" in timing.loc["925", "reason"]


def test_estimation_sample_keeps_whole_periods_in_window():
    panel = pd.DataFrame([(c, p, "y", 1.0) for c in ["838", "999", "846"] for p in PERIODS], columns=["la_code", "period", "outcome", "value"])
    timing = treatment_timing("ffc", CONFIG, ["838", "999", "846"], PERIODS)
    sample = estimation_sample(panel, timing, "y", "2013-04-01", "2025-03-31")
    assert sample.period.min() == pd.Timestamp("2013-04-01") and sample.period.max() == pd.Timestamp("2024-04-01"), "the period ending 2025-03-31 is the last inside the window"
    assert set(sample.la_code) == {"838", "999"}, "excluded LAs are not in the sample"
    assert sample.loc[sample.la_code.eq("999"), "first_treated"].isna().all()
