"""The Snakemake workflow end to end, as a user runs it: lint, config errors, a small full run,
determinism and rerun behaviour."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]

pytestmark = pytest.mark.e2e


def small_config() -> dict:
    """The default config, shrunk: 40 LAs (all programme LAs kept), reporting years 2013-2026, fewer draws."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["simulate"]["n_las"] = 40
    config["simulate"]["last_year"] = 2026
    config["inference"].update(n_permutations=199, n_boot=999)
    config["inference"]["size_experiment"].update(replications=20, draws=49)
    return config


def workdir_with(tmp: Path, config: dict) -> Path:
    (tmp / "config").mkdir(parents=True, exist_ok=True)
    (tmp / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return tmp


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    workdir = workdir_with(tmp_path_factory.mktemp("run1"), small_config())
    snakemake(workdir, "--cores", "2")
    return workdir


def test_lint_is_clean():
    proc = subprocess.run([*SNAKEMAKE, "--lint", "--directory", str(REPO)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, f"snakemake --lint found problems:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["data"].update(colour="blue"), r"Additional properties are not allowed \('colour' was unexpected\)"),
        (lambda c: c["estimation"].update(alpha="five percent"), r"'five percent' is not of type 'number'"),
        (lambda c: c["programmes"]["ffc"]["waves"][0]["la_codes"].append("999"), r"programmes\.ffc\.waves\[0\]\.la_codes\[3\]: '999' is not the code of an English local authority"),
        (lambda c: c["programmes"]["fnp"].update(clean_window_end="2025-02-30"), r"programmes\.fnp\.clean_window_end: '2025-02-30' is not a valid date"),
        (lambda c: c["data"].update(boundary_changes={"2019_dorset": "drop"}), r"data\.boundary_changes: boundary change 2019_dorset: action 'drop' would remove treated LA\(s\) \['838'\]"),
    ],
    ids=["unknown-key", "wrong-type", "unknown-la-code", "impossible-date", "drop-a-treated-la"],
)
def test_malformed_config_stops_naming_the_key(tmp_path, change, message):
    config = small_config()
    change(config)
    proc = snakemake(workdir_with(tmp_path, config), "-n", "--cores", "1", check=False)
    assert proc.returncode != 0, "a malformed config must stop the run"
    assert re.search(message, proc.stdout + proc.stderr), f"error does not name the problem:\n{proc.stderr[-3000:]}"


def test_small_run_writes_the_report(small_run):
    report = small_run / "results" / "report"
    estimates = pd.read_csv(report / "tables" / "estimates.csv")
    assert list(estimates.columns) == [
        "programme", "outcome", "estimator", "aggregation", "cohort", "period", "event_time", "estimate",
        "std_error", "ci_lower", "ci_upper", "p_value", "inference", "n_treated", "n_control",
    ], "estimates table must follow the DESIGN.md contract"
    assert set(estimates.programme) == {"ffc", "fnp"}
    ffc = estimates[estimates.programme.eq("ffc")]
    assert set(ffc.outcome) >= {"cla_rate_per_10k", "cpp_rate_per_10k", "cin_rate_per_10k"}
    assert set(estimates.estimator) == {"twfe", "event_study_twfe", "callaway_santanna", "sun_abraham", "imputation", "two_stage"}
    balanced_only = ffc.estimator.eq("callaway_santanna")
    assert (ffc[~balanced_only].n_treated == 10).all(), "all 10 FFfC LAs must be in the estimation"
    assert (ffc[balanced_only].n_treated == 9).all(), (
        "Callaway-Sant'Anna (like R did) needs a balanced panel: Dorset (838), created in 2019, lacks the earlier years"
    )
    truth = pd.read_csv(report / "tables" / "recovered_vs_true.csv")
    assert {"true_value", "error", "covered"} <= set(truth.columns)
    assert truth.true_value.notna().all()
    for outcome in ("cla_rate_per_10k", "cpp_rate_per_10k", "cin_rate_per_10k"):
        for ext in ("png", "svg", "txt"):
            for kind in ("event_study", "bacon"):
                path = report / "figures" / "ffc" / f"{outcome}_{kind}.{ext}"
                assert path.stat().st_size > 0, f"missing figure file {path.name}"
    left_out = (report / "figures" / "ffc" / "cla_rate_per_10k_bacon.txt").read_text().split("Left out because not observed in every period: LA ")[-1]
    assert "838" in left_out.split(", "), "the Bacon figure must name the treated LA it leaves out (Dorset, created in 2019)"
    import json

    import openpyxl

    sheets = openpyxl.load_workbook(report / "tables" / "csceval_tables.xlsx").sheetnames
    assert sheets == ["Cover", "Notes", "ffc_headline", "fnp_headline", "rcc_headline", "estimates", "size_experiment",
                      "recovered_vs_true"], sheets
    assert "Pooled (equal weights)" in (report / "tables" / "rcc_synth_headline.md").read_text(), \
        "the RCC headline table gives each cooperative and both pooled"
    assert "Headline inference: randomization inference on the Callaway-Sant'Anna estimate" in (report / "tables" / "ffc_headline.md").read_text(), "the policy is stated next to the table"
    size = pd.read_csv(report / "tables" / "size_experiment.csv")
    assert set(size.method) >= {"cr1", "randomization"} and set(size.n_treated) == {2, 7, 10}
    overall = estimates[estimates.aggregation.eq("overall")]
    first_word = lambda e: set(overall[overall.estimator.eq(e)].inference.str.split().str[0])  # noqa: E731
    assert first_word("callaway_santanna") == {"multiplier", "randomization"}, "CS carries its bootstrap and randomization inference"
    assert first_word("imputation") == {"BJS", "wild"}, "the imputation estimate carries BJS SEs and the wild cluster bootstrap"
    ri = overall[overall.inference.str.startswith("randomization")]
    assert ri.ci_lower.notna().all(), "randomization inference of CS must come with a confidence set (exact linear shortcut)"
    for programme in ("ffc", "fnp"):
        markdown = (report / "tables" / f"{programme}_headline.md").read_text()
        assert "SYNTHETIC DATA" in markdown and "ons_mid-year_population_estimates" in markdown, "headline tables name their inputs"
        assert "\\begin{tabular}" in (report / "tables" / f"{programme}_headline.tex").read_text()
    manifest = json.loads((report / "manifest.json").read_text())
    assert {i["path"].split("/")[-1] for i in manifest["inputs"]} >= {"cla_number_and_rate_per_10k_children.csv"}
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"]), "every input is recorded with its hash"
    assert manifest["config"]["simulate"]["n_las"] == 40, "the manifest holds the resolved config of the run"
    timing = pd.read_csv(small_run / "results" / "design" / "ffc" / "treatment_timing.csv", dtype={"la_code": str})
    assert timing.loc[timing.la_code.isin(["846", "201", "420"]) , "role"].eq("excluded").all()


def test_default_run_checks_the_record_level_path(small_run):
    """The default run sends synthetic SSDA903 / CIN census returns through the record-level path and compares them
    with the EES panel the estimates use: every LA x year x outcome must agree exactly (same model counts). With
    n_las=40 only FFfC wave 1 of the check's LAs is simulated (the comparison LAs are left out with a note)."""
    from csceval.records_check import PASSING

    table = pd.read_csv(small_run / "results" / "qa" / "records_check.csv", dtype={"la_code": str})
    assert set(table["la_code"]) == {"838", "925", "336"}, "the check LAs that the 40-LA sample simulates"
    assert set(table["year"]) == {2023, 2024, 2025}
    assert set(table["outcome"]) == {o for spec in small_config()["programmes"].values() for o in spec["outcomes"]}
    assert len(table) == 3 * 3 * 6, "one row per LA x year x outcome"
    assert table["status"].isin(PASSING).all(), table[~table["status"].isin(PASSING)].to_string()
    assert table["status"].eq("agree").all(), "no FFfC wave-1 count is small enough to be suppressed"
    assert (table["records_numerator"] == table["ees_numerator"]).all(), "the records reproduce the model counts"
    assert "**PASS.**" in (small_run / "results" / "qa" / "records_check.md").read_text()
    header = next((small_run / "results/synthetic/records/ssda903/2024").glob("*/header.csv"))
    child = pd.read_csv(header, dtype=str)["CHILD"].iloc[0]
    for path in (small_run / "results" / "qa").iterdir():
        assert child.encode() not in path.read_bytes(), f"raw child identifier in {path}"


def test_records_check_fails_the_run_on_a_planted_disagreement(small_run, tmp_path):
    """One more CPP start for Lincolnshire in 2024 in the EES panel: the check must stop the run (non-zero exit)
    and name LA, year and outcome, else a record path that drifts from the estimates' data would go unseen."""
    workdir = tmp_path / "planted"
    shutil.copytree(small_run, workdir, symlinks=True)
    panel_path = workdir / "results" / "panel" / "ees_annual.parquet"
    panel = pd.read_parquet(panel_path)
    row = panel["la_code"].eq("925") & panel["outcome"].eq("cpp_starts_rate_per_10k") & panel["period"].eq(pd.Timestamp("2023-04-01"))
    assert row.sum() == 1
    panel.loc[row, "numerator"] += 1
    panel.loc[row, "value"] = panel.loc[row, "numerator"] / panel.loc[row, "denominator"] * 10_000
    panel.to_parquet(panel_path, index=False)
    proc = snakemake(workdir, "--cores", "1", "results/qa/records_check.csv", check=False)
    assert proc.returncode != 0, "a disagreement must fail the run"
    log = (workdir / "results" / "logs" / "records_check.log").read_text()
    assert "LA 925, 2024, cpp_starts_rate_per_10k" in proc.stdout + proc.stderr + log, proc.stderr[-3000:]
    assert "LA 925, 2024, cpp_starts_rate_per_10k" in log, "the log keeps the evidence (failed outputs are removed)"


def test_second_run_has_nothing_to_do(small_run):
    proc = snakemake(small_run, "-n", "--cores", "1")
    assert "Nothing to be done" in proc.stdout + proc.stderr, "an unchanged rerun must not redo any job"


def test_changed_config_value_reruns_only_what_depends_on_it(small_run):
    config = small_config()
    config["estimation"]["alpha"] = 0.1
    (small_run / "config" / "changed.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(small_run, "-n", "--cores", "1", "--configfile", str(small_run / "config" / "changed.yaml"))
    out = proc.stdout + proc.stderr
    jobs = set(re.findall(r"^rule (\w+):", out, flags=re.M))
    assert "estimate" in jobs and "estimates_table" in jobs, f"changing alpha must rerun the estimates: {jobs}"
    assert not jobs & {"simulate", "ingest_ees", "panel", "design"}, f"changing alpha must not rerun upstream jobs: {jobs}"


def test_changed_exclusion_or_wave_date_reruns_the_design_and_what_depends_on_it(small_run):
    """An exclusion is a design decision: it must rebuild the designs and estimates, never the data. A wave
    date also moves the synthetic truth (the simulator places the effects), so there the data rebuild too."""
    config = small_config()
    config["exclusions"].append({"la_codes": ["330"], "reason": "test: Birmingham taken out of the comparison pool"})
    (small_run / "config" / "excluded.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    out = snakemake(small_run, "-n", "--cores", "1", "--configfile", str(small_run / "config" / "excluded.yaml"))
    out = out.stdout + out.stderr
    jobs = set(re.findall(r"^rule (\w+):", out, flags=re.M))
    assert {"design", "design_pools", "estimate", "inference"} <= jobs, f"an exclusion must rebuild the designs and estimates: {jobs}"
    assert not jobs & {"simulate", "ingest_ees", "panel"}, f"an exclusion must not rebuild the data: {jobs}"
    config = small_config()
    config["programmes"]["fnp"]["waves"][1]["start"] = "2024-10-01"
    (small_run / "config" / "moved.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    out = snakemake(small_run, "-n", "--cores", "1", "--configfile", str(small_run / "config" / "moved.yaml"))
    out = out.stdout + out.stderr
    jobs = set(re.findall(r"^rule (\w+):", out, flags=re.M))
    assert {"simulate", "design", "design_plan", "estimate"} <= jobs, f"a moved wave must rebuild the truth and the designs: {jobs}"


def test_same_config_and_seed_give_identical_tables(small_run, tmp_path):
    second = workdir_with(tmp_path, small_config())
    snakemake(second, "--cores", "2")
    tables = sorted(p for p in (small_run / "results" / "report" / "tables").iterdir() if p.suffix in {".csv", ".xlsx", ".md", ".tex"})
    assert tables, "no tables to compare"
    for table in tables:
        twin = second / "results" / "report" / "tables" / table.name
        assert digest(table) == digest(twin), f"{table.name} differs between two identical runs"
    for name in ["true_effects.csv", "b1_children_in_need_2013_to_2026.csv"]:
        assert digest(small_run / "results/synthetic/ees" / name) == digest(second / "results/synthetic/ees" / name)


def test_snakemake_report_builds_with_captions(small_run):
    report = small_run / "results" / "report" / "report.html"
    snakemake(small_run, "--cores", "1", "--report", str(report))
    html = report.read_text(encoding="utf-8", errors="replace")
    assert report.stat().st_size > 100_000, "the HTML report should embed the figures and tables"
    assert "recovered_vs_true" in html and "event_study" in html, "every captioned output should be listed"


def test_runs_through_a_cluster_executor(small_run, tmp_path):
    """Jobs submitted and polled (Snakemake's generic cluster executor with a local submit script),
    not run in-process: the workflow must still complete and give the same tables as a local run."""
    config = small_config()
    workdir = workdir_with(tmp_path / "cluster", config)
    cluster = REPO / "tests" / "cluster"
    os.environ["CSCEVAL_LOCAL_CLUSTER_DIR"] = str(tmp_path / "jobs")
    try:
        proc = snakemake(
            workdir, "--executor", "cluster-generic", "--jobs", "4", "--latency-wait", "30",
            "--seconds-between-status-checks", "1", "--max-status-checks-per-second", "10",
            "--cluster-generic-submit-cmd", str(cluster / "submit.sh"),
            "--cluster-generic-status-cmd", str(cluster / "status.sh"),
        )
    finally:
        del os.environ["CSCEVAL_LOCAL_CLUSTER_DIR"]
    submitted = list((tmp_path / "jobs").glob("*.exit"))
    assert len(submitted) > 20, f"jobs should have gone through the submit script, saw {len(submitted)}"
    assert all(p.read_text().strip() == "0" for p in submitted), "every submitted job should succeed"
    for table in ("estimates.csv", "recovered_vs_true.csv"):
        ours = workdir / "results" / "report" / "tables" / table
        assert ours.exists(), proc.stdout[-2000:]
        assert digest(ours) == digest(small_run / "results" / "report" / "tables" / table), f"{table} differs from the local run"


@pytest.mark.shared_data
def test_open_data_config_runs_on_the_published_files(shared_ees, tmp_path):
    """config/open_data.yaml on the real EES files: the real FFfC and FNP designs estimate, no truth table."""
    config = yaml.safe_load((REPO / "config" / "open_data.yaml").read_text())
    config["data"]["ees_dir"] = str(shared_ees)
    config["data"]["statistical_neighbours"] = {
        "2021": str(shared_ees / "New_Statistical_Neighbour_Groupings_April_2021.csv"),
        "2025": str(shared_ees / "sn_model_2025_wide.csv"),
    }
    workdir = workdir_with(tmp_path, config)
    snakemake(workdir, "--cores", "2")
    report = workdir / "results" / "report" / "tables"
    estimates = pd.read_csv(report / "estimates.csv")
    overall = estimates[estimates.aggregation.eq("overall")]
    assert set(overall.groupby("programme").n_treated.max().items()) == {("ffc", 10), ("fnp", 7)}
    assert not (report / "recovered_vs_true.csv").exists(), "real data has no truth to compare with"
    assert "SYNTHETIC" not in (report / "ffc_headline.md").read_text()
