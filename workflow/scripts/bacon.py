import pandas as pd

from csceval.design import estimation_sample
from csceval.did.bacon import bacon_decomposition, complete_units
from csceval.workflow_support import log_to, read_timing, write_parquet

log = log_to(snakemake.log[0])
spec, w = snakemake.params.programme, snakemake.wildcards
sample = estimation_sample(
    pd.read_parquet(snakemake.input.panel), read_timing(snakemake.input.timing), w.outcome,
    spec["window_start"], spec["clean_window_end"], snakemake.params.frequency,
)
balanced, dropped = complete_units(sample, "value")
if dropped:
    log.info("left out of the decomposition, not observed in every period: %s", ", ".join(map(str, dropped)))
result = bacon_decomposition(balanced, "value")
log.info("%s", result.summary())
table = result.table.assign(
    programme=w.programme, outcome=w.outcome, twfe_estimate=result.twfe_estimate,
    units_left_out=", ".join(map(str, dropped)),
)
write_parquet(table, snakemake.output[0])
