"""Notebooks: committed without outputs, and the report notebook renders from publishable tables only."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from csceval.report.notebook import check_report_paths, execute_report_notebook, notebook_has_outputs, vfm_caveats

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").rglob("*.ipynb"))


def test_there_is_a_report_notebook():
    assert REPO / "notebooks" / "report.ipynb" in NOTEBOOKS, "notebooks/report.ipynb is what rule report_notebook executes"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebooks_are_stripped(path):
    """Outputs or execution counts in git would publish whatever a local run printed (and make diffs noisy)."""
    problems = notebook_has_outputs(path)
    assert not problems, "strip outputs before committing (jupyter nbconvert --clear-output --inplace):\n" + "\n".join(problems)


def test_stripped_check_finds_outputs_and_counts(tmp_path):
    """The strip check itself must fail on a notebook with an output and an execution count."""
    nb = {"cells": [{"cell_type": "code", "execution_count": 3, "metadata": {}, "source": "1",
                     "outputs": [{"output_type": "execute_result", "data": {"text/plain": "1"}, "metadata": {}, "execution_count": 3}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "dirty.ipynb"
    path.write_text(json.dumps(nb))
    problems = notebook_has_outputs(path)
    assert len(problems) == 2 and "outputs" in problems[0] and "execution_count" in problems[1]


def test_report_notebook_has_a_parameters_cell():
    """papermill injects the run's paths after the cell tagged `parameters`; without it they would be ignored."""
    nb = json.loads((REPO / "notebooks" / "report.ipynb").read_text())
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and "tables_dir" in "".join(tagged[0]["source"])


def test_paths_outside_results_report_are_refused(tmp_path):
    """The notebook may read only publishable outputs: a path into results/panel must stop the run."""
    check_report_paths({"tables_dir": tmp_path / "results/report/tables"}, tmp_path / "results/report")
    with pytest.raises(ValueError, match="tables_dir.*outside"):
        check_report_paths({"tables_dir": tmp_path / "results/panel"}, tmp_path / "results/report")


def test_vfm_caveats_name_assumed_costs():
    """Every assumed or unverified cost must reach the caveats; a published one must not."""
    econ = {"unit_costs": {"a": {"status": "assumed", "source": "ASSUMED: none found"}, "b": {"status": "published", "source": "PSSRU"}},
            "programme_costs": {"x": {"status": "assumed", "source": "ASSUMED: guess"}}}
    text = "\n".join(vfm_caveats(econ))
    assert "Unit cost a" in text and "Unit cost b" not in text and "Programme costs of x" in text


PROGRAMMES = {
    "ffc": {"name": "Families First for Children pathfinder", "short_name": "FFfC", "window_start": "2013-04-01",
            "clean_window_end": "2025-03-31", "clean_window_reason": "national roll-out",
            "waves": [{"name": "wave 1", "start": "2023-07-01", "date_status": "assumed", "source": "not published", "la_codes": ["838"]}]},
    "fnp": {"name": "Family Networks Pilot", "short_name": "FNP", "window_start": "2013-04-01", "clean_window_end": "2025-03-31",
            "waves": [{"name": "wave 1", "start": "2023-10-01", "date_status": "confirmed", "source": "x", "la_codes": ["846"]}]},
}


def fake_report(root: Path) -> None:
    tables = root / "results" / "report" / "tables"
    tables.mkdir(parents=True)
    (root / "results" / "report" / "figures").mkdir()
    for p in PROGRAMMES:
        (tables / f"{p}_headline.md").write_text(f"**{p} headline table**\n\n| Outcome | Estimate |\n|---|---|\n| CLA | -1.0 |\n")
        pd.DataFrame({"measure": ["Net present value"], "outcome": ["all costed"], "units": ["GBP million"], "point": [1.5],
                      "lower": [-0.5], "upper": [3.0], "share_of_draws_positive": [0.8], "programme": [p],
                      "price_base": ["2024-25 prices"], "discount_base_year": [2023], "draws": [99],
                      "lower_quantile": [0.05], "upper_quantile": [0.95]}).to_csv(tables / f"{p}_vfm.csv", index=False)
    pd.DataFrame({"programme": ["ffc"], "check": ["placebo"], "estimate": [0.1]}).to_csv(tables / "placebo_checks.csv", index=False)


@pytest.mark.slow
def test_report_notebook_renders_each_programme(tmp_path):
    """Executed on publishable tables, the HTML must have each programme's section, its VfM and caveats, no
    code, and be identical on a rerun (no timestamps)."""
    fake_report(tmp_path)
    params = {"tables_dir": "results/report/tables", "figures_dir": "results/report/figures", "programmes": PROGRAMMES,
              "policy": {"ffc": {"method": "randomization", "reason": "few treated LAs"}}, "synthetic": True,
              "vfm_caveats": ["Unit cost x (assumed): ASSUMED: test"]}
    html = execute_report_notebook(REPO / "notebooks" / "report.ipynb", tmp_path / "out.html", params, cwd=tmp_path)
    text = html.read_text()
    for spec in PROGRAMMES.values():
        assert spec["name"] in text, f"no section for {spec['name']}"
    assert "ffc headline table" in text and "randomization" in text, "headline table and the inference policy's words"
    assert "placebo" in text, "robustness tables in results/report/tables must be shown"
    assert "SYNTHETIC DATA" in text and "start date 2023-07-01 is assumed" in text and "ASSUMED: test" in text
    assert "import pandas" not in text, "code cells must be hidden in the HTML"
    again = execute_report_notebook(REPO / "notebooks" / "report.ipynb", tmp_path / "again.html", params, cwd=tmp_path)
    assert again.read_text() == text, "the same tables must give the same HTML"
