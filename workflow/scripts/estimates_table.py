import pandas as pd

from csceval.disclosure import DisclosureRules
from csceval.report.tables import estimates_table, write_table
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
table = estimates_table([pd.read_parquet(p) for p in snakemake.input])
write_table(table, snakemake.output[0], DisclosureRules.from_config(snakemake.params.disclosure))
log.info("estimates table: %d rows", len(table))
