"""Recompute DfE's published England figures from the LA rows of the same files (real data in ../shared/data/ees).

What is checked, and why the tolerances are what they are:

* England counts are rounded to the nearest 10 (LA counts are unrounded), so with every LA published,
  ``|England - sum of LAs| <= 5``.
* An LA cell withheld as ``c``/``x``/``u``/``:`` is still inside DfE's England total. Finding (CIN b1 and CPP d5):
  when an LA did not submit (Hackney 204 in 2021 and 2022, Hampshire 850 in 2024) the England total
  carries that LA's figure from the latest earlier year it published (Hackney's 2020 CIN count 3,094 in both
  2021 and 2022, Hampshire's 2023 count 9,368 in 2024): the gap ``England - sum of published LAs`` is that
  figure to within rounding. We therefore predict the gap from each withheld LA's latest earlier published
  year (the next year for 2013, the first in the file) and a ``c`` cell as 1-5, and allow 5 (rounding) + 15% (DfE's imputation is not always a pure carry-forward:
  Cumbria 908 in 2014 and the three LAs withheld in 2013 differ from their neighbouring years by up to ~10%).
* Rates per 10,000 use the ONS 0-17 mid-year estimate of the calendar year *before* the reporting year.
  Where DfE publishes an England rate (CLA files, whole numbers) the recomputed unrounded rate
  ``sum LA counts / sum LA populations`` must round to it: tolerance 0.5 plus 0.01 for the England rounding.
* CIN and CPP files publish counts but no rate. There we check that the England rate ``England count /
  England population`` equals the LA-built rate within the England rounding (5 / population x 10,000)
  when coverage is complete. Coverage is incomplete in 2013-2019 because the ONS file has ``x`` for
  Bournemouth, Poole and Dorset (835-837) populations in mid-2012..2018 (it is on post-2019 geography),
  and in years with a withheld LA count; then the two rates differ by the excluded LAs' mix and we allow
  2% relative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csceval.ingest import read_ees

pytestmark = pytest.mark.shared_data

WITHHELD = ("c", "x", "u", ":", "low", "k")
ROUNDING = 5  # England counts rounded to the nearest 10


@pytest.fixture(scope="module")
def population(shared_ees):
    table = read_ees(shared_ees / "ons_mid-year_population_estimates_2012_to_2024.csv")
    table = table[table.measure.eq("population_estimate")]
    la = table[table.geographic_level.eq("Local authority")].assign(reporting_year=lambda t: t.time_period.astype(int) + 1)
    national = table[table.geographic_level.eq("National")].assign(reporting_year=lambda t: t.time_period.astype(int) + 1)
    return la[["la_code", "reporting_year", "value"]], national.set_index("reporting_year")["value"]


def _counts(shared_ees, name, measure, **filters):
    table = read_ees(shared_ees / name)
    table = table[table.measure.eq(measure)]
    for column, wanted in filters.items():
        table = table[table[column].eq(wanted)]
    table = table.assign(reporting_year=table.time_period.astype(int))
    la = table[table.geographic_level.eq("Local authority") & table.status.ne("z")]
    national = table[table.geographic_level.eq("National")].set_index("reporting_year")["value"]
    assert national.index.is_unique and len(national), f"{name}: one England row per year expected for {measure}"
    return la, national


def _gap_bounds(la: pd.DataFrame, year: int) -> tuple[float, float, list[str]]:
    """Range for ``England - sum of published LAs`` in ``year`` from the withheld LA cells.

    A ``c`` cell hides 1 to 5 (DfE's primary suppression rule). Any other withheld cell (``x``, ``u``, ``:``)
    is an LA that did not submit; DfE's England total carries its figure from the latest earlier year it
    published (the next later year when there is none in the file, e.g. 2013), give or take 15%.
    """
    low = high = 0.0
    codes = []
    for _, cell in la[la.reporting_year.eq(year) & la.status.isin(WITHHELD)].iterrows():
        codes.append(f"{cell.la_code} ({cell.status})")
        if cell.status == "c":
            low, high = low + 1, high + 5
            continue
        own = la[la.la_code.eq(cell.la_code) & la.value.notna()]
        if own.empty:
            raise AssertionError(f"{year}: LA {cell.la_code} is withheld and never published; the England gap cannot be predicted")
        earlier = own[own.reporting_year < year]
        source = earlier.loc[earlier.reporting_year.idxmax()] if len(earlier) else own.loc[own.reporting_year.idxmin()]
        carried = float(source["value"])
        low, high = low + 0.85 * carried, high + 1.15 * carried
    return low, high, codes


def _check_counts(label, la, national):
    for year, england in national.items():
        rows = la[la.reporting_year.eq(year)]
        published = rows.value.sum()
        low, high, codes = _gap_bounds(la, year)
        gap = england - published
        assert low - ROUNDING <= gap <= high + ROUNDING, (
            f"{label} {year}: England {england:.0f} exceeds the sum of {len(rows)} published LAs by {gap:.0f}; expected "
            f"{low:.0f} to {high:.0f} from the withheld cells {codes or 'none'} (c = 1-5; a non-submitting LA is carried "
            f"from its latest earlier published year +-15%), +-{ROUNDING} for DfE's rounding of England to the nearest 10"
        )


CLA_TYPES = [
    "Children looked after on 31 March each year",
    "Children starting to be looked after each year",
    "Children ceasing to be looked after each year",
]


@pytest.mark.parametrize("population_type", CLA_TYPES)
def test_cla_england_count_and_rate_recomputed_from_las(shared_ees, population, population_type):
    la_pop, national_pop = population
    la, national = _counts(shared_ees, "cla_number_and_rate_per_10k_children.csv", "children_count", population_type=population_type)
    _check_counts(f"CLA ({population_type})", la, national)

    table = read_ees(shared_ees / "cla_number_and_rate_per_10k_children.csv")
    table = table[table.geographic_level.eq("National") & table.population_type.eq(population_type)]
    published = table.pivot_table(index="time_period", columns="measure", values="value", aggfunc="first")
    for period, row in published.iterrows():
        year = int(period)
        assert row["population_estimate"] == national_pop[year], (
            f"CLA {year}: the published England denominator {row['population_estimate']:.0f} must be the ONS 0-17 estimate "
            f"for mid-{year - 1} ({national_pop[year]:.0f}), the previous mid-year"
        )
        counts = la[la.reporting_year.eq(year) & la.value.notna()].merge(
            la_pop[la_pop.reporting_year.eq(year)], on="la_code", suffixes=("", "_pop"), validate="one_to_one",
        )
        assert counts.value_pop.notna().all(), f"CLA {year}: an LA with a count has no population"
        rate = counts.value.sum() / counts.value_pop.sum() * 10_000
        assert abs(rate - row["rate_per_10000"]) <= 0.51, (
            f"CLA {year}: sum of LA counts / sum of LA populations = {rate:.3f} per 10,000 must round to the published "
            f"whole-number England rate {row['rate_per_10000']:.0f} (tolerance 0.5 for rounding + 0.01 for the England count's rounding)"
        )


@pytest.mark.parametrize(
    "label, name, measure",
    [
        ("CIN at 31 March", "b1_children_in_need_2013_to_2025.csv", "At31_episodes"),
        ("CPP at 31 March", "d5_cpps_at31march_by_duration_2013_to_2025.csv", "CPP_At31"),
    ],
)
def test_cin_and_cpp_england_count_and_rate_recomputed_from_las(shared_ees, population, label, name, measure):
    la_pop, national_pop = population
    la, national = _counts(shared_ees, name, measure)
    _check_counts(label, la, national)
    for year, england in national.items():
        england_rate = england / national_pop[year] * 10_000
        rows = la[la.reporting_year.eq(year)].merge(
            la_pop[la_pop.reporting_year.eq(year)], on="la_code", how="left", suffixes=("", "_pop"), validate="one_to_one",
        )
        covered = rows.value.notna() & rows.value_pop.notna()
        rate = rows.loc[covered, "value"].sum() / rows.loc[covered, "value_pop"].sum() * 10_000
        if covered.all():
            tolerance = ROUNDING / national_pop[year] * 10_000 + 1e-9
            assert abs(rate - england_rate) <= tolerance, (
                f"{label} {year}: England rate {england_rate:.4f} vs LA-built {rate:.4f}; with every LA and population present "
                f"they differ only by the England count's rounding (<= {tolerance:.4f} per 10,000)"
            )
        else:
            missing = rows.loc[~covered, "la_code"].tolist()
            assert abs(rate / england_rate - 1) <= 0.02, (
                f"{label} {year}: England rate {england_rate:.2f} vs {rate:.2f} built from the LAs with both a count and a "
                f"population (excluded: {missing}); the excluded LAs' mix may move it by at most 2%"
            )
