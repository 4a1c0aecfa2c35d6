import pandas as pd

from csceval.report.bacon import robust_overall, write_bacon_figure
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
estimates = pd.concat([pd.read_parquet(p) for p in snakemake.input.estimates], ignore_index=True)
paths = write_bacon_figure(
    pd.read_parquet(snakemake.input.bacon), robust=robust_overall(estimates),
    programme_name=snakemake.params.programme["short_name"] or snakemake.params.programme["name"],
    outcome=snakemake.wildcards.outcome, png=snakemake.output[0], svg=snakemake.output[1],
    alt_text=snakemake.output.alt_text, dpi=snakemake.params.dpi,
)
log.info("wrote %s", paths)
