"""Execute the report notebook (papermill) and export it to HTML (nbconvert) without code or timestamps.

The notebook reads only publishable outputs under ``results/report``: :func:`check_report_paths`
refuses any parameter path outside it, so the HTML cannot carry unpublishable data.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["check_report_paths", "execute_report_notebook", "notebook_has_outputs", "vfm_caveats"]

#: Notebook parameters that are paths and must point inside the publishable folder.
PATH_PARAMETERS = ("tables_dir", "figures_dir")


def check_report_paths(parameters: Mapping[str, Any], report_dir: str | Path = "results/report", cwd: str | Path = ".") -> None:
    """Raise ``ValueError`` if a path parameter (relative ones taken from ``cwd``) lies outside ``report_dir``."""
    root = (Path(cwd) / report_dir).resolve()
    for key in PATH_PARAMETERS:
        if key in parameters:
            path = (Path(cwd) / parameters[key]).resolve()
            if path != root and root not in path.parents:
                raise ValueError(f"report notebook parameter {key}={parameters[key]!r} is outside {report_dir}: "
                                 "the notebook may read only publishable outputs")


def notebook_has_outputs(path: str | Path) -> list[str]:
    """Problems that make a committed notebook not stripped: outputs or execution counts, by cell index."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    problems = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"{path}: cell {i} has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"{path}: cell {i} has execution_count {cell['execution_count']}")
    return problems


def execute_report_notebook(notebook: str | Path, html: str | Path, parameters: Mapping[str, Any], *,
                            cwd: str | Path = ".", kernel_name: str = "python3", timeout: int = 600) -> Path:
    """Run ``notebook`` with ``parameters`` in ``cwd`` and write it as HTML without input cells.

    The executed notebook is kept only in a temporary folder (its metadata holds execution times);
    the HTML holds no code, prompts or times, so the same tables give the same HTML.
    """
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    check_report_paths(parameters, "results/report", cwd)
    html = Path(html)
    with tempfile.TemporaryDirectory() as tmp:
        executed = Path(tmp) / "executed.ipynb"
        papermill.execute_notebook(str(notebook), str(executed), parameters=dict(parameters), kernel_name=kernel_name,
                                   cwd=str(cwd), progress_bar=False, log_output=False, execution_timeout=timeout)
        nb = nbformat.read(executed, as_version=4)
    nb.metadata = {"kernelspec": nb.metadata.get("kernelspec", {}), "language_info": {"name": "python"}}
    for i, cell in enumerate(nb.cells):
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
        cell.id = f"cell-{i}"          # papermill gives its injected cell a random id
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": "Impact and value-for-money report"}})
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(body, encoding="utf-8")
    return html


def vfm_caveats(economics: Mapping[str, Any] | None, programme: str | None = None) -> list[str]:
    """Sentences naming every cost in the ``economics`` config that is assumed or unverified, with its source text."""
    if not economics:
        return []
    out = []
    for name, spec in (economics.get("unit_costs") or {}).items():
        if spec.get("status") != "published":
            out.append(f"Unit cost {name} ({spec.get('status')}): {spec.get('source')}")
    for name, spec in (economics.get("outcome_costing") or {}).items():
        if "ASSUMED" in str(spec.get("note", "")):
            out.append(f"Costing of {name}: {spec['note']}")
    for name, spec in (economics.get("programme_costs") or {}).items():
        if programme in (None, name) and str(spec.get("status", "")) != "published":
            out.append(f"Programme costs of {name} ({spec.get('status')}): {spec.get('source')}")
    deflator = economics.get("gdp_deflator") or {}
    if deflator and deflator.get("status") != "published":
        out.append(f"GDP deflator ({deflator.get('status')}): {deflator.get('source')}")
    return out
