"""Value for money and the report notebook through Snakemake on a small config (end to end)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from csceval.disclosure import DisclosureRules, check_publishable
from test_workflow import small_config, snakemake, workdir_with

pytestmark = pytest.mark.e2e

PROGRAMMES = ["ffc", "fnp"]


@pytest.fixture(scope="module")
def report_run(tmp_path_factory) -> Path:
    config = small_config()
    config["economics"]["draws"]["n_draws"] = 199
    workdir = workdir_with(tmp_path_factory.mktemp("report_run"), config)
    snakemake(workdir, "--cores", "2", "results/report/report_notebook.html", "results/report/manifest.json")
    return workdir


def test_vfm_tables_exist_and_are_disclosure_safe(report_run):
    """Each estimated programme needs a VfM summary and a break-even table that pass the independent
    disclosure check, with the point NPV inside its bootstrap interval."""
    config = yaml.safe_load((report_run / "config" / "config.yaml").read_text())
    rules = DisclosureRules.from_config(config["report"]["disclosure"])
    for p in PROGRAMMES:
        for name in (f"{p}_vfm.csv", f"{p}_break_even.csv"):
            table = pd.read_csv(report_run / "results" / "report" / "tables" / name)
            check_publishable(table, name, rules)
        vfm = pd.read_csv(report_run / "results" / "report" / "tables" / f"{p}_vfm.csv").set_index("measure")
        npv = vfm.loc["Net present value"]
        assert npv["lower"] <= npv["point"] <= npv["upper"], f"{p}: point NPV outside its bootstrap interval"
        assert npv["draws"] == 199, "the configured number of draws must be used"
        assert np.isfinite(vfm.loc["Present value of programme costs", "point"]) and vfm.loc["Present value of programme costs", "point"] > 0
        for ext in ("png", "svg", "txt"):
            assert (report_run / "results" / "report" / "figures" / p / f"vfm_distribution.{ext}").stat().st_size > 0


def test_report_notebook_renders_each_programme_and_is_in_the_manifest(report_run):
    """The HTML must tell each programme's story (design, headline, VfM, caveats) and be recorded in the manifest."""
    html = (report_run / "results" / "report" / "report_notebook.html").read_text()
    config = yaml.safe_load((report_run / "config" / "config.yaml").read_text())
    for p in PROGRAMMES:
        assert config["programmes"][p]["name"] in html, f"no section for {p}"
    for heading in ("Design: treatment timing", "Headline estimates", "Robustness", "Value for money", "Caveats"):
        assert html.count(heading) >= len(PROGRAMMES), f"section {heading!r} missing for a programme"
    assert "SYNTHETIC DATA" in html, "a synthetic run must say so"
    assert "import pandas" not in html, "code must be hidden"
    manifest = (report_run / "results" / "report" / "manifest.json").read_text()
    assert "report_notebook.html" in manifest and "ffc_vfm.csv" in manifest, "manifest must record the new outputs"
