import pandas as pd

from csceval.disclosure import DisclosureRules
from csceval.report.tables import write_table
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
table = pd.concat([pd.read_parquet(p) for p in snakemake.input], ignore_index=True).sort_values(["n_treated", "method"], ignore_index=True)
write_table(table, snakemake.output[0], DisclosureRules.from_config(snakemake.params.disclosure))
log.info("size experiment: %d rows", len(table))
