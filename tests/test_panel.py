"""The tidy panel: contract columns, DfE denominator convention, symbols carried, clear input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csceval.ingest import InputError, read_ees
from csceval.panel import PANEL_COLUMNS, assemble_panel, build_ees_panel, combine_releases

GEO = "time_period,time_identifier,geographic_level,country_code,country_name,region_code,region_name,old_la_code,new_la_code,la_name"


def la_row(year, code, *cells):
    return f"{year},Reporting year,Local authority,E92000001,England,E12000001,North East,{code},E0600000{code[-1]},LA {code}," + ",".join(map(str, cells))


def small_inputs(tmp_path):
    (tmp_path / "ons_mid-year_population_estimates_2012_to_2014.csv").write_text(
        GEO + ",age_group,population_estimate\n"
        + "\n".join(la_row(y, c, "Children aged 0 to 17 years", p) for y in (2012, 2013) for c, p in (("805", 20000), ("806", 30000)))
        + "\n" + la_row(2012, "807", "Children aged 0 to 17 years", "x") + "\n"
    )
    (tmp_path / "b1_children_in_need_2013_to_2014.csv").write_text(
        GEO + ",category,At31_episodes\n"
        + "\n".join([la_row(2013, "805", "Children in Need", 700), la_row(2013, "806", "Children in Need", "c"),
                     la_row(2014, "805", "Children in Need", 720), la_row(2014, "806", "Children in Need", 1000),
                     la_row(2013, "807", "Children in Need", 50), la_row(2014, "807", "Children in Need", "z")]) + "\n"
    )
    return tmp_path


def test_rates_use_previous_mid_year_population_and_keep_symbols(tmp_path):
    panel = build_ees_panel(small_inputs(tmp_path), ["cin_rate_per_10k"])
    assert list(panel.columns) == PANEL_COLUMNS, "panel columns must follow the DESIGN.md contract"
    row = panel[(panel.la_code == "805") & (panel.period == pd.Timestamp("2013-04-01"))].iloc[0]
    assert row.value == pytest.approx(720 / 20000 * 1e4), "reporting year 2014 must use the mid-2013 population"
    supp = panel[(panel.la_code == "806") & (panel.period == pd.Timestamp("2012-04-01"))].iloc[0]
    assert np.isnan(supp.value) and supp.status == "c", "a suppressed count stays missing with its symbol"
    no_den = panel[(panel.la_code == "807")].iloc[0]
    assert np.isnan(no_den.value) and no_den.status == "x", "a missing denominator gives a missing rate marked x"
    assert not ((panel.la_code == "807") & (panel.period == pd.Timestamp("2013-04-01"))).any(), "z rows (LA did not exist) are dropped"


def test_newest_release_wins_cell_by_cell_and_revisions_are_logged(tmp_path):
    """A later release revising 805's 2014 count (720 -> 730) must win for that cell, while cells only the
    older release has (806 in 2013) are kept; the revision is logged with both values."""
    small_inputs(tmp_path)
    (tmp_path / "b1_children_in_need_2014_to_2015.csv").write_text(
        GEO + ",category,At31_episodes\n"
        + "\n".join([la_row(2014, "805", "Children in Need", 730), la_row(2014, "806", "Children in Need", 1000)]) + "\n"
    )
    panel = build_ees_panel(tmp_path, ["cin_rate_per_10k"])
    revised = panel[(panel.la_code == "805") & (panel.period == pd.Timestamp("2013-04-01"))].iloc[0]
    assert revised.numerator == 730, "the newer release's value must win"
    kept = panel[(panel.la_code == "806") & (panel.period == pd.Timestamp("2012-04-01"))].iloc[0]
    assert kept.status == "c", "a cell only the older release has must be kept"
    tables = {path.name: read_ees(path) for path in sorted(tmp_path.glob("b1_*.csv"))}
    _, log = combine_releases(tables, ["cin_rate_per_10k"])
    assert len(log) == 1 and log.iloc[0]["old_value"] == 720 and log.iloc[0]["new_value"] == 730
    assert str(log.iloc[0]["kept_release"]) == "2015"


def test_two_releases_that_do_not_say_which_is_newer_is_an_error(tmp_path):
    small_inputs(tmp_path)
    (tmp_path / "b1_children_in_need_latest.csv").write_text((tmp_path / "b1_children_in_need_2013_to_2014.csv").read_text())
    with pytest.raises(InputError, match="cannot tell which release"):
        build_ees_panel(tmp_path, ["cin_rate_per_10k"])


def test_missing_file_names_the_pattern(tmp_path):
    small_inputs(tmp_path)
    with pytest.raises(InputError, match="d5_cpps_at31march_by_duration"):
        build_ees_panel(tmp_path, ["cpp_rate_per_10k"])


def test_negative_count_is_refused_with_row(tmp_path):
    small_inputs(tmp_path)
    path = tmp_path / "b1_children_in_need_2013_to_2014.csv"
    path.write_text(path.read_text().replace(",700", ",-700"))
    with pytest.raises(InputError, match="count is negative") as caught:
        build_ees_panel(tmp_path, ["cin_rate_per_10k"])
    assert caught.value.row == 2 and caught.value.field == "At31_episodes"


@pytest.mark.shared_data
def test_recomputed_cla_rates_equal_published_rates(shared_ees):
    """DfE's CLA rate = count / ONS 0-17 mid-year estimate of the previous calendar year x 10,000,
    published as a whole number: our unrounded rate, rounded half up, must equal it for every LA-year."""
    panel = build_ees_panel(shared_ees, ["cla_rate_per_10k"])
    cla = read_ees(shared_ees / "cla_number_and_rate_per_10k_children.csv")
    published = cla[
        cla.geographic_level.eq("Local authority") & cla.measure.eq("rate_per_10000")
        & cla.population_type.eq("Children looked after on 31 March each year") & cla.value.notna()
    ].assign(period=lambda d: pd.to_datetime((d.time_period.astype(int) - 1).astype(str) + "-04-01"))
    merged = panel.merge(published[["la_code", "period", "value"]], on=["la_code", "period"], suffixes=("", "_published"))
    assert len(merged) > 700, "too few LA-years compared"
    assert (np.floor(merged.value + 0.5) == merged.value_published).all(), "recomputed CLA rates differ from DfE's"


@pytest.mark.shared_data
def test_real_panel_has_every_outcome(shared_ees):
    tables = {p.name: read_ees(p) for p in shared_ees.glob("*.csv") if not p.name.startswith(("sn_", "New_"))}
    panel, sources = assemble_panel(tables)
    assert set(panel.outcome) | {"(denominator of every rate)"} == set(sources.outcome) and len(sources) == 7
    assert sources.loc[sources.outcome.str.startswith("(denominator"), "file"].iloc[0].startswith("ons_mid-year"), "provenance must name the population file"
    per_year = panel[panel.outcome.eq("cin_rate_per_10k")].groupby("period").la_code.nunique()
    assert per_year.between(151, 153).all(), "each year should hold the 151-153 LAs that existed"
