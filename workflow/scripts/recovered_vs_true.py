import pandas as pd

from csceval.disclosure import DisclosureRules
from csceval.report.tables import recovered_vs_true_table, write_table
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
table = recovered_vs_true_table(
    [pd.read_parquet(p) for p in snakemake.input.estimates], [pd.read_parquet(p) for p in snakemake.input.targets]
)
write_table(table, snakemake.output[0], DisclosureRules.from_config(snakemake.params.disclosure))
log.info("recovered vs true: %d rows; coverage %s", len(table), table.groupby("estimator")["covered"].mean().to_dict())
