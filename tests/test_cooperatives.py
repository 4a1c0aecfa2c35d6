"""Cooperative units: aggregation preserves totals and recomputes rates from them, suppressed or
absent member cells make the unit cell missing, and donor groupings are deterministic, equal-sized
and never use a programme LA, a member or an LA of the cooperative's own region."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from csceval.design.cooperatives import aggregate_units, donor_groupings, donor_members
from csceval.reference import la_codes, local_authorities
from conftest import REPO

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
GM = CONFIG["programmes"]["rcc"]["waves"][0]["la_codes"]
PERIODS = pd.to_datetime([f"{y}-04-01" for y in range(2019, 2025)])


def make_panel(codes, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for outcome in ("cla_rate_per_10k", "cpp_rate_per_10k"):
        for code in codes:
            pop = float(rng.integers(20_000, 200_000))
            for p in PERIODS:
                num = float(rng.integers(50, 800))
                rows.append((code, p, outcome, num / pop * 1e4, num, pop, ""))
    return pd.DataFrame(rows, columns=["la_code", "period", "outcome", "value", "numerator", "denominator", "status"])


def test_aggregation_preserves_totals_and_recomputes_rates():
    panel = make_panel(la_codes(2024))
    units = aggregate_units(panel, {"RCC_GM": GM})
    assert not units["la_code"].isin(GM).any(), "member LAs must be replaced by the unit"
    for col in ("numerator", "denominator"):
        before = panel.groupby(["outcome", "period"])[col].sum()
        after = units.groupby(["outcome", "period"])[col].sum()
        pd.testing.assert_series_equal(after, before, obj=f"national {col} totals after aggregation")
    gm = units[units["la_code"].eq("RCC_GM")]
    members = panel[panel["la_code"].isin(GM)].groupby(["outcome", "period"])[["numerator", "denominator"]].sum()
    expected = (members["numerator"] / members["denominator"] * 1e4).to_numpy()
    assert np.allclose(gm.sort_values(["outcome", "period"])["value"], expected), \
        "the unit rate must be summed numerator / summed denominator x 10,000 (not a mean of member rates)"
    assert gm["status"].eq("").all()


def test_suppressed_or_absent_member_cell_makes_the_unit_cell_missing():
    panel = make_panel(GM + ["887", "845"])
    hit = panel["la_code"].eq(GM[3]) & panel["period"].eq(PERIODS[2]) & panel["outcome"].eq("cla_rate_per_10k")
    panel.loc[hit, ["value", "numerator"]] = np.nan
    panel.loc[hit, "status"] = "c"
    gone = panel["la_code"].eq(GM[5]) & panel["period"].eq(PERIODS[4]) & panel["outcome"].eq("cpp_rate_per_10k")
    panel = panel[~gone]
    low = panel["la_code"].eq(GM[0]) & panel["period"].eq(PERIODS[0]) & panel["outcome"].eq("cpp_rate_per_10k")
    panel.loc[low, "status"] = "u"
    units = aggregate_units(panel, {"RCC_GM": GM, "RCC_SE": ["887", "845"]}).set_index(["la_code", "outcome", "period"])
    cell = units.loc[("RCC_GM", "cla_rate_per_10k", PERIODS[2])]
    assert cell["status"] == "c" and np.isnan(cell["value"]) and np.isnan(cell["numerator"]), \
        "a suppressed member count must make the unit cell missing with status 'c' (differencing would reveal it)"
    cell = units.loc[("RCC_GM", "cpp_rate_per_10k", PERIODS[4])]
    assert cell["status"] == "x" and np.isnan(cell["value"]), "a member with no row must make the unit cell missing ('x')"
    assert units.loc[("RCC_GM", "cpp_rate_per_10k", PERIODS[0]), "status"] == "u", "a member's 'u' flag must be carried"
    assert units.loc[("RCC_SE", "cla_rate_per_10k", PERIODS[2]), "status"] == "", "other units are unaffected"


def test_invalid_memberships_are_rejected():
    panel = make_panel(GM + ["887"])
    with pytest.raises(ValueError, match="member of both"):
        aggregate_units(panel, {"A": GM[:2], "B": GM[1:3]})
    with pytest.raises(ValueError, match="also LA codes"):
        aggregate_units(panel, {"887": GM})
    with pytest.raises(ValueError, match="no rows in the panel"):
        aggregate_units(panel, {"A": GM + ["999"]})


def test_donor_groupings_are_deterministic_equal_sized_and_clean():
    codes = la_codes(2024)
    a = donor_groupings(codes, GM, config=CONFIG, seed=7)
    b = donor_groupings(list(reversed(codes)), GM, config=CONFIG, seed=7)
    pd.testing.assert_frame_equal(a, b, obj="donor groupings from the same seed")
    c = donor_groupings(codes, GM, config=CONFIG, seed=8)
    assert not a.equals(c), "a different seed should give a different partition"
    members = donor_members(a)
    assert members and all(len(v) == len(GM) for v in members.values()), "each donor must have as many LAs as the cooperative"
    used = [c for v in members.values() for c in v]
    assert len(used) == len(set(used)), "an LA can be in one donor only"
    programme = {c for p in CONFIG["programmes"].values() for w in p["waves"] for c in w["la_codes"]}
    excluded = {c for g in CONFIG["exclusions"] for c in g["la_codes"]}
    assert not set(used) & (programme | excluded), "donors must not use any programme LA or configured exclusion"
    region = local_authorities().set_index("la_code")["ons_region_name"]
    assert not any(region[c] == "North West" for c in used), "donors must not come from the cooperative's own region"
    for unit, las in members.items():
        assert region[las].nunique() == 1, f"donor {unit} must lie in one region"
    left = a[~a["included"]]
    assert left["reason"].ne("").all(), "every LA not used must say why"


def test_donors_aggregate_into_a_panel():
    codes = la_codes(2024)
    groups = donor_groupings(codes, ["887", "845"], config=CONFIG, method="region_blocks", leftover="spread", seed=1)
    members = donor_members(groups)
    assert all(2 <= len(v) <= 3 for v in members.values()), "leftover='spread' gives groups of m to 2m-1 LAs"
    panel = make_panel(codes)
    units = aggregate_units(panel, members, keep_other_las=False)
    assert set(units["la_code"]) == set(members), "only the donor units are returned with keep_other_las=False"
