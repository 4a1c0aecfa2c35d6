"""Synthetic data through ingest, panel, design and TWFE: the injected effect comes back.

This is the chain the pipeline runs, called as a library: simulate DfE-format files, read them with
the EES reader, build the panel, assign treatment timing from the programme config, estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from csceval.design import estimation_sample, treatment_timing
from csceval.did import event_study_twfe, twfe
from csceval.panel import build_ees_panel
from csceval.simulate import simulate_la_returns
from conftest import REPO

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def run_chain(tmp_path, effects, seed, outcome):
    simulate_la_returns(tmp_path, seed=seed, first_year=2013, last_year=2026, programmes=CONFIG["programmes"], effects=effects)
    panel = build_ees_panel(tmp_path, [outcome])
    timing = treatment_timing("ffc", CONFIG, panel["la_code"].unique(), panel["period"].unique())
    return estimation_sample(panel, timing, outcome, "2013-04-01", "2025-03-31")


def treated_codes(config) -> set:
    return {c for spec in config["programmes"].values() for w in spec["waves"] for c in w["la_codes"]}


def test_synthetic_files_read_into_a_complete_panel(tmp_path):
    sample = run_chain(tmp_path, {}, seed=3, outcome="cla_rate_per_10k")
    excluded = {c for group in CONFIG["exclusions"] for c in group["la_codes"]}
    assert sample["la_code"].nunique() > 125, "the comparison pool should hold most English LAs"
    assert not set(sample["la_code"]) & (excluded - treated_codes(CONFIG)), "excluded LAs must not be in the sample"
    treated = sample.loc[sample["first_treated"].notna(), "la_code"].unique()
    assert sorted(treated) == sorted(c for w in CONFIG["programmes"]["ffc"]["waves"] for c in w["la_codes"])
    dorset = sample[sample["la_code"].eq("838")]
    assert dorset["period"].min() == pd.Timestamp("2019-04-01"), "Dorset (838) reports from 2019-20 only"
    assert sample["value"].notna().mean() > 0.99


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_twfe_recovers_a_homogeneous_step_effect(tmp_path, seed):
    """No heterogeneity (same absolute effect in every LA, immediate): TWFE is unbiased here, so its
    95% interval must contain the injected -8 per 10,000 and the estimate must be within 3 SE."""
    effects = {"ffc": {"cpp_rate_per_10k": {"size": -8.0, "scale": "absolute", "ramp_years": 0.0, "heterogeneity_sd": 0.0}}}
    sample = run_chain(tmp_path, effects, seed, "cpp_rate_per_10k")
    res = twfe(sample, "value")
    row = res.tidy().iloc[0]
    assert abs(row.estimate + 8.0) < 3 * row.std_error, f"TWFE {row.estimate:.2f} (SE {row.std_error:.2f}) misses -8"
    assert row.ci_lower < -8.0 < row.ci_upper


def test_event_study_pre_periods_are_flat_and_post_recovers_a_large_effect(tmp_path):
    effects = {"ffc": {"cla_rate_per_10k": {"size": -15.0, "scale": "absolute", "ramp_years": 0.0, "heterogeneity_sd": 0.0}}}
    sample = run_chain(tmp_path, effects, 5, "cla_rate_per_10k")
    table = event_study_twfe(sample, "value", leads=5, lags=1).tidy()
    es = table[table.aggregation.eq("event_study") & table.std_error.notna()].set_index("event_time")
    pre, post = es[es.index < 0], es[es.index >= 0]
    assert (np.abs(pre.estimate) < 3 * pre.std_error).all(), f"pre-period coefficients should be ~0:\n{pre}"
    assert (np.abs(post.estimate + 15.0) < 3 * post.std_error).all(), f"post coefficients should be ~-15:\n{post}"
