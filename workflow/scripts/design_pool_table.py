import pandas as pd

from csceval.disclosure import DisclosureRules
from csceval.report.tables import write_table
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
table = pd.read_csv(snakemake.input.membership, dtype=str, keep_default_na=False)
write_table(table, snakemake.output.table, DisclosureRules.from_config(snakemake.params.disclosure))
log.info("%d LAs listed", len(table))
