# csceval: impact evaluation of English children's social care reforms.
# Data flow: simulate (synthetic default) -> ingest -> panel -> design -> estimate -> report.
# Run: `make run` (or `snakemake --cores all` in the project's .venv). See README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


conda: "environment.yml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/records.smk"
include: "workflow/rules/panel.smk"
include: "workflow/rules/design.smk"
include: "workflow/rules/estimate.smk"
include: "workflow/rules/inference.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/economics.smk"
include: "workflow/rules/notebook.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
