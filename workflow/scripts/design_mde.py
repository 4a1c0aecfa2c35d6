import pandas as pd

from csceval.design.build import mde_rows, read_pools, window_panel
from csceval.workflow_support import log_to, read_timing

log = log_to(snakemake.log[0])
spec, w = snakemake.params.programme, snakemake.wildcards
timing = read_timing(snakemake.input.timing)
panel = window_panel(pd.read_parquet(snakemake.input.panel), spec, snakemake.params.frequency)
pools = read_pools(snakemake.input.pools)
table = pd.concat([mde_rows(panel, timing, pools, outcome, spec, snakemake.params.mde, alpha=snakemake.params.alpha,
                            frequency=snakemake.params.frequency) for outcome in spec["outcomes"]], ignore_index=True)
log.info("placebo MDEs:\n%s", table[["outcome", "pool", "mde", "mde_relative", "rejection_rate", "notes"]].to_string())
table.assign(programme=w.programme).to_csv(snakemake.output.mde, index=False, lineterminator="\n")
