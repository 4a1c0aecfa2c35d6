"""The design rules end to end on a small synthetic run: pools, membership, balance, pre-trends, placebo
MDEs and the analysis plan per programme, their disclosure safety, and the MDE's response to the number
of treated LAs (a second programme with only FFfC's wave 1 must have larger MDEs)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from csceval.disclosure import DisclosureRules, check_publishable
from csceval.workflow_support import read_timing
from test_workflow import small_config, snakemake, workdir_with

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OUTCOMES = ["cpp_rate_per_10k", "cla_starts_rate_per_10k"]


def design_config() -> dict:
    config = small_config()
    config["design"]["mde"]["n_sims"] = 100
    ffc = config["programmes"]["ffc"]
    ffc["outcomes"] = OUTCOMES
    ffc["outcome_chain"] = {o: ffc["outcome_chain"][o] for o in OUTCOMES}
    small = copy.deepcopy(ffc)
    small.update(name="FFfC wave 1 only", short_name="FFfC-3", estimate=False, waves=[ffc["waves"][0]])
    config["programmes"]["ffc_wave1"] = small
    config["programmes"]["fnp"]["outcomes"] = ["cla_starts_rate_per_10k"]
    config["programmes"]["fnp"]["outcome_chain"] = {"cla_starts_rate_per_10k": config["programmes"]["fnp"]["outcome_chain"]["cla_starts_rate_per_10k"]}
    return config


def targets(config) -> list[str]:
    out = [f"results/report/tables/{p}_design_pools.csv" for p in config["programmes"]]
    for p in ("ffc", "ffc_wave1", "fnp"):
        out += [f"results/report/plans/{p}_analysis_plan.md", f"results/report/tables/{p}_balance.csv"]
    return out


@pytest.fixture(scope="module")
def design_run(tmp_path_factory):
    config = design_config()
    workdir = workdir_with(tmp_path_factory.mktemp("design"), config)
    snakemake(workdir, "--cores", "2", *targets(config))
    return workdir, config


def test_design_outputs_exist_for_every_programme(design_run):
    workdir, config = design_run
    report = workdir / "results" / "report"
    for p in ("ffc", "ffc_wave1", "fnp"):
        for name in (f"tables/{p}_balance.csv", f"tables/{p}_mde.csv", f"tables/{p}_pretrends.csv",
                     f"tables/{p}_design_pools.csv", f"plans/{p}_analysis_plan.md",
                     f"figures/{p}/balance.png", f"figures/{p}/balance.svg", f"figures/{p}/balance.txt"):
            assert (report / name).stat().st_size > 0, f"{name} is missing or empty"
        for o in config["programmes"][p]["outcomes"]:
            for ext in ("png", "svg", "txt"):
                assert (report / "figures" / p / f"{o}_pre_trends.{ext}").stat().st_size > 0, f"{p}/{o} pre-trend {ext} missing"
    rcc = pd.read_csv(report / "tables" / "rcc_design_pools.csv", dtype=str, keep_default_na=False)
    assert (rcc["role"] == "treated").sum() == 12, "RCC's pool list must name its 12 member LAs as treated"


def test_pools_never_include_treated_or_excluded_las(design_run):
    workdir, _ = design_run
    for p in ("ffc", "ffc_wave1", "fnp", "rcc"):
        timing = read_timing(workdir / "results" / "design" / p / "treatment_timing.csv")
        pools = pd.read_csv(workdir / "results" / "design" / p / "pools.csv", dtype={"la_code": str})
        bad = set(timing.loc[timing["role"].ne("comparison"), "la_code"])
        included = set(pools.loc[pools["included"].astype(str).str.lower().eq("true"), "la_code"])
        assert not included & bad, f"{p}: a pool includes treated/excluded LA(s) {sorted(included & bad)}"
        assert {"eligible", "neighbours"} <= set(pools["pool_kind"]), f"{p}: the eligible and neighbour pools must be built"
    assert (workdir / "results" / "design" / "statistical_neighbours_synthetic.csv").exists(), "synthetic runs need a neighbour file"


def test_report_tables_pass_the_disclosure_guard(design_run):
    workdir, config = design_run
    rules = DisclosureRules.from_config(config["report"]["disclosure"])
    for path in sorted((workdir / "results" / "report" / "tables").glob("*")):
        if path.suffix == ".csv" and any(k in path.name for k in ("_balance", "_mde", "_pretrends", "_design_pools")):
            check_publishable(pd.read_csv(path, keep_default_na=False), path.name, rules)


def test_placebo_mde_finite_positive_and_larger_with_fewer_treated(design_run):
    workdir, _ = design_run
    tables = workdir / "results" / "report" / "tables"
    ten = pd.read_csv(tables / "ffc_mde.csv", dtype={"wave_sizes": str})
    three = pd.read_csv(tables / "ffc_wave1_mde.csv", dtype={"wave_sizes": str})
    for t, n in ((ten, "3 + 7"), (three, "3")):
        eligible = t[t["pool"].eq("eligible")]
        assert len(eligible) == len(OUTCOMES) and np.isfinite(eligible["mde"]).all() and (eligible["mde"] > 0).all(), \
            f"placebo MDEs must be finite and positive:\n{eligible}"
        assert (eligible["wave_sizes"].astype(str) == n).all(), "the placebo must keep the real wave structure"
    a = ten[ten["pool"].eq("eligible")].set_index("outcome")["mde"]
    b = three[three["pool"].eq("eligible")].set_index("outcome")["mde"]
    assert (b > a).all(), f"3 treated LAs must have larger MDEs than 10:\n10: {a}\n3: {b}"


def test_plan_renders_outcome_chain_design_mde_and_assumptions(design_run):
    workdir, _ = design_run
    plan = (workdir / "results" / "report" / "plans" / "ffc_analysis_plan.md").read_text()
    for text in ("Inputs hash", "Intermediate", "decrease", "`CPP_At31`", "| eligible | primary (estimators)",
                 "## 5. Inference policy", "**randomization**", "## 6. Minimum detectable effects",
                 "(ASSUMED:", "(CONFIRMED:", "annual"):
        assert text in plan, f"the plan lacks {text!r}"
    assert "Not computed" not in plan, "the plan must carry the MDEs"
