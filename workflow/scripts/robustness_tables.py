import pandas as pd

from csceval.disclosure import DisclosureRules
from csceval.report.tables import write_table
from csceval.robustness import report_table
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
rules = DisclosureRules.from_config(snakemake.params.disclosure)
for key in ("honest_did", "leave_one_out", "placebo_in_time"):
    table = report_table([pd.read_parquet(p) for p in snakemake.input[key]])
    write_table(table, snakemake.output[key], rules)
    log.info("%s: %d rows", key, len(table))
