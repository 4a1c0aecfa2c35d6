from csceval.records_panel import build_panel_from_interim
from csceval.workflow_support import log_to, write_parquet

log = log_to(snakemake.log[0])
panel = build_panel_from_interim(snakemake.input.interim, snakemake.input.population, snakemake.wildcards.frequency)
log.info("records panel (%s): %d rows, %d LAs, %d periods, outcomes %s", snakemake.wildcards.frequency, len(panel),
         panel["la_code"].nunique(), panel["period"].nunique(), sorted(panel["outcome"].unique()))
write_parquet(panel, snakemake.output.panel)
