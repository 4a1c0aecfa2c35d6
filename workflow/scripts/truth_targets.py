import pandas as pd

from csceval.design import estimation_sample
from csceval.truth import truth_targets
from csceval.workflow_support import log_to, read_timing, write_parquet

log = log_to(snakemake.log[0])
spec, window = snakemake.params.programme, snakemake.params.event_window
sample = estimation_sample(
    pd.read_parquet(snakemake.input.panel), read_timing(snakemake.input.timing), snakemake.wildcards.outcome,
    spec["window_start"], spec["clean_window_end"], snakemake.params.frequency,
)
targets = truth_targets(sample, pd.read_csv(snakemake.input.truth, dtype={"la_code": str}), snakemake.wildcards.outcome, window["leads"], window["lags"])
if targets.attrs["control_contamination"] > 0:
    log.warning("comparison LAs carry true effects up to %.3f in the window", targets.attrs["control_contamination"])
targets = targets.assign(programme=snakemake.wildcards.programme, outcome=snakemake.wildcards.outcome)
write_parquet(targets, snakemake.output[0])
