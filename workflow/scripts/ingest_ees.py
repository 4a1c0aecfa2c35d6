from csceval.ingest import read_ees
from csceval.workflow_support import log_to, write_parquet

log = log_to(snakemake.log[0])
table = read_ees(snakemake.input[0])
log.info("%s: %d measure cells; status counts %s", snakemake.input[0], len(table), table["status"].value_counts().to_dict())
write_parquet(table, snakemake.output[0])
