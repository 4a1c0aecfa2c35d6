"""Statistical neighbours: the published files read exactly, malformed files fail clearly, the
2025 layout round-trips, and the synthetic neighbour model is the nearest-by-distance model it says."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from csceval.design.neighbours import (
    BANDS,
    band_rank,
    read_statistical_neighbours,
    synthetic_statistical_neighbours,
    write_statistical_neighbours,
)
from csceval.ingest import InputError
from csceval.reference import la_codes

FILE_2025 = "sn_model_2025_wide.csv"
FILE_2021 = "New_Statistical_Neighbour_Groupings_April_2021.csv"


def _raw_row(path, code: str, code_column: int = 0) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.reader(fh):
            if row and row[code_column].strip() == code:
                return row
    raise AssertionError(f"{code} not in {path}")


# ------------------------------------------------------------------------------- published files
@pytest.mark.shared_data
def test_2025_file_dorset_row_matches_the_published_row(shared_ees):
    table = read_statistical_neighbours(shared_ees / FILE_2025)
    assert set(table["model"]) == {"2025"}, "the 2025 wide layout should be labelled model 2025"
    assert table["la_code"].nunique() == 153, "the May 2025 model covers 153 LAs"
    assert table.groupby("la_code").size().eq(10).all(), "every LA has exactly 10 neighbours"
    raw = _raw_row(shared_ees / FILE_2025, "838")
    dorset = table[table["la_code"].eq("838")].sort_values("rank")
    assert dorset["neighbour_code"].tolist() == [raw[4 + 2 * k] for k in range(10)], \
        "Dorset's neighbours read from the file must equal the file's SN_1..SN_10 cells in order"
    assert dorset["closeness"].tolist() == [raw[5 + 2 * k].strip() for k in range(10)], \
        "Dorset's closeness bands must equal the file's SN_kP cells (trailing spaces removed)"


@pytest.mark.shared_data
def test_2025_file_bands_are_normalised(shared_ees):
    table = read_statistical_neighbours(shared_ees / FILE_2025)
    assert set(table["closeness"]) <= set(BANDS), "'Close ' with a trailing space must be read as 'Close'"
    counts = table["closeness"].value_counts()
    assert counts["Close"] == 513 and counts["Extremely close"] == 12, \
        "band counts differ from the published file (513 Close, 12 Extremely close): a band was misread"


@pytest.mark.shared_data
def test_2021_file_with_duplicate_snp_headers_and_old_section(shared_ees):
    table = read_statistical_neighbours(shared_ees / FILE_2021)
    current = table[table["section"].eq("current")]
    old = table[table["section"].eq("old")]
    assert set(table["model"]) == {"2021"}, "the 2021 layout should be labelled model 2021"
    assert current["la_code"].nunique() == 152, "the April 2021 model lists 152 current LAs"
    assert sorted(old["la_code"].unique()) == ["835", "836", "837", "928"], \
        "rows after 'Old SNs:' are the pre-reorganisation LAs and must be kept apart as section 'old'"
    raw = _raw_row(shared_ees / FILE_2021, "838")
    dorset = table[table["la_code"].eq("838")].sort_values("rank")
    assert dorset["neighbour_code"].tolist() == [raw[5 + 2 * k] for k in range(10)], \
        "Dorset's 2021 neighbours must equal the file's SN1..SN10 cells (every band column is called SNP)"
    assert dorset["closeness"].iloc[0] == "Extremely close", "'Extremely Close' must be normalised to 'Extremely close'"


@pytest.mark.shared_data
def test_published_2025_file_round_trips_through_the_writer(shared_ees, tmp_path):
    table = read_statistical_neighbours(shared_ees / FILE_2025)
    out = write_statistical_neighbours(table, tmp_path / "sn.csv")
    again = read_statistical_neighbours(out)
    cols = ["la_code", "neighbour_code", "rank", "closeness"]
    pd.testing.assert_frame_equal(again[cols], table[cols], obj="re-read 2025 table")
    assert out.read_bytes().startswith(b"\xef\xbb\xbf"), "the written file should carry a BOM like the published one"


# ---------------------------------------------------------------------------------- bad inputs
HEADER = "old_la_code,la_name,region_ind,region_name," + ",".join(f"SN_{k},SN_{k}P" for k in range(1, 4))


def _write(tmp_path, lines, name="sn.csv", bom=True):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig" if bom else "utf-8")
    return path


def test_small_valid_file_with_bom_names_and_odd_band_spelling(tmp_path):
    path = _write(tmp_path, [HEADER, "838,Dorset,7,South West,Somerset,VERY CLOSE ,878,Close ,Shropshire,somewhat close"])
    table = read_statistical_neighbours(path)
    assert table["neighbour_code"].tolist() == ["933", "878", "893"], "LA names in neighbour cells must be resolved to codes"
    assert table["closeness"].tolist() == ["Very close", "Close", "Somewhat close"], "band case/spaces must be normalised"


@pytest.mark.parametrize(
    "line, field, rule",
    [
        ("838,Dorset,7,South West,933,Very close,878,Near-ish,893,Close", "SN_2P", "unknown closeness band"),
        ("838,Dorset,7,South West,933,Very close,838,Close,893,Close", "SN_2", "own statistical neighbour"),
        ("838,Dorset,7,South West,933,Very close,933,Close,893,Close", "SN_2", "listed twice"),
        ("838,Dorset,7,South West,999,Very close,878,Close,893,Close", "SN_1", "not an old 3-digit DfE LA code"),
        ("838,Dorset,7,South West,933,Very close,,Close,893,Close", "SN_2", "neighbour 2 is missing"),
        ("838,Dorset,7,South West,Atlantis,Very close,878,Close,893,Close", "SN_1", "neither an LA code nor a known LA name"),
    ],
)
def test_malformed_rows_raise_input_error_naming_row_field_and_rule(tmp_path, line, field, rule):
    path = _write(tmp_path, [HEADER, line])
    with pytest.raises(InputError) as info:
        read_statistical_neighbours(path)
    err = info.value
    assert err.row == 2 and err.field == field, f"error should point at line 2, field {field}; got {err.row}, {err.field}"
    assert rule in err.rule, f"error rule should say '{rule}', got: {err}"


def test_duplicate_la_and_unknown_layout_are_rejected(tmp_path):
    dup = _write(tmp_path, [HEADER, "838,Dorset,7,SW,933,Close,878,Close,893,Close", "838,Dorset,7,SW,933,Close,878,Close,893,Close"])
    with pytest.raises(InputError, match="listed twice"):
        read_statistical_neighbours(dup)
    other = _write(tmp_path, ["time_period,la_code,value", "2024,838,1"], name="other.csv")
    with pytest.raises(InputError, match="not a statistical neighbour file"):
        read_statistical_neighbours(other)
    with pytest.raises(InputError, match="not found"):
        read_statistical_neighbours(tmp_path / "missing.csv")


# -------------------------------------------------------------------------------------- synthetic
def _covariates(n=40, seed=0):
    rng = np.random.default_rng(seed)
    codes = [c for c in la_codes(2024) if c not in ("201", "420")][:n]
    return pd.DataFrame({"la_code": codes, "x1": rng.normal(size=n), "x2": rng.normal(size=n) * 3})


def test_synthetic_neighbours_are_the_nearest_by_standardised_distance():
    cov = _covariates()
    table = synthetic_statistical_neighbours(cov, n_neighbours=10)
    assert table.groupby("la_code").size().eq(10).all(), "every LA must get exactly 10 neighbours"
    assert not (table["la_code"] == table["neighbour_code"]).any(), "an LA must not be its own neighbour"
    z = cov.set_index("la_code")[["x1", "x2"]]
    z = (z - z.mean()) / z.std(ddof=1)
    code = cov["la_code"].iloc[0]
    d = np.sqrt(((z - z.loc[code]) ** 2).sum(axis=1)).drop(code).sort_values(kind="stable")
    mine = table[table["la_code"].eq(code)].sort_values("rank")
    assert mine["neighbour_code"].tolist() == d.index[:10].tolist(), "neighbours must be the 10 smallest standardised distances, in order"
    ranks = mine["closeness"].map(band_rank).to_numpy()
    assert (np.diff(ranks) >= 0).all(), "closeness bands must not get closer as the distance grows"


def test_synthetic_neighbours_are_deterministic_and_round_trip(tmp_path):
    cov = _covariates(seed=5)
    a = synthetic_statistical_neighbours(cov)
    b = synthetic_statistical_neighbours(cov.sample(frac=1.0, random_state=3))
    pd.testing.assert_frame_equal(a, b, obj="synthetic neighbours from shuffled input")
    path = write_statistical_neighbours(a, tmp_path / "synthetic_sn.csv")
    back = read_statistical_neighbours(path, model="synthetic")
    cols = ["la_code", "neighbour_code", "rank", "closeness"]
    pd.testing.assert_frame_equal(back[cols], a[cols], obj="synthetic neighbours written in the 2025 layout and read back")


def test_synthetic_chain_simulated_returns_to_a_neighbour_pool(tmp_path):
    """simulate -> EES panel -> synthetic neighbours on the pre-period -> 2025 file -> FFfC pool."""
    import yaml

    from csceval.design import treatment_timing
    from csceval.design.pools import neighbour_pool
    from csceval.panel import build_ees_panel
    from csceval.simulate import simulate_la_returns
    from conftest import REPO

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    simulate_la_returns(tmp_path / "ees", seed=9, first_year=2013, last_year=2025, programmes=config["programmes"], effects={})
    panel = build_ees_panel(tmp_path / "ees", ["cla_rate_per_10k", "cpp_rate_per_10k"])
    pre = [p for p in panel["period"].unique() if p < pd.Timestamp("2023-04-01")]
    with pytest.warns(UserWarning, match="left out") as warned:
        table = synthetic_statistical_neighbours(panel, periods=pre)
    left_out = str(warned[0].message)
    for code in ("942", "943"):  # Cumberland, Westmorland and Furness: no data before April 2023
        assert code in left_out, f"{code} has no pre-period data and must be named in the warning"
    current = set(panel.loc[panel["period"].eq(panel["period"].max()), "la_code"])
    assert all(c in set(table["la_code"]) or c in left_out for c in current), \
        "every LA reporting in the last year gets synthetic neighbours or is named as left out"
    ffc = {c for w in config["programmes"]["ffc"]["waves"] for c in w["la_codes"]}
    assert ffc <= set(table["la_code"]), "every FFfC LA must get synthetic neighbours"
    path = write_statistical_neighbours(table, tmp_path / "sn_model_synthetic_wide.csv")
    back = read_statistical_neighbours(path, model="synthetic")
    timing = treatment_timing("ffc", config, panel["la_code"].unique(), panel["period"].unique())
    pool = neighbour_pool(timing, back, min_band="Close")
    bad = set(timing.loc[timing["role"].ne("comparison"), "la_code"])
    assert pool["included"].sum() > 20 and not set(pool.loc[pool["included"], "la_code"]) & bad, \
        "the synthetic neighbour pool must be non-trivial and hold no treated or excluded LA"
