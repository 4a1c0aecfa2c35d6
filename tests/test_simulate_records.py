"""Synthetic record-level returns: readable by the validated readers, exact LA-level aggregates, same
model and truth as the synthetic EES files, year-specific code lists, determinism."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from csceval.geo import read_postcode_lookup
from csceval.ingest import read_cin_census, read_ssda903
from csceval.panel import build_ees_panel
from csceval.records_panel import build_records_panel, read_population
from csceval.simulate import simulate_la_returns
from csceval.simulate.records import simulate_record_returns

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
SIM = CONFIG["simulate"]
LAS = ["838", "846", "394"]          # FFfC wave 1 (Dorset, from 2020), FNP (Brighton & Hove, Sunderland)
YEARS = (2018, 2019)
SALT = "test-salt"


def _simulate(out: Path) -> dict:
    return simulate_record_returns(out, seed=SIM["seed"], first_year=SIM["first_year"], last_year=SIM["last_year"],
                                   record_years=YEARS, programmes=CONFIG["programmes"], effects=SIM["effects"],
                                   national_rollout=SIM["national_rollout"], n_las=40, la_codes=LAS)


@pytest.fixture(scope="module")
def returns(tmp_path_factory):
    out = tmp_path_factory.mktemp("records")
    return out, _simulate(out)


@pytest.fixture(scope="module")
def read_back(returns):
    out, written = returns
    episodes, events, recon, quarantine = [], [], [], []
    for la, year, kind, path in written["files"]:
        if kind == "ssda903":
            r = read_ssda903(path, year, la, salt=SALT)
            episodes.append(r.episodes)
        else:
            r = read_cin_census(path, salt=SALT, year=year, la_code=la)
            events.append(r.events)
        recon.append(r.reconciliation)
        quarantine.append(r.quarantine)
    return pd.concat(episodes), pd.concat(events), pd.concat(recon), pd.concat(quarantine)


def test_every_file_is_read_without_quarantine(returns, read_back):
    _, written = returns
    kinds = {(la, y, k) for la, y, k, _ in written["files"]}
    # Dorset (838) exists from 2020 only: no returns for it in 2018-2019
    expected = {(la, y, k) for la in ["846", "394"] for y in YEARS for k in ("ssda903", "cin_census")}
    assert kinds == expected, f"one SSDA903 and one CIN return per reporting LA and year, got {sorted(kinds)}"
    _, _, recon, quarantine = read_back
    assert quarantine.empty, f"synthetic returns must pass every validation rule:\n{quarantine.head()}"
    assert (recon["rows_read"] == recon["rows_accepted"] + recon["rows_quarantined"]).all(), "reconciliation must add up"


def test_annual_measures_equal_the_la_level_model_counts(returns, read_back):
    out, written = returns
    episodes, events, _, _ = read_back
    panel = build_records_panel(episodes, events, read_population(written["population"]), "annual")
    panel["collection_year"] = panel["period"].dt.year + 1
    counts = pd.read_csv(written["la_counts"], dtype={"la_code": str})
    pairs = {"cin_rate_per_10k": "cin_at31", "referral_rate_per_10k": "referrals", "cpp_rate_per_10k": "cpp_at31",
             "cpp_starts_rate_per_10k": "cpp_starts", "cla_rate_per_10k": "cla_at31", "cla_starts_rate_per_10k": "cla_starts",
             "rereferral_pct": "rereferrals", "cpp_subsequent_pct": "cpp_subsequent"}
    for outcome, column in pairs.items():
        merged = panel[panel["outcome"] == outcome].merge(counts, on=["la_code", "collection_year"], validate="one_to_one")
        assert len(merged) == len(counts), f"{outcome}: one annual row per LA x year"
        assert (merged["numerator"] == merged[column]).all(), (
            f"{outcome}: records counted the DfE way must reproduce the model count {column} exactly\n"
            f"{merged[['la_code', 'collection_year', 'numerator', column]]}")
    cla = panel[panel["outcome"] == "cla_rate_per_10k"].merge(counts, on=["la_code", "collection_year"])
    assert (cla["denominator"] == cla["population"]).all(), "denominator: ONS mid-year before the reporting year"


def test_planted_placement_distances_are_recovered(returns, read_back):
    """Placements are planted near (sector 2 or home), over 20 miles (sector 9) or unknown (blank, or sector 8
    missing from the lookup) with shares 69 / 22 / 9%; the distance outcomes must find exactly those."""
    _, written = returns
    episodes = read_back[0]
    panel = build_records_panel(episodes, None, read_population(written["population"]), "annual",
                                postcode_lookup=read_postcode_lookup(written["postcode_lookup"]))
    on_31_march = episodes[episodes["DEC"].isna()]          # synthetic episodes all start by 31 March
    sector = on_31_march["PL_POST"].str.extract(r"^Q[A-H]\d\d (\d)[A-Z]{2}$")[0]
    planted = on_31_march.assign(far=sector.eq("9"), unknown=sector.isna() | sector.eq("8"), n=1).groupby(
        ["la_code", "collection_year"])[["far", "unknown", "n"]].sum()
    panel["collection_year"] = panel["period"].dt.year + 1
    found = {o: panel[panel["outcome"] == o].set_index(["la_code", "collection_year"]).loc[planted.index]
             for o in ("placed_over_20_miles_pct", "placement_distance_unknown_pct")}
    assert (found["placed_over_20_miles_pct"]["numerator"] == planted["far"]).all(), \
        "every CLA on 31 March placed in sector 9 (25+ miles out), and no other, is over 20 miles"
    assert (found["placement_distance_unknown_pct"]["numerator"] == planted["unknown"]).all(), \
        "blank and unlisted placement postcodes are exactly the unknown distances"
    assert (found["placed_over_20_miles_pct"]["denominator"] == planted["n"]).all(), "denominator: all CLA on 31 March"
    n = planted["n"].sum()
    for column, share in (("far", 0.22), ("unknown", 0.09)):
        recovered = planted[column].sum() / n
        assert abs(recovered - share) < 4 * np.sqrt(share * (1 - share) / n), \
            f"planted share {share} of {column} placements, recovered {recovered:.3f} of {n} CLA"


def test_same_model_and_truth_as_the_synthetic_ees_files(returns, tmp_path):
    """Record counts are the (unsuppressed) EES counts of the same config; the truth file is identical."""
    out, written = returns
    ees = simulate_la_returns(tmp_path, seed=SIM["seed"], first_year=SIM["first_year"], last_year=SIM["last_year"],
                              programmes=CONFIG["programmes"], effects=SIM["effects"],
                              national_rollout=SIM["national_rollout"], n_las=40)
    assert Path(ees["true_effects"]).read_bytes() == Path(written["true_effects"]).read_bytes(), \
        "record-level returns must carry exactly the LA-level truth"
    panel = build_ees_panel(tmp_path, ["cla_rate_per_10k", "referral_rate_per_10k"])
    panel = panel.assign(collection_year=panel["period"].dt.year + 1).dropna(subset=["numerator"])
    counts = pd.read_csv(written["la_counts"], dtype={"la_code": str})
    for outcome, column in (("cla_rate_per_10k", "cla_at31"), ("referral_rate_per_10k", "referrals")):
        m = panel[panel["outcome"] == outcome].merge(counts, on=["la_code", "collection_year"])
        assert len(m) > 0, f"{outcome}: published (unsuppressed) EES cells to compare with"
        close = (m["numerator"] - m[column]).abs() <= 5   # EES counts may be rounded for publication
        assert close.all(), f"{outcome}: EES and record-level counts differ beyond publication rounding\n{m[~close]}"


def test_code_lists_follow_the_collection_year(tmp_path):
    written = simulate_record_returns(tmp_path, seed=SIM["seed"], first_year=SIM["first_year"], last_year=SIM["last_year"],
                                      record_years=(2024, 2026), programmes=CONFIG["programmes"], effects=SIM["effects"],
                                      national_rollout=SIM["national_rollout"], n_las=40, la_codes=["394"])
    folder = tmp_path / "ssda903"
    sex = {y: set(pd.read_csv(folder / str(y) / "394" / "header.csv", dtype=str)["SEX"]) for y in (2024, 2025)}
    assert sex[2024] <= {"1", "2"} and sex[2025] <= {"M", "F", "U"}, f"SEX coding changes in 2024-25, got {sex}"
    place = {y: set(pd.read_csv(folder / str(y) / "394" / "episodes.csv", dtype=str)["PLACE"]) for y in (2024, 2025, 2026)}
    assert "H5" in place[2024] and "K3" not in place[2024], "H5 until 2023-24, no K3 before 2024-25"
    assert "K3" in place[2025] and "H5" not in place[2025], "K3 from 2024-25"
    assert "Z1" not in place[2026] and "Z11" in place[2026], "Z1 is split from 2025-26"
    assert written["manifest"].exists()


def test_same_inputs_give_identical_files(returns, tmp_path):
    out, written = returns
    again = _simulate(tmp_path)
    for (la, y, kind, path), (_, _, _, path2) in zip(written["files"], again["files"]):
        files = sorted(Path(path).glob("*.csv")) if Path(path).is_dir() else [Path(path)]
        files2 = sorted(Path(path2).glob("*.csv")) if Path(path2).is_dir() else [Path(path2)]
        assert [f.read_bytes() for f in files] == [f.read_bytes() for f in files2], f"{kind} {la} {y} is not reproducible"


def test_record_years_outside_the_schemas_are_refused(tmp_path):
    with pytest.raises(ValueError, match="record_years"):
        simulate_record_returns(tmp_path, seed=1, first_year=2013, last_year=2029, record_years=(2016, 2018),
                                programmes=CONFIG["programmes"], effects={}, n_las=40)
