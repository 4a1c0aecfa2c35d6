"""A programme's design outputs as the workflow builds them (csceval.design.build): pools from the
config's design block, the membership list, the round trip through CSV, MDE rows, the plan's
assumptions, and the config checks of the design block."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from csceval.config import ConfigError, check_config
from csceval.design.build import (
    balance_report, build_pools, membership_table, mde_rows, plan_assumptions, plan_pools, pools_long, read_pools,
    report_columns, restrict_to_pool, window_panel,
)
from csceval.design.neighbours import synthetic_statistical_neighbours
from csceval.design.plan import analysis_plan_markdown
from csceval.disclosure import check_publishable
from conftest import REPO
from test_design_pools import CONFIG, OTHER_PROGRAMME, TINY, TREATED, make_panel, timing_for

DESIGN = {
    "pools": ["eligible", "neighbours", "matched"],
    "neighbours": {"min_band": "Close", "max_rank": None},
    "matching": {"within": "eligible", "k": 2, "caliper": None, "region": "penalised", "region_penalty": 1.0, "trends": True},
}
SPEC = {**CONFIG["programmes"]["p"], "window_start": "2015-04-01", "outcomes": ["y1", "y2"]}


@pytest.fixture(scope="module")
def design():
    panel = make_panel()
    timing = timing_for(panel)
    neighbours = {"synthetic": synthetic_statistical_neighbours(panel, outcomes=["y1", "y2"])}
    pools = build_pools(panel, timing, ["y1", "y2"], DESIGN, neighbours, "synthetic")
    return panel, timing, pools


def test_build_pools_makes_each_configured_pool_and_never_includes_treated_or_excluded(design):
    panel, timing, pools = design
    assert list(pools) == ["eligible", "neighbours", "matched"], "pools must follow design.pools, in order"
    bad = set(TREATED) | set(OTHER_PROGRAMME) | {TINY}
    for kind, pool in pools.items():
        included = set(pool.loc[pool["included"], "la_code"])
        assert not included & bad, f"pool {kind} includes a treated or excluded LA: {sorted(included & bad)}"
        assert included, f"pool {kind} is empty on a 60-LA panel"
        assert pool["description"].str.len().gt(10).all(), f"pool {kind} has no description for the plan"
    assert pools["matched"]["included"].sum() == 2 * len(TREATED), "k=2 without caliper must give 2 matches per treated LA"


def test_build_pools_respects_the_pools_list_and_names_the_missing_neighbour_file(design):
    panel, timing, _ = design
    only = build_pools(panel, timing, ["y1"], {**DESIGN, "pools": ["eligible"]})
    assert list(only) == ["eligible"], "a pool not in design.pools must not be built"
    with pytest.raises(ValueError, match="statistical_neighbours"):
        build_pools(panel, timing, ["y1"], {**DESIGN, "pools": ["neighbours"]}, neighbours=None)


def test_matching_within_the_neighbour_pool_only_picks_neighbours(design):
    panel, timing, pools = design
    within = build_pools(panel, timing, ["y1", "y2"], {**DESIGN, "matching": {**DESIGN["matching"], "within": "neighbours"}},
                         {"synthetic": synthetic_statistical_neighbours(panel, outcomes=["y1", "y2"])}, "synthetic")
    matched = set(within["matched"].loc[within["matched"]["included"], "la_code"])
    neighbours = set(within["neighbours"].loc[within["neighbours"]["included"], "la_code"])
    assert matched and matched <= neighbours, "matching within neighbours picked an LA outside the neighbour pool"


def test_pools_round_trip_through_csv(design, tmp_path):
    _, _, pools = design
    path = tmp_path / "pools.csv"
    pools_long(pools).to_csv(path, index=False)
    back = read_pools(path)
    assert list(back) == list(pools), "pool kinds lost in the CSV round trip"
    for kind in pools:
        a = pools[kind].set_index("la_code")["included"]
        b = back[kind].set_index("la_code")["included"]
        assert b.dtype == bool and a.sort_index().equals(b.sort_index()), f"{kind}: membership changed through CSV"
    m = back["matched"]
    assert m.loc[m["included"], "matched_to"].isin(TREATED).all(), "matched_to lost or mangled through CSV"


def test_membership_lists_every_la_once_with_reasons(design):
    _, timing, pools = design
    table = membership_table(pools, timing)
    assert table["la_code"].is_unique and set(table["la_code"]) == set(timing["la_code"]), "each LA must appear exactly once"
    assert table.loc[table["la_code"].eq(TINY), "excluded_because"].iloc[0] == "tiny LA", "the exclusion reason is missing"
    assert table.loc[table["la_code"].isin(OTHER_PROGRAMME), "excluded_because"].str.contains("treated by q").all()
    for kind, pool in pools.items():
        inside = set(pool.loc[pool["included"], "la_code"])
        assert set(table.loc[table[f"in_{kind}"].eq("yes"), "la_code"]) == inside, f"in_{kind} disagrees with the pool"
        assert table[f"{kind}_reason"].str.len().gt(0).all(), f"an LA has no reason for pool {kind}"
    check_publishable(table, "membership")  # LA names and roles only: must pass the door guard


def test_restrict_to_pool_keeps_treated_and_only_the_pool_as_comparisons(design):
    _, timing, pools = design
    t = restrict_to_pool(timing, pools["matched"])
    inside = set(pools["matched"].loc[pools["matched"]["included"], "la_code"])
    assert set(t.loc[t["role"].eq("comparison"), "la_code"]) == inside
    assert set(t.loc[t["role"].eq("treated"), "la_code"]) == set(TREATED)
    assert t.loc[t["la_code"].isin(set(timing.loc[timing["role"].eq("comparison"), "la_code"]) - inside), "reason"].str.startswith("not in pool").all()


def test_balance_report_has_before_rows_once_and_after_rows_per_pool(design):
    panel, timing, pools = design
    table = balance_report(panel, timing, pools, ["y1", "y2"])
    before = table[table["sample"].str.startswith("before")]
    assert before["variable"].is_unique, "the before-matching rows must appear once"
    assert set(table["pool"]) == {"eligible", "neighbours", "matched"}
    assert table["smd"].notna().any() and table["variance_ratio"].notna().any()


def test_mde_rows_finite_for_eligible_and_explained_when_the_pool_is_too_small(design):
    panel, timing, pools = design
    tiny = pools["matched"].copy()
    keep = tiny.index[tiny["included"]][:2]
    tiny["included"] = tiny.index.isin(keep)
    rows = mde_rows(panel, timing, {"eligible": pools["eligible"], "matched": tiny}, "y1", SPEC,
                    {"pools": ["eligible", "matched"], "n_sims": 50, "seed": 3, "power": 0.8})
    eligible = rows[rows["pool"].eq("eligible")].iloc[0]
    assert np.isfinite(eligible["mde"]) and eligible["mde"] > 0, "placebo MDE must be finite and positive"
    small = rows[rows["pool"].eq("matched")].iloc[0]
    assert np.isnan(small["mde"]) and "not computable" in small["notes"], "a 2-LA pool cannot hold 4 pseudo-treated LAs"


def test_plan_assumptions_state_dates_status_and_post_periods():
    lines = plan_assumptions(SPEC, {"exclusions": CONFIG["exclusions"]}, "annual", pd.to_datetime([f"{y}-04-01" for y in range(2015, 2025)]))
    text = "\n".join(lines)
    assert "2022-07-01 (ASSUMED" in text and "2023-04-01 (ASSUMED" in text, "wave dates must carry their status"
    assert "tiny LA" in text, "configured exclusions must be stated"
    assert "annual" in text.lower() and "quarterly" in text.lower(), "the plan must say what annual data mean for the MDE"
    assert "3 of them treated" in text, "first treated period 2022-04-01: 2022, 2023, 2024 are the treated periods"


def test_plan_with_assumptions_renders_section_and_hash_depends_on_them(design):
    _, _, pools = design
    args = ("p", SPEC, None, plan_pools(pools), None, ["twfe"], {"method": "randomization", "reason": "few treated LAs"})
    a = analysis_plan_markdown(*args, assumptions=["x starts 2022 (ASSUMED)"])
    b = analysis_plan_markdown(*args, assumptions=["x starts 2023 (ASSUMED)"])
    assert "## 7. Assumptions and dates" in a and "x starts 2022 (ASSUMED)" in a
    digest = lambda text: text.split("`")[1]  # noqa: E731
    assert digest(a) != digest(b), "a changed assumption must change the plan's inputs hash"
    assert analysis_plan_markdown(*args, assumptions=["x starts 2022 (ASSUMED)"]) == a, "the plan must be deterministic"


def test_report_columns_rename_counts_of_las_not_of_children():
    table = pd.DataFrame({"n_treated": [3], "n_comparison": [4], "n_sims": [200], "n_periods": [3], "smd": [0.1]})
    out = report_columns(table)
    assert "n_treated" in out and "comparison_las" in out and "placebo_periods" in out
    check_publishable(out, "renamed")  # 4 LAs and 3 periods are not counts of children


def test_window_panel_keeps_whole_periods_in_window():
    panel = make_panel(codes=TREATED)
    rows = window_panel(panel, {"window_start": "2016-04-01", "clean_window_end": "2024-03-31"})
    assert rows["period"].min() == pd.Timestamp("2016-04-01") and rows["period"].max() == pd.Timestamp("2023-04-01")


# --------------------------------------------------------------------------------- config checks
BASE = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.mark.parametrize("change, message", [
    (lambda c: c["programmes"]["ffc"]["outcome_chain"].update(kinship_rate={"stage": "short_term", "expected_direction": "increase"}),
     r"programmes\.ffc\.outcome_chain\.kinship_rate: not one of the programme's outcomes"),
    (lambda c: c["design"].update(pools=["eligible"]), r"design\.mde\.pools: 'matched' is not built"),
    (lambda c: c["data"].update(source="files", statistical_neighbours={}), r"data\.statistical_neighbours: a real-data run"),
    (lambda c: c["data"].update(source="files", statistical_neighbours={"2021": "x.csv"}), r"design\.neighbours\.model: '2025' is not a key"),
], ids=["chain-outcome-not-estimated", "mde-pool-not-built", "no-neighbour-file", "neighbour-model-missing"])
def test_check_config_names_the_design_key(change, message):
    config = copy.deepcopy(BASE)
    change(config)
    with pytest.raises(ConfigError, match=message):
        check_config(config)


def test_default_config_passes_the_design_checks():
    check_config(copy.deepcopy(BASE))


def test_pre_trend_figure_labels_annual_periods_by_reporting_year():
    from csceval.report.design_figures import mean_paths_figure

    periods = pd.to_datetime([f"{y}-04-01" for y in range(2013, 2025)])
    means = pd.concat([pd.DataFrame({"period": periods, "group": g, "mean": np.arange(12.0), "n_las": 5})
                       for g in ("Treated LAs", "Comparison LAs")])
    ax = mean_paths_figure(means, outcome="cla_rate_per_10k").axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "2013-14" and len(labels) <= 8, f"annual periods must be labelled by reporting year: {labels}"
    assert ax.get_xlabel() == "Reporting year (April to March)"
