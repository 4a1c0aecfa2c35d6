import pandas as pd

from csceval.design import estimation_sample
from csceval.did.registry import run_inference
from csceval.workflow_support import log_to, read_timing, write_parquet

log = log_to(snakemake.log[0])
spec, w = snakemake.params.programme, snakemake.wildcards
sample = estimation_sample(
    pd.read_parquet(snakemake.input.panel), read_timing(snakemake.input.timing), w.outcome,
    spec["window_start"], spec["clean_window_end"], snakemake.params.frequency,
)
result = run_inference(
    w.method, sample, {**snakemake.params.inference, "alpha": snakemake.params.alpha}, estimation=snakemake.params.estimation,
)
log.info("%s", result.summary())
write_parquet(result.tidy(programme=w.programme, outcome=w.outcome), snakemake.output[0])
