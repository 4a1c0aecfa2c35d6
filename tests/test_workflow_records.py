"""The record-level path of the workflow end to end on a tiny config (6 LAs x 3 collection years):
synthetic returns -> one ingest job per year through the validated readers -> records panels."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
LAS = ["838", "925", "336", "821", "846", "394"]
YEARS = [2022, 2024]

pytestmark = pytest.mark.e2e


def records_config() -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["data"].update(source="records", frequency="quarterly", records_years=YEARS)
    config["simulate"]["n_las"] = 40
    config["simulate"]["last_year"] = 2026
    config["simulate"]["records"] = {"la_codes": LAS, "assessments": True}
    return config


def run(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


@pytest.fixture(scope="module")
def records_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("records_run")
    (workdir / "config").mkdir()
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(records_config(), sort_keys=False))
    run(workdir, "--cores", "2", "results/panel/records_quarterly.parquet", "results/panel/records_annual.parquet")
    return workdir


def test_reconciliation_adds_up_for_every_file(records_run):
    for year in range(YEARS[0], YEARS[1] + 1):
        recon = pd.read_csv(records_run / f"results/ingest/records/{year}_reconciliation.csv", dtype={"la_code": str})
        assert set(recon["la_code"]) == set(LAS), f"{year}: every LA's returns must be read"
        assert set(recon["collection"]) == {"SSDA903", "CIN census"}, f"{year}: both collections read"
        assert (recon["rows_read"] == recon["rows_accepted"] + recon["rows_quarantined"]).all(), \
            f"{year}: rows read must equal rows accepted + quarantined"
        assert (recon["rows_read"] > 0).all(), f"{year}: no file may be empty"


def test_annual_records_panel_matches_the_model_counts(records_run):
    panel = pd.read_parquet(records_run / "results/panel/records_annual.parquet")
    counts = pd.read_csv(records_run / "results/synthetic/records/la_counts.csv", dtype={"la_code": str})
    panel["collection_year"] = panel["period"].dt.year + 1
    for outcome, column in (("cla_rate_per_10k", "cla_at31"), ("cpp_starts_rate_per_10k", "cpp_starts"),
                            ("cin_rate_per_10k", "cin_at31")):
        m = panel[panel["outcome"] == outcome].merge(counts, on=["la_code", "collection_year"], validate="one_to_one")
        assert len(m) == len(counts) == len(LAS) * 3, f"{outcome}: one row per LA x year"
        assert (m["numerator"] == m[column]).all(), f"{outcome}: the pipeline's panel must reproduce the model counts"


def test_quarterly_panel_has_four_quarters_and_flows_add_up(records_run):
    q = pd.read_parquet(records_run / "results/panel/records_quarterly.parquet")
    a = pd.read_parquet(records_run / "results/panel/records_annual.parquet")
    assert q["period"].dt.month.isin([1, 4, 7, 10]).all(), "quarters start in January, April, July, October"
    assert q.groupby(["outcome", "la_code"])["period"].nunique().eq(12).all(), "4 quarters x 3 years per LA"
    q["year"] = q["period"].dt.year + (q["period"].dt.month >= 4).astype(int)
    a["year"] = a["period"].dt.year + 1
    flows = q[q["outcome"] == "referral_rate_per_10k"].groupby(["la_code", "year"])["numerator"].sum()
    annual = a[a["outcome"] == "referral_rate_per_10k"].set_index(["la_code", "year"])["numerator"]
    assert flows.sort_index().equals(annual.sort_index()), "quarterly referrals must add up to the annual count"
    stock_q4 = q[(q["outcome"] == "cla_rate_per_10k") & (q["period"].dt.month == 1)].set_index(["la_code", "year"])["numerator"]
    stock_a = a[a["outcome"] == "cla_rate_per_10k"].set_index(["la_code", "year"])["numerator"]
    assert stock_q4.sort_index().equals(stock_a.sort_index()), "the stock at the end of Q4 is the 31 March stock"


def test_no_raw_identifier_under_results(records_run):
    raw = pd.read_csv(next((records_run / "results/synthetic/records/ssda903/2023").glob("*/header.csv")), dtype=str)
    needle = raw["CHILD"].iloc[0]
    for path in (records_run / "results").rglob("*"):
        if path.is_file() and "synthetic" not in path.parts and path.suffix in (".parquet", ".csv", ".log"):
            assert needle.encode() not in path.read_bytes(), f"raw child identifier found in {path}"


def job_counts(output: str) -> dict[str, int]:
    """Rule -> number of jobs, from the table `snakemake -n --quiet rules` prints."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", output, flags=re.M)}


def test_full_dag_builds_with_records_source(tmp_path):
    """A records run builds its DAG; the records check is not part of it (the record panel is the main panel then),
    and the log says why, so a user who enabled it is not left guessing."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(records_config(), sort_keys=False))
    proc = run(tmp_path, "-n", "--cores", "2", "--quiet", "rules", check=False)
    assert proc.returncode == 0, f"the DAG must build with data.source records:\n{proc.stderr[-4000:]}"
    assert "records_check" not in job_counts(proc.stdout + proc.stderr)
    assert "data.records_check: not run with data.source 'records'" in proc.stdout + proc.stderr


def test_default_dry_run_includes_the_records_check(tmp_path):
    """`snakemake -n` of the default config (synthetic) must plan the record-level leg: returns for the check's LAs,
    one ingest job per check year, the annual records panel and the comparison."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text((REPO / "config" / "config.yaml").read_text())
    proc = run(tmp_path, "-n", "--cores", "2", "--quiet", "rules")
    jobs = job_counts(proc.stdout + proc.stderr)
    first, last = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["data"]["records_check"]["years"]
    assert {r: jobs.get(r) for r in ("simulate_records", "ingest_records", "records_panel", "records_check")} == {
        "simulate_records": 1, "ingest_records": last - first + 1, "records_panel": 1, "records_check": 1}


def test_synthetic_records_run_reports_placement_distance(records_run):
    """The synthetic returns carry postcodes and their own centroid lookup, so the pipeline's panel must have the
    placement-distance outcomes, near the planted 22% over 20 miles and 9% unknown (DfE's 2024 mix)."""
    panel = pd.read_parquet(records_run / "results/panel/records_annual.parquet")
    for outcome, planted in (("placed_over_20_miles_pct", 22.0), ("placement_distance_unknown_pct", 9.0)):
        rows = panel[panel["outcome"] == outcome]
        assert len(rows) == len(LAS) * 3, f"{outcome}: one row per LA x year"
        share = 100 * rows["numerator"].sum() / rows["denominator"].sum()
        assert abs(share - planted) < 5, f"{outcome}: {share:.1f}% recovered, {planted}% planted"
