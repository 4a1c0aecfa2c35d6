from pathlib import Path

import pandas as pd

from csceval.records_check import PASSING, run_records_check, summary_markdown
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
params = snakemake.params
reconciliation = pd.concat(
    [pd.read_csv(path, dtype={"la_code": str}) for path in snakemake.input.reconciliation], ignore_index=True)
check = run_records_check(
    pd.read_parquet(snakemake.input.records), pd.read_parquet(snakemake.input.ees), reconciliation,
    params.la_codes, params.years, params.outcomes,
    records_truth=pd.read_csv(snakemake.input.records_truth, dtype=str, keep_default_na=False),
    ees_truth=pd.read_csv(snakemake.input.ees_truth, dtype=str, keep_default_na=False),
)
check.table.to_csv(snakemake.output.table, index=False, lineterminator="\n")
summary = summary_markdown(check, params.la_codes, params.years)
Path(snakemake.output.summary).write_text(summary, encoding="utf-8")
log.info("records check: LAs %s, collection years %s, outcomes %s", params.la_codes, params.years,
         sorted(check.table["outcome"].unique()))
log.info("statuses: %s", check.table["status"].value_counts().to_dict())
if not check.passed:  # Snakemake removes the outputs of a failed job: keep the evidence in the log
    log.error("\n%s", summary)
    log.error("rows that do not pass:\n%s",
              check.table[~check.table["status"].isin(PASSING)].to_string(index=False))
check.raise_for_problems()
