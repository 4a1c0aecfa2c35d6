"""The robustness (robustness.smk) and RCC synthetic-control (synth.smk) rules end to end on a small
synthetic run: outputs are registered for `all`, exist, pass disclosure control, and the RCC estimate
on data that carry no RCC effect is not significant."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from csceval.disclosure import DisclosureRules, check_publishable

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TABLES = [
    "robustness_honest_did.csv", "robustness_leave_one_out.csv", "robustness_placebo_in_time.csv",
    "rcc_synth_estimates.csv", "rcc_synth_inference.csv", "rcc_synth_weights.csv", "rcc_synth_donors.csv",
    "rcc_synth_pooled.csv",
]


def small_config() -> dict:
    """Default config shrunk: 70 LAs (so ~40 non-programme LAs can form RCC donors), years 2013-2027
    (two RCC post-periods), only the estimators the robustness rules need, cheaper grids."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["simulate"].update(n_las=70, last_year=2027)
    # the 70-LA sample holds only part of Cumbria's and Northamptonshire's successor LAs: keep their series
    config["data"]["boundary_changes"].update({"2021_northamptonshire": "keep", "2023_cumbria": "keep"})
    config["programmes"]["fnp"]["outcomes"] = ["cla_starts_rate_per_10k"]
    config["programmes"]["ffc"]["outcomes"] = ["cpp_rate_per_10k"]
    config["programmes"]["rcc"]["outcomes"] = ["cla_rate_per_10k", "cla_starts_rate_per_10k"]
    for spec in config["programmes"].values():  # keep other keys per outcome consistent with the shorter lists
        if isinstance(spec.get("outcome_chain"), dict):
            spec["outcome_chain"] = {o: v for o, v in spec["outcome_chain"].items() if o in spec["outcomes"]}
    config["robustness"]["honest_did"].update(grid_points=200, Mbar=[0, 0.5, 1, 2])
    config["synth"]["synthetic_did"]["n_reps"] = 100
    return config


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, dict, str]:
    workdir = tmp_path_factory.mktemp("robustness_run")
    (workdir / "config").mkdir()
    config = small_config()
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    plan = snakemake(workdir, "results/report/manifest.json", "-n", "--cores", "1").stdout
    snakemake(workdir, "--cores", "2", *[f"results/report/tables/{t}" for t in TABLES], "results/report/tables/rcc_synth_headline.md",
              "results/report/figures/rcc/synth/greater_manchester_cla_rate_per_10k_sc_paths.png")
    return workdir, config, plan


def test_outputs_are_registered_for_the_report(run):
    _, _, plan = run
    for rule in ("robustness_honest_did", "robustness_leave_one_out", "robustness_placebo_in_time",
                 "robustness_tables", "synth_units", "synth", "synth_tables", "synth_pooled"):
        assert rule in plan, f"rule {rule} is not needed by the manifest: its outputs are not in EXTRA_REPORT_OUTPUTS"


def test_every_report_output_exists_and_tables_are_publishable(run):
    workdir, config, _ = run
    report = workdir / "results" / "report"
    rules = DisclosureRules.from_config(config["report"]["disclosure"])
    for name in TABLES:
        table = pd.read_csv(report / "tables" / name)
        assert len(table), f"{name} is empty"
        check_publishable(table, name, rules)
    figures = report / "figures"
    for programme, outcome in (("ffc", "cpp_rate_per_10k"), ("fnp", "cla_starts_rate_per_10k")):
        for kind in ("honest_did", "leave_one_out"):
            for ext in ("png", "svg", "txt"):
                path = figures / programme / f"{outcome}_{kind}.{ext}"
                assert path.stat().st_size > 0, f"missing or empty {path}"
    for coop in ("greater_manchester", "south_east"):
        for kind in ("sc_paths", "sc_placebo_gaps", "sc_weights", "sdid_paths"):
            alt = (figures / "rcc" / "synth" / f"{coop}_cla_rate_per_10k_{kind}.txt").read_text()
            assert "true effect is zero" in alt, f"{coop} {kind}: alt text must say the synthetic truth is no effect"


def test_robustness_tables_cover_every_programme_and_check(run):
    workdir, config, _ = run
    tables = workdir / "results" / "report" / "tables"
    honest = pd.read_csv(tables / "robustness_honest_did.csv")
    assert set(zip(honest.programme, honest.outcome)) == {("ffc", "cpp_rate_per_10k"), ("fnp", "cla_starts_rate_per_10k")}
    assert set(honest.restriction) == {"smoothness", "relative_magnitudes"}
    assert set(honest.estimator) == {config["robustness"]["honest_did"]["estimator"]}, "bounds on the configured event study"
    loo = pd.read_csv(tables / "robustness_leave_one_out.csv", dtype={"dropped_la": str})
    ffc = loo[loo.programme.eq("ffc") & loo.estimator.eq("twfe")]
    treated = {c for w in config["programmes"]["ffc"]["waves"] for c in w["la_codes"]}
    assert set(ffc.dropped_la.dropna()) == treated, "every FFfC LA must be left out once"
    placebo = pd.read_csv(tables / "robustness_placebo_in_time.csv")
    assert set(placebo.shift_periods) == set(config["robustness"]["placebo_in_time"]["shifts"])


def test_rcc_synthetic_control_finds_no_effect_on_null_data(run):
    """The synthetic data put no effect on RCC LAs: a permutation test must not reject at 5%."""
    workdir, _, _ = run
    inf = pd.read_csv(workdir / "results" / "report" / "tables" / "rcc_synth_inference.csv")
    sc = inf[inf.estimator.eq("synthetic_control")]
    assert set(sc.treated_unit) == {"greater_manchester", "south_east"}
    assert (sc.post_periods == 2).all(), "reporting years 2025-26 and 2026-27 are the RCC post-periods in this run"
    assert (sc.placebos_used >= 19).all(), f"too few placebos for a 5% test: {sc.placebos_used.tolist()}"
    assert (sc.p_value > 0.05).all(), f"null RCC effect rejected by the synthetic control: {sc[['treated_unit', 'outcome', 'p_value']]}"


def test_rcc_pooled_estimate_finds_no_effect_on_null_data(run):
    """The pooled average over both cooperatives is their mean effect, and on data without an RCC effect its
    placebo p-value must not reject at 5%; the headline table carries every cooperative and the pooled rows."""
    workdir, _, _ = run
    tables = workdir / "results" / "report" / "tables"
    inf = pd.read_csv(tables / "rcc_synth_inference.csv")
    pooled = pd.read_csv(tables / "rcc_synth_pooled.csv")
    assert set(zip(pooled.outcome, pooled.estimator)) == set(zip(inf.outcome, inf.estimator))
    means = inf.groupby(["outcome", "estimator"])["estimate"].mean()
    got = pooled.set_index(["outcome", "estimator"])["estimate"]
    assert (got - means.loc[got.index]).abs().max() < 1e-4, "pooled estimate must be the mean of the cooperatives' (to CSV rounding)"
    shown = pooled[["outcome", "estimator", "estimate", "p_value"]]
    assert (pooled.p_value > 0.05).all(), f"null RCC effect rejected by the pooled test:\n{shown}"
    headline = (tables / "rcc_synth_headline.md").read_text()
    for text in ("Pooled (equal weights)", "Greater Manchester", "placebo", "SYNTHETIC DATA"):
        assert text in headline, f"RCC headline table lacks {text!r}"
