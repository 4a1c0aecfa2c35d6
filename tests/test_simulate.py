"""Synthetic LA returns: determinism, EES layout, disclosure rules, calibration and true effects.

Every check reads the files the simulator WROTE (as the pipeline does), never its internal arrays.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest

from csceval.simulate import simulate_la_returns

SEED = 20230701
PER_10K = 10_000.0

PROGRAMMES = {
    "ffc": {
        "unit": "la",
        "name": "Families First for Children pathfinder",  # extra keys are ignored by the simulator
        "waves": [
            {"name": "wave 1", "start": "2023-07-01", "la_codes": ["838", "925", "336"]},
            {"name": "wave 2", "start": "2024-04-01",
             "la_codes": ["821", "317", "335", "877", "937", "209", "344"]},
        ],
    },
    "fnp": {
        "unit": "la",
        "waves": [
            {"name": "wave 1", "start": "2023-10-01", "la_codes": ["846", "394", "390", "894"]},
            {"name": "wave 2", "start": "2024-07-01", "la_codes": ["860", "805", "205"]},
        ],
    },
    "rcc": {
        "unit": "cooperative",
        "waves": [{"name": "Greater Manchester", "start": "2025-05-01",
                   "la_codes": ["350", "351", "352", "353", "354", "355", "356", "357", "358", "359"]}],
    },
}
PROGRAMME_LAS = sorted({c for p in PROGRAMMES.values() for w in p["waves"] for c in w["la_codes"]})

EFFECTS = {
    "ffc": {
        "cpp_rate_per_10k": {"size": -0.12, "scale": "relative", "ramp_years": 1.0, "heterogeneity_sd": 0.5},
        "cin_rate_per_10k": {"size": -0.06, "scale": "relative", "ramp_years": 1.5, "heterogeneity_sd": 0.5},
        "cla_starts_rate_per_10k": {"size": -0.10, "scale": "relative", "ramp_years": 1.0, "heterogeneity_sd": 0.5},
    },
    "fnp": {
        "cla_starts_rate_per_10k": {"size": -0.08, "scale": "relative", "ramp_years": 1.0, "heterogeneity_sd": 0.5},
        "cla_rate_per_10k": {"size": -3.0, "scale": "absolute", "ramp_years": 2.0, "heterogeneity_sd": 0.0},
    },
    "rcc": {"cla_rate_per_10k": {"size": -0.05, "scale": "relative", "ramp_years": 0.0, "heterogeneity_sd": 0.0}},
}
NATIONAL_ROLLOUT = {
    "start": "2025-04-01",
    "effects": {"cpp_rate_per_10k": {"size": -0.05, "scale": "relative", "ramp_years": 1.5, "heterogeneity_sd": 0.5}},
}

# Where each outcome is published: file key, count column, filter on population_type.
SOURCES = {
    "cin_rate_per_10k": ("b1", "At31_episodes", None),
    "referral_rate_per_10k": ("c1", "referral_count", None),
    "cpp_rate_per_10k": ("d5", "CPP_At31", None),
    "cpp_starts_rate_per_10k": ("d3", "CPP_start", None),
    "cla_rate_per_10k": ("cla", "children_count", "Children looked after on 31 March each year"),
    "cla_starts_rate_per_10k": ("cla", "children_count", "Children starting to be looked after each year"),
}

# Domain facts section 3, "Panel behaviour" (England, real EES files).
TARGETS = {  # mean, between-LA SD of LA means, within-LA residual SD (LA+year FE), pooled AR(1)
    "cin_rate_per_10k": (365, 96, 42, 0.90),
    "referral_rate_per_10k": (562, 160, 117, 0.80),
    "cpp_rate_per_10k": (47, 16, 10, 0.80),
    "cpp_starts_rate_per_10k": (60, 20, 13, 0.81),
    "cla_rate_per_10k": (76, 32, 5.7, 0.98),
    "cla_starts_rate_per_10k": (29, 10.5, 4.8, 0.83),
}
TOL_MEAN, TOL_BETWEEN, TOL_WITHIN, TOL_AR1 = 0.05, 0.20, 0.20, 0.05

GEO = ["time_period", "time_identifier", "geographic_level", "country_code", "country_name", "region_code",
       "region_name"]
EXPECTED_HEADERS = {
    "b1": GEO + ["old_la_code", "new_la_code", "la_name", "category", "Anypoint_episodes", "Anypoint_child",
                 "Started_episodes", "Started_child", "Ended_episodes", "Ended_child", "At31_episodes",
                 "awaiting_assessment"],
    "c1": GEO + ["old_la_code", "new_la_code", "la_name", "category", "referral_count", "rereferral_count",
                 "rereferral_percent", "no_further_action_count", "no_further_action_percent", "not_in_need_count",
                 "not_in_need_percent", "referral_child_count", "rereferral_child_count", "rereferral_child_percent"],
    "d3": GEO + ["old_la_code", "new_la_code", "la_name", "category", "CPP_start", "CPP_subsequent",
                 "CPP_subsequent_percent"],
    "d5": GEO + ["old_la_code", "new_la_code", "la_name", "category", "CPP_At31", "3_months_or_less",
                 "3_months_or_less_percent", "more_than_3_months_6_months", "more_than_3_months_6_months_percent",
                 "more_than_6_months_less_than_1_year", "more_than_6_months_less_than_1_year_percent",
                 "1_year_less_than_2_years", "1_year_less_than_2_years_percent", "2_years_or_more",
                 "2_years_or_more_percent"],
    "cla": GEO + ["old_la_code", "la_name", "new_la_code", "population_type", "population_estimate",
                  "children_count", "rate_per_10000"],
    "population": GEO + ["old_la_code", "new_la_code", "la_name", "age_group", "population_estimate"],
}
REAL_FILES = {
    "b1": "b1_children_in_need_2013_to_2025.csv",
    "c1": "c1_children_in_need_referrals_and_rereferrals_2013_to_2025.csv",
    "d3": "d3_cpps_subsequent_plan_2013_to_2025.csv",
    "d5": "d5_cpps_at31march_by_duration_2013_to_2025.csv",
    "cla": "cla_number_and_rate_per_10k_children.csv",
    "population": "ons_mid-year_population_estimates_2012_to_2024.csv",
}
EES_KEYS = list(EXPECTED_HEADERS)
COUNT_COLUMNS = {
    "b1": EXPECTED_HEADERS["b1"][11:],
    "c1": ["referral_count", "rereferral_count", "no_further_action_count", "not_in_need_count",
           "referral_child_count", "rereferral_child_count"],
    "d3": ["CPP_start", "CPP_subsequent"],
    "d5": ["CPP_At31", "3_months_or_less", "more_than_3_months_6_months", "more_than_6_months_less_than_1_year",
           "1_year_less_than_2_years", "2_years_or_more"],
    "cla": ["children_count"],
}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def run(tmp_path_factory, name, **kw):
    args = dict(seed=SEED, programmes=PROGRAMMES, effects={}, national_rollout=None)
    args.update(kw)
    out = tmp_path_factory.mktemp(name)
    return simulate_la_returns(out, **args)


def read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def la_rows(df):
    return df[df["geographic_level"] == "Local authority"]


def file_rates(paths) -> pd.DataFrame:
    """LA x reporting year x outcome: count, ONS denominator (mid-year t-1) and rate per 10k, from the files."""
    pop = la_rows(read(paths["population"]))
    pop = pd.DataFrame({"la_code": pop["old_la_code"], "time_period": pop["time_period"].astype(int) + 1,
                        "pop": pop["population_estimate"].astype(float)})
    tables = {k: la_rows(read(paths[k])) for k in ("b1", "c1", "d3", "d5", "cla")}
    pieces = []
    for outcome, (key, col, ptype) in SOURCES.items():
        df = tables[key]
        if ptype:
            df = df[df["population_type"] == ptype]
        df = df[df[col] != "z"]
        pieces.append(pd.DataFrame({"la_code": df["old_la_code"], "time_period": df["time_period"].astype(int),
                                    "outcome": outcome, "count": pd.to_numeric(df[col], errors="coerce")}))
    out = pd.concat(pieces).merge(pop, on=["la_code", "time_period"], how="left", validate="many_to_one")
    assert out["pop"].notna().all(), "every LA-year in an outcome file must have an ONS denominator for mid-year t-1"
    out["rate"] = out["count"] / out["pop"] * PER_10K
    return out


def two_way_fe_residual_sd(df: pd.DataFrame) -> float:
    """SD (ddof=0) of residuals of rate on LA and year dummies (least squares, unbalanced panel)."""
    la = pd.get_dummies(df["la_code"], dtype=float)
    yr = pd.get_dummies(df["time_period"], dtype=float).iloc[:, 1:]
    X = np.hstack([la.to_numpy(), yr.to_numpy()])
    y = df["rate"].to_numpy()
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    return float(np.std(y - X @ beta))


def pooled_ar1(df: pd.DataFrame) -> float:
    prev = df.assign(time_period=df["time_period"] + 1)[["la_code", "time_period", "rate"]]
    pairs = df.merge(prev, on=["la_code", "time_period"], suffixes=("", "_lag"))
    return float(np.corrcoef(pairs["rate"], pairs["rate_lag"])[0, 1])


def first_treated_year(start: str) -> int:
    d = dt.date.fromisoformat(start)
    return d.year + 1 if d >= dt.date(d.year, 3, 31) else d.year


def round10(x):
    return int(math.floor(x / 10 + 0.5) * 10)


# ---------------------------------------------------------------------------------------------
# fixtures: each full simulation takes well under a second
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Full default universe 2013-2029, no effects."""
    return run(tmp_path_factory, "base")


@pytest.fixture(scope="module")
def treated(tmp_path_factory):
    """Same seed with programme effects and the national roll-out."""
    return run(tmp_path_factory, "treated", effects=EFFECTS, national_rollout=NATIONAL_ROLLOUT)


@pytest.fixture(scope="module")
def base_rates(base):
    return file_rates(base)


# ---------------------------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------------------------
def test_returns_every_file_named_as_dfe_names_them(base):
    assert set(base) == set(EES_KEYS) | {"true_effects", "manifest"}, \
        "simulate_la_returns must return b1, c1, d3, d5, cla, population, true_effects and manifest"
    assert base["b1"].name == "b1_children_in_need_2013_to_2029.csv", "b1 file name must carry first_to_last"
    assert base["population"].name == "ons_mid-year_population_estimates_2012_to_2028.csv", \
        "the ONS file spans mid-years first-1 to last-1"
    assert all(p.is_file() for p in base.values()), "every returned path must exist"


def test_same_seed_gives_byte_identical_files_and_other_seed_differs(tmp_path_factory, treated):
    again = run(tmp_path_factory, "again", effects=EFFECTS, national_rollout=NATIONAL_ROLLOUT)
    for key in treated:
        assert sha(treated[key]) == sha(again[key]), f"{key}: same seed and inputs must give byte-identical files"
    other = run(tmp_path_factory, "other", seed=SEED + 1, effects=EFFECTS, national_rollout=NATIONAL_ROLLOUT)
    for key in EES_KEYS + ["true_effects"]:
        assert sha(treated[key]) != sha(other[key]), f"{key}: a different seed must give different data"


def test_manifest_records_seed_targets_and_hashes(treated):
    m = json.loads(treated["manifest"].read_text(encoding="utf-8"))
    assert m["seed"] == SEED, "manifest must record the seed"
    assert m["parameters"]["effects"] == EFFECTS, "manifest must record the effects as given"
    assert m["calibration_targets"]["outcomes"]["cla_rate_per_10k"]["mean"] == 76, \
        "manifest must record the calibration targets used"
    for key in EES_KEYS + ["true_effects"]:
        assert m["files"][key]["sha256"] == sha(treated[key]), f"manifest sha256 of {key} must match the file"
    assert str(treated["manifest"].parent) not in treated["manifest"].read_text(), \
        "manifest must not embed the output folder (it would break byte-identity across folders)"


# ---------------------------------------------------------------------------------------------
# format
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", EES_KEYS)
def test_headers_are_the_published_ones(base, key):
    header = base[key].read_text(encoding="utf-8-sig").split("\n", 1)[0].split(",")
    assert header == EXPECTED_HEADERS[key], f"{key}: column names or order differ from the real EES file"


@pytest.mark.shared_data
@pytest.mark.parametrize("key", EES_KEYS)
def test_header_lines_match_real_files(base, shared_ees, key):
    real = (shared_ees / REAL_FILES[key]).read_bytes().split(b"\n", 1)[0]
    ours = base[key].read_bytes().split(b"\n", 1)[0]
    assert ours == real, f"{key}: header line (incl. any BOM) differs from the published file"


@pytest.mark.shared_data
def test_geography_and_row_order_match_real_files(tmp_path_factory, shared_ees):
    """In the real files' own years, every geography cell and the row order match the published files."""
    sim = run(tmp_path_factory, "layout", first_year=2021, last_year=2025, programmes={}, effects={})
    geo_cin = ["time_period", "geographic_level", "region_code", "region_name", "old_la_code", "new_la_code", "la_name"]
    for key, cols, years in [("cla", geo_cin + ["population_type"], None),
                             ("population", geo_cin, None),
                             ("b1", geo_cin, ["2025", "2024", "2023"]), ("d5", geo_cin, ["2025", "2024"])]:
        real, ours = read(shared_ees / REAL_FILES[key]), read(sim[key])
        common = sorted(set(real.time_period) & set(ours.time_period)) if years is None else years
        a = real[real.time_period.isin(common)][cols].reset_index(drop=True)
        b = ours[ours.time_period.isin(common)][cols].reset_index(drop=True)
        assert len(a) == len(b), f"{key}: {len(b)} rows in years {common}, the published file has {len(a)}"
        assert a.equals(b), f"{key}: geography cells or row order differ from the published file"
    # blank / quoted-blank cell pattern by geographic level
    for key in ("b1", "d3", "cla"):
        def pattern(path):
            out = set()
            for line in path.read_text(encoding="utf-8-sig").splitlines()[1:]:
                f = line.split(",")
                out.add((f[2], tuple("Q" if x == '""' else ("E" if x == "" else "v") for x in f[:11])))
            return out
        assert pattern(sim[key]) <= pattern(shared_ees / REAL_FILES[key]), \
            f"{key}: blank/quoted cells by geographic level differ from the published file"


def test_cla_file_has_bom_and_others_do_not(base):
    assert base["cla"].read_bytes().startswith(b"\xef\xbb\xbf"), "the 2025-release CLA file starts with a UTF-8 BOM"
    for key in ("b1", "c1", "d3", "d5", "population"):
        assert base[key].read_bytes().startswith(b"time_period,"), f"{key} must not start with a BOM"


def test_time_identifier_country_and_levels(base):
    for key in EES_KEYS:
        df = read(base[key])
        assert set(df.time_identifier) == {"Reporting year"}, f"{key}: time_identifier must be 'Reporting year'"
        assert set(df.country_code) == {"E92000001"}, f"{key}: country_code must be E92000001"
        assert set(df.geographic_level) == {"National", "Regional", "Local authority"}, f"{key}: wrong levels"
        reg = df[df.geographic_level == "Regional"]
        assert {"E13000001", "E13000002", "E12000007"} <= set(reg.region_code), \
            f"{key}: Regional rows must include London, Inner London and Outer London"
        nat = df[df.geographic_level == "National"]
        assert (nat.region_code.isin(["", '""'])).all() and (nat.old_la_code == "").all(), \
            f"{key}: National rows must leave region and LA columns blank"


def test_cla_universe_and_z_rows_for_authorities_that_do_not_exist(base):
    cla = la_rows(read(base["cla"]))
    per_year = cla.groupby("time_period").old_la_code.nunique()
    assert (per_year == 158).all(), "2013-2029 CLA file must carry every LA of the span every year (158)"
    assert len(cla) == 158 * 3 * 17, "three population_type rows per LA and year"

    def cells(code, year):
        return cla[(cla.old_la_code == code) & (cla.time_period == str(year))]

    for code, year in [("909", 2024), ("928", 2022), ("835", 2020), ("836", 2025), ("940", 2021), ("942", 2023),
                       ("838", 2019), ("839", 2013)]:
        c = cells(code, year)
        assert (c.children_count == "z").all() and (c.rate_per_10000 == "z").all(), \
            f"LA {code} does not exist in {year}: counts and rates must be z"
        assert (c.population_estimate == "x").all(), f"LA {code} in {year}: population must be x"
    for code, year in [("909", 2023), ("928", 2021), ("835", 2019), ("940", 2022), ("942", 2024), ("838", 2020)]:
        assert (cells(code, year).children_count != "z").all(), f"LA {code} reports in {year}: no z"
    b1 = la_rows(read(base["b1"]))
    assert not (b1[b1.time_period.astype(int) >= 2022].old_la_code == "928").any(), \
        "b1 lists only the authorities of each year: no Northamptonshire from 2022"
    assert b1.groupby("time_period").size().loc["2025"] == 153, "153 LAs report in 2025"
    assert b1.groupby("time_period").size().loc["2013"] == 152, "152 LAs report in 2013"


def test_small_counts_are_suppressed_as_c(base):
    seen_c = set()
    for key, cols in COUNT_COLUMNS.items():
        df = la_rows(read(base[key]))
        for col in cols:
            v = df[col]
            num = pd.to_numeric(v, errors="coerce")
            assert not num.between(1, 5).any(), f"{key}.{col}: an LA count between 1 and 5 is published unsuppressed"
            seen_c |= set(df.loc[v == "c", "old_la_code"])
        if key == "c1":
            hidden = df.rereferral_count == "c"
            assert (df.loc[hidden, "rereferral_percent"] == "c").all(), \
                "a percent computed from a suppressed count must be suppressed too"
        if key == "cla":
            assert (df.loc[df.children_count == "c", "rate_per_10000"] == "c").all(), \
                "a CLA rate computed from a suppressed count must be suppressed"
    assert {"201", "420"} <= seen_c, "tiny LAs (City of London, Isles of Scilly) must show suppressed counts"


@pytest.mark.parametrize("key", ["b1", "c1", "d3", "d5", "cla"])
def test_national_and_regional_rows_are_rounded_la_sums(base, key):
    df = read(base[key])
    by = ["time_period"] + (["population_type"] if key == "cla" else [])
    la = la_rows(df)
    london = la.region_code.isin(["E13000001", "E13000002"])
    checked_exact = 0
    for col in COUNT_COLUMNS[key]:
        for level, region in [("National", None)] + [("Regional", r) for r in sorted(set(df[df.geographic_level == "Regional"].region_code))]:
            agg = df[df.geographic_level == level]
            if region is not None:
                agg = agg[agg.region_code == region]
                # LA rows carry Inner/Outer London as region; the London row sums both
                mask = (la.region_code == region) | ((region == "E12000007") & london)
                sub = la[mask]
            else:
                sub = la
            sub = sub[sub[col] != "z"]
            for keys, grp in sub.groupby(by):
                keys = keys if isinstance(keys, tuple) else (keys,)
                row = agg
                for b, k in zip(by, keys):
                    row = row[row[b] == k]
                total = int(row[col].iloc[0])
                assert total % 10 == 0, f"{key}.{col} {level} {region} {keys}: totals are rounded to the nearest 10"
                vals = grp[col]
                n_c = int((vals == "c").sum())
                visible = int(pd.to_numeric(vals, errors="coerce").fillna(0).sum())
                if n_c == 0:
                    checked_exact += 1
                    assert total == round10(visible), \
                        f"{key}.{col} {level} {region} {keys}: total {total} is not the rounded LA sum {visible}"
                else:  # suppressed cells are at least 1 (secondary suppression may hide larger ones)
                    assert total >= round10(visible + n_c) - 10, \
                        f"{key}.{col} {level} {region} {keys}: total {total} below the visible LA cells"
    assert checked_exact > 0, f"{key}: no aggregate could be checked exactly"


# ---------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def window(base_rates):
    df = base_rates[base_rates.time_period.between(2016, 2025) & ~base_rates.la_code.isin(["201", "420"])]
    assert df["rate"].notna().all(), "no suppression expected outside the two tiny LAs"
    return df


@pytest.mark.parametrize("outcome", list(TARGETS))
def test_panel_moments_match_the_calibration_table(window, outcome):
    mean_t, between_t, within_t, ar1_t = TARGETS[outcome]
    df = window[window.outcome == outcome]
    mean = df.rate.mean()
    between = df.groupby("la_code").rate.mean().std()
    within = two_way_fe_residual_sd(df)
    ar1 = pooled_ar1(df)
    assert abs(mean / mean_t - 1) <= TOL_MEAN, f"{outcome}: mean {mean:.1f} is not within 5% of {mean_t}"
    assert abs(between / between_t - 1) <= TOL_BETWEEN, \
        f"{outcome}: between-LA SD {between:.1f} is not within 20% of {between_t}"
    assert abs(within / within_t - 1) <= TOL_WITHIN, \
        f"{outcome}: within-LA SD after LA+year FE {within:.2f} is not within 20% of {within_t}"
    assert abs(ar1 - ar1_t) <= TOL_AR1, f"{outcome}: pooled AR(1) {ar1:.3f} is not within 0.05 of {ar1_t}"


def test_cross_outcome_correlations_of_levels(window):
    wide = window[window.time_period == 2024].pivot(index="la_code", columns="outcome", values="rate")
    corr = wide.corr()
    for a, b in [("cin_rate_per_10k", "cpp_rate_per_10k"), ("cin_rate_per_10k", "cla_rate_per_10k"),
                 ("cpp_rate_per_10k", "cla_rate_per_10k")]:
        assert 0.55 <= corr.loc[a, b] <= 0.85, f"2024 cross-LA correlation {a}-{b} = {corr.loc[a, b]:.2f}, outside 0.55-0.85"


def test_population_sizes_and_tiny_las(base_rates):
    pop = base_rates[(base_rates.time_period == 2025) & (base_rates.outcome == "cin_rate_per_10k")].set_index("la_code")["pop"]
    assert 300 <= pop["420"] <= 370, "Isles of Scilly must have about 330 children"
    assert 740 <= pop["201"] <= 870, "City of London must have about 800 children"
    rest = pop.drop(["201", "420"])
    assert 50_000 <= rest.median() <= 76_000, f"median LA population {rest.median():.0f} should be near 62,500"
    assert rest.quantile(0.1) < rest.median() < rest.quantile(0.9), "populations must spread across LAs"
    assert rest.quantile(0.9) / rest.median() > rest.median() / rest.quantile(0.1), "LA size must be right-skewed"


# ---------------------------------------------------------------------------------------------
# true effects
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def truth(treated):
    return pd.read_csv(treated["true_effects"], dtype={"la_code": str})


def test_truth_columns_and_coverage(truth):
    assert list(truth.columns) == ["programme", "la_code", "outcome", "time_period", "period",
                                   "first_treated_period", "event_time", "true_effect", "counterfactual_rate"], \
        "true_effects.csv columns differ from the contract"
    for prog, spec in PROGRAMMES.items():
        for wave in spec["waves"]:
            fy = first_treated_year(wave["start"])
            for code in wave["la_codes"]:
                rows = truth[(truth.programme == prog) & (truth.la_code == code)]
                assert len(rows) == 6 * (2029 - fy + 1), \
                    f"{prog} LA {code}: need one row per outcome x reporting year from {fy} to 2029"
    roll = truth[truth.programme == "national_rollout"]
    assert roll.la_code.nunique() == 153, "the national roll-out must have rows for every LA reporting in 2026+"
    assert roll.time_period.min() == 2026, "an April 2025 start first shows in reporting year 2026"


def test_truth_has_no_rows_before_start_and_consistent_timing(truth):
    starts = {(p, c): w["start"] for p, s in PROGRAMMES.items() for w in s["waves"] for c in w["la_codes"]}
    starts |= {("national_rollout", c): NATIONAL_ROLLOUT["start"] for c in truth.la_code.unique()}
    for (prog, code), grp in truth.groupby(["programme", "la_code"]):
        fy = first_treated_year(starts[(prog, code)])
        assert grp.time_period.min() == fy, f"{prog} LA {code}: rows before its start or missing first year"
        assert (grp.first_treated_period == f"{fy - 1}-04-01").all(), \
            f"{prog} LA {code}: first_treated_period must be the start of reporting year {fy}"
        assert (grp.event_time == grp.time_period - fy).all(), f"{prog} LA {code}: event_time != year - first year"
        assert (grp.period == (grp.time_period - 1).astype(str) + "-04-01").all(), \
            f"{prog} LA {code}: period must be the ISO start date of the reporting year"
    w1 = truth[(truth.programme == "ffc") & (truth.la_code == "838")]
    assert w1.first_treated_period.iloc[0] == "2023-04-01", "a July 2023 start is treated from reporting year 2024"


def test_truth_signs_sizes_and_untreated_outcomes(truth):
    ffc = truth[truth.programme == "ffc"]
    assert (ffc[ffc.outcome == "referral_rate_per_10k"].true_effect == 0).all(), \
        "an outcome without an effect entry must have a zero true effect"
    cpp = ffc[ffc.outcome == "cpp_rate_per_10k"]
    assert (cpp.true_effect < 0).mean() > 0.9, "a negative relative size must mostly reduce the rate"
    rel = (cpp.true_effect / cpp.counterfactual_rate).groupby(cpp.la_code).last()
    assert abs(rel.mean() - (-0.12)) < 0.06, "long-run relative effect should average near the configured -12%"
    # homogeneous absolute ramp: exactly size * (1 - exp(-elapsed / ramp)) at each 31 March
    fnp = truth[(truth.programme == "fnp") & (truth.outcome == "cla_rate_per_10k")]
    starts = {c: w["start"] for w in PROGRAMMES["fnp"]["waves"] for c in w["la_codes"]}
    for r in fnp.itertuples():
        elapsed = (dt.date(r.time_period, 3, 31) - dt.date.fromisoformat(starts[r.la_code])).days / 365.25
        assert r.true_effect == pytest.approx(-3.0 * (1 - math.exp(-elapsed / 2.0)), abs=1e-9), \
            "absolute ramped effect must follow size * (1 - exp(-(d - start) / ramp_years))"
    # homogeneous relative step (ramp 0): exactly size x counterfactual
    rcc = truth[(truth.programme == "rcc") & (truth.outcome == "cla_rate_per_10k")]
    assert np.allclose(rcc.true_effect, -0.05 * rcc.counterfactual_rate, rtol=0, atol=1e-9), \
        "relative step effect must be size x counterfactual rate from the first treated year"


def test_homogeneous_absolute_step_is_exactly_size(tmp_path_factory):
    eff = {"ffc": {o: {"size": -4.0, "scale": "absolute", "ramp_years": 0.0, "heterogeneity_sd": 0.0}
                   for o in TARGETS}}
    paths = run(tmp_path_factory, "step", effects=eff, n_las=40)
    t = pd.read_csv(paths["true_effects"], dtype={"la_code": str})
    t = t[t.programme == "ffc"]
    assert len(t) == (3 * 6 + 7 * 5) * 6, "one row per ffc LA x outcome x year from 2024 (wave 1) / 2025 (wave 2)"
    assert (t.true_effect == -4.0).all(), "a homogeneous absolute step must be exactly size on every row"


def test_observed_minus_counterfactual_equals_true_effect(base_rates, treated, truth):
    obs = file_rates(treated)
    m = obs.merge(base_rates, on=["la_code", "time_period", "outcome"], suffixes=("", "_0"))
    assert len(m) == len(obs) == len(base_rates), "treated and untreated runs must cover the same cells"
    assert (m["pop"] == m["pop_0"]).all(), "effects must not change the population"
    total = truth.groupby(["la_code", "time_period", "outcome"], as_index=False).true_effect.sum()
    m = m.merge(total, on=["la_code", "time_period", "outcome"], how="left").fillna({"true_effect": 0.0})
    m = m[m["count"].notna() & m["count_0"].notna()]
    diff = (m["rate"] - m["rate_0"]) - m["true_effect"]
    bound = PER_10K / m["pop"] + 1e-9  # two half-count roundings
    bad = m[diff.abs() > bound]
    assert bad.empty, f"observed - counterfactual differs from true_effect beyond count rounding:\n{bad.head()}"
    untouched = m[(m.true_effect == 0)]
    assert (untouched["count"] == untouched["count_0"]).all(), \
        "cells without a true effect must be identical to the no-effect run (same seed)"
    assert (m.loc[m.true_effect != 0, "count"] != m.loc[m.true_effect != 0, "count_0"]).any(), \
        "effects must show up in the published counts"


def test_effect_draws_do_not_move_the_counterfactual(tmp_path_factory, truth):
    only_ffc = run(tmp_path_factory, "only_ffc", effects={"ffc": EFFECTS["ffc"]})
    t = pd.read_csv(only_ffc["true_effects"], dtype={"la_code": str})
    a = t[t.programme == "ffc"].reset_index(drop=True)
    b = truth[truth.programme == "ffc"].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, obj="ffc truth rows must not depend on other programmes' effects")


# ---------------------------------------------------------------------------------------------
# n_las
# ---------------------------------------------------------------------------------------------
def test_subsample_keeps_programme_las_and_full_run_values(tmp_path_factory, base_rates):
    sub = run(tmp_path_factory, "sub", n_las=40)
    r = file_rates(sub)
    codes = set(r.la_code)
    assert len(codes) == 40, f"n_las=40 must give 40 LAs, got {len(codes)}"
    assert set(PROGRAMME_LAS) <= codes, "a subsample must keep every LA named in programmes"
    m = r.merge(base_rates, on=["la_code", "time_period", "outcome"], suffixes=("", "_full"))
    assert len(m) == len(r), "every subsample cell must exist in the full run"
    assert (m["pop"] == m["pop_full"]).all() and (m["count"].fillna(-1) == m["count_full"].fillna(-1)).all(), \
        "a subsampled LA must get exactly the numbers of the full run"


def test_n_las_above_universe_adds_x_coded_units(tmp_path_factory, base_rates):
    big = run(tmp_path_factory, "big", n_las=170)
    r = file_rates(big)
    codes = set(r.la_code)
    extra = sorted(c for c in codes if c.startswith("X"))
    assert len(codes) == 170 and extra == [f"X{i:04d}" for i in range(1, 13)], \
        "n_las above the 158-LA universe must add synthetic units X0001..X0012"
    cla = la_rows(read(big["cla"]))
    assert set(extra) <= set(cla.old_la_code), "synthetic units must appear in the CLA file too"
    real = r[~r.la_code.str.startswith("X")].merge(base_rates, on=["la_code", "time_period", "outcome"], suffixes=("", "_full"))
    assert (real["count"].fillna(-1) == real["count_full"].fillna(-1)).all(), \
        "adding synthetic units must not change the real LAs' numbers"


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(effects={"ffc": {"sgo_rate": {"size": 1}}}), "unknown outcome"),
    (dict(programmes={"ffc": {"waves": [{"start": "2024-04-01", "la_codes": ["999"]}]}}), "999"),
    (dict(effects={"ffc": {"cpp_rate_per_10k": {"size": 1, "scale": "log"}}}), "scale"),
    (dict(programmes={"ffc": {"waves": [{"start": "July 2023", "la_codes": ["838"]}]}}), "ISO date"),
    (dict(first_year=2030, last_year=2029), "after last_year"),
    (dict(n_las=5), "smaller than"),
])
def test_invalid_input_is_refused_with_a_clear_message(tmp_path, kwargs, message):
    args = dict(seed=SEED, programmes=PROGRAMMES, effects={}) | kwargs
    with pytest.raises(ValueError, match=message):
        simulate_la_returns(tmp_path, **args)
