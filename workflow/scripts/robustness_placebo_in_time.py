import pandas as pd

from csceval.design import estimation_sample
from csceval.robustness import placebo_in_time
from csceval.workflow_support import log_to, read_timing, write_parquet

log = log_to(snakemake.log[0])
spec, w, cfg = snakemake.params.programme, snakemake.wildcards, snakemake.params.placebo
sample = estimation_sample(
    pd.read_parquet(snakemake.input.panel), read_timing(snakemake.input.timing), w.outcome,
    spec["window_start"], spec["clean_window_end"], snakemake.params.frequency,
)
table = placebo_in_time(sample, cfg["shifts"], cfg["estimators"], snakemake.params.estimation,
                        frequency=snakemake.params.frequency)
log.info("placebo in time:\n%s", table.to_string())
write_parquet(table.assign(programme=w.programme, outcome=w.outcome), snakemake.output[0])
