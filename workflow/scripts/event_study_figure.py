import pandas as pd

from csceval.report.event_study import write_event_study_figure
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
truth = pd.read_parquet(snakemake.input.truth) if snakemake.input.truth else None
paths = write_event_study_figure(
    [pd.read_parquet(p) for p in snakemake.input.estimates], truth, programme_name=snakemake.params.programme["short_name"] or snakemake.params.programme["name"],
    outcome=snakemake.wildcards.outcome, png=snakemake.output[0], svg=snakemake.output[1],
    alt_text=snakemake.output.alt_text, dpi=snakemake.params.dpi,
    window=(snakemake.params.event_window["leads"], snakemake.params.event_window["lags"]),
)
log.info("wrote %s", paths)
