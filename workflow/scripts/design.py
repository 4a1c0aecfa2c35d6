import pandas as pd

from csceval.design import treatment_timing
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
panel = pd.read_parquet(snakemake.input.panel, columns=["la_code", "period"])
config = {"programmes": snakemake.params.programmes, "exclusions": snakemake.params.exclusions}
timing = treatment_timing(snakemake.wildcards.programme, config, panel["la_code"].unique(), panel["period"].unique())
log.info("roles: %s", timing["role"].value_counts().to_dict())
timing.to_csv(snakemake.output.timing, index=False, date_format="%Y-%m-%d", lineterminator="\n")
