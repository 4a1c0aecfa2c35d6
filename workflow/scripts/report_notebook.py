from pathlib import Path

from csceval.report.notebook import execute_report_notebook, vfm_caveats
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
parameters = {
    "tables_dir": "results/report/tables",
    "figures_dir": "results/report/figures",
    "programmes": snakemake.params.programmes,
    "policy": snakemake.params.policy,
    "synthetic": snakemake.params.synthetic,
    "vfm_caveats": vfm_caveats(snakemake.params.economics),
}
html = execute_report_notebook(snakemake.input.notebook, snakemake.output[0], parameters, cwd=Path.cwd())
log.info("wrote %s (%d bytes)", html, html.stat().st_size)
