import pandas as pd

from csceval import did
from csceval.design import estimation_sample
from csceval.workflow_support import log_to, read_timing, write_parquet

log = log_to(snakemake.log[0])
spec, est = snakemake.params.programme, snakemake.params.estimation
w = snakemake.wildcards
sample = estimation_sample(
    pd.read_parquet(snakemake.input.panel), read_timing(snakemake.input.timing), w.outcome,
    spec["window_start"], spec["clean_window_end"], snakemake.params.frequency,
)
options = dict(outcome="value", unit="la_code", time="period", cohort="first_treated", alpha=est["alpha"])
if w.estimator == "event_study_twfe":
    options.update(leads=est["event_window"]["leads"], lags=est["event_window"]["lags"])
result = getattr(did, w.estimator)(sample, **options)
log.info("%s", result.summary())
tidy = result.tidy(programme=w.programme).assign(outcome=w.outcome)
write_parquet(tidy, snakemake.output[0])
