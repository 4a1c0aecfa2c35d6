"""S251 outturn reader, the synthetic S251 file and RCC cost per child-week against size (csceval.placement_costs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csceval.disclosure import DisclosureRules, check_publishable
from csceval.economics import WEEKS_PER_YEAR
from csceval.ingest import InputError
from csceval.ingest.s251 import cla_expenditure, read_s251
from csceval.placement_costs import placement_costs, skipped
from csceval.reference import la_codes
from csceval.report.vfm import alt_text_placement_costs, placement_cost_figure, publishable_placement_costs
from csceval.simulate.s251 import write_synthetic_s251

HEADER = ("time_period,time_identifier,geographic_level,country_code,country_name,region_code,region_name,old_la_code,"
          "new_la_code,la_name,category_of_expenditure,description_of_expenditure,own_provision,private_provision,"
          "other_public_sector_provision,voluntary_provision,total_expenditure")


def _row(period="202324", level="Local authority", code="350", line="3.1.11 Total Children Looked After", total="1000",
         category="Children looked after") -> str:
    return f"{period},Financial year,{level},E92000001,England,E12000002,North West,{code},E08000001,Bolton,{category},{line},1,2,3,4,{total}"


def _write(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "s251.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_reader_keeps_symbols_strips_line_numbers_and_names_the_year(tmp_path):
    """202324 is financial year 2023; "3.1.11 Total ..." is line 3.1.11; a suppressed total stays 'c' with no value,
    never 0 (a zero would pass as no spending)."""
    path = _write(tmp_path, _row(), _row(code="351", total="c"), _row(line="3.1.1 Residential care", total="600"),
                  _row(category="Safeguarding", line="3.2.1 Social work", total="50"))
    table = read_s251(path)
    total = table[table["measure"].eq("total_expenditure") & table["description"].eq("Total Children Looked After")]
    assert set(total["year"]) == {2023} and set(total["line"]) == {"3.1.11"}
    e = cla_expenditure(table, units="thousands").set_index("la_code")
    assert e.loc["350", "expenditure"] == 1_000_000.0, "thousands of pounds must become pounds"
    assert np.isnan(e.loc["351", "expenditure"]) and e.loc["351", "status"] == "c", "a symbol is kept as status, not a number"
    assert e.loc["350", "source_row"] == 2


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([_row(period="2023")], r"row 2, field time_period: not a 6-digit financial year"),
        ([_row(period="202325")], r"row 2, field time_period"),
        ([_row(total="lots")], r"total_expenditure"),
        ([_row(code="35")], r"row 2, field old_la_code"),
    ],
)
def test_reader_errors_name_the_file_row_and_field(tmp_path, rows, match):
    """Bad periods, text in the money column and malformed LA codes must stop with the file, row and field."""
    with pytest.raises(InputError, match=match):
        read_s251(_write(tmp_path, *rows))


def test_missing_column_duplicate_line_and_unknown_line_are_refused(tmp_path):
    """A file without category_of_expenditure is not an S251 file; two total lines for one LA-year would double count;
    a line that is not there must be named with the lines that are."""
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER.replace("category_of_expenditure,", "") + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="field category_of_expenditure: required S251 outturn column is missing"):
        read_s251(bad)
    with pytest.raises(InputError, match="appears twice for LA 350"):
        cla_expenditure(read_s251(_write(tmp_path, _row(), _row())))
    with pytest.raises(InputError, match="Residential care"):
        cla_expenditure(read_s251(_write(tmp_path, _row(line="3.1.1 Residential care"))))


def _stock(n_las=150, years=(2022, 2023), seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    codes = la_codes(2024)[:n_las]
    return pd.DataFrame([{"la_code": c, "year": y, "children": float(rng.integers(40, 2500))} for y in years for c in codes])


def _recover(tmp_path, stock, **parameters):
    path = write_synthetic_s251(tmp_path / "s251_syn.csv", stock, **parameters)
    e = cla_expenditure(read_s251(path))
    return placement_costs(e, stock.assign(status=""), {"gm": {"name": "Greater Manchester", "la_codes": ["350", "351", "352"]}})


def test_noise_free_synthetic_file_gives_back_its_elasticity_and_weekly_cost(tmp_path):
    """Without noise, cost per child-week is exactly 2,100 x (n / 400)^-0.15 up to rounding to pounds, so the log-log
    fit must return -0.15 and the LA with 400 children must cost 2,100 a week."""
    stock = _stock()
    stock.loc[0, "children"] = 400.0
    res = _recover(tmp_path, stock, elasticity=-0.15, weekly_cost=2100.0, reference_children=400.0, noise_sd=0.0, seed=1)
    assert res.year == 2023, "the latest year with both expenditure and counts"
    assert res.estimate.elasticity == pytest.approx(-0.15, abs=1e-6)
    la = res.units.set_index("unit_code")
    first = stock.loc[0, "la_code"]
    assert la.loc[first, "weekly_cost"] == pytest.approx(2100.0 * (la.loc[first, "children_looked_after"] / 400) ** -0.15, rel=1e-6)


def test_noisy_synthetic_file_recovers_the_elasticity_within_its_interval(tmp_path):
    """With noise sd 0.15 over 150 LAs, the estimate must be within its own 95% interval of the truth (-0.15), and the
    interval must be informative (narrower than 0.2)."""
    res = _recover(tmp_path, _stock(seed=2), elasticity=-0.15, noise_sd=0.15, seed=4)
    e = res.estimate
    assert e.ci_lower < -0.15 < e.ci_upper, f"true elasticity outside [{e.ci_lower:.3f}, {e.ci_upper:.3f}]"
    assert e.ci_upper - e.ci_lower < 0.2 and e.n == 150


def test_cooperative_cost_is_summed_expenditure_over_summed_child_weeks():
    """Two members: (1.0m + 3.0m) / ((100 + 200) x 52.18) by hand; a member without expenditure leaves the cooperative
    uncomputed and its LA out of the fit, with notes saying so."""
    e = pd.DataFrame({"la_code": ["350", "351", "352", "353", "354"], "year": 2023,
                      "expenditure": [1.0e6, 3.0e6, np.nan, 2.0e6, 5.0e6], "status": ["", "", "x", "", ""], "source_row": range(5)})
    n = pd.DataFrame({"la_code": ["350", "351", "352", "353", "354"], "year": 2023, "children": [100.0, 200.0, 50.0, 150.0, 400.0],
                      "status": ""})
    res = placement_costs(e, n, {"a": {"name": "A", "la_codes": ["350", "351"]}, "b": {"name": "B", "la_codes": ["352", "353"]}})
    u = res.units.set_index("unit_code")
    assert u.loc["a", "weekly_cost"] == pytest.approx(4.0e6 / (300 * WEEKS_PER_YEAR))
    assert u.loc["a", "children_looked_after"] == 300
    assert np.isnan(u.loc["b", "weekly_cost"]) and "352" in u.loc["b", "note"]
    assert not u.loc["352", "in_fit"] and "not available (x)" in u.loc["352", "note"]
    assert res.estimate.n == 4, "four LAs have cost and count"


def test_skipped_and_small_counts_are_published_safely(tmp_path):
    """Without an S251 file the table carries the reason, the figure and alt text say it, nothing crashes; an LA with 3
    children looked after is published as c, with the costs that would give its count back."""
    none = skipped("no S251 outturn file is configured")
    table = publishable_placement_costs(none.units)
    assert "not computed: no S251" in table["note"].iloc[0]
    assert "no S251" in alt_text_placement_costs(none) and placement_cost_figure(none, title="t").axes
    assert none.estimate_table()["note"].iloc[0].startswith("not computed")
    e = pd.DataFrame({"la_code": ["350", "351", "352", "353"], "year": 2023, "expenditure": [1e5, 3e6, 2e6, 5e6], "status": "",
                      "source_row": range(4)})
    n = pd.DataFrame({"la_code": ["350", "351", "352", "353"], "year": 2023, "children": [3.0, 200.0, 150.0, 400.0], "status": ""})
    res = placement_costs(e, n, {"a": {"name": "A", "la_codes": ["350", "351"]}})
    pub = publishable_placement_costs(res.units).set_index("unit_code")
    assert (pub.loc["350", ["children_looked_after", "weekly_cost", "predicted_weekly_cost"]] == "c").all()
    check_publishable(pub.reset_index(), "cost_per_child_week.csv", DisclosureRules())
    text = alt_text_placement_costs(res, synthetic=True)
    assert text.startswith("Synthetic data") and "A (its 2 members summed)" in text and "not the effect" in text


@pytest.mark.parametrize("frequency,months", [("annual", [4]), ("quarterly", [4, 7, 10, 1]), ("monthly", [4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3])])
def test_cla_stock_is_the_31_march_count_at_any_panel_frequency(frequency, months):
    """Record-level runs estimate on quarterly or monthly panels: the S251 denominator must be the stock at 31 March
    (the period ending then), one row per LA and financial year -- not every period's stock (which duplicated
    LA-years and stopped the national run)."""
    from csceval.placement_costs import cla_stock

    rows = []
    for fy in (2023, 2024):
        for i, m in enumerate(months):
            period = pd.Timestamp(year=fy if m >= 4 else fy + 1, month=m, day=1)
            rows.append({"outcome": "cla_rate_per_10k", "la_code": "838", "period": period, "numerator": 100 * fy + i,
                         "status": ""})
    stock = cla_stock(pd.DataFrame(rows))
    assert stock["year"].tolist() == [2023, 2024], f"{frequency}: one row per financial year"
    last = len(months) - 1
    assert stock["children"].tolist() == [100 * 2023 + last, 100 * 2024 + last], \
        f"{frequency}: the count of the period ending 31 March must be used"
