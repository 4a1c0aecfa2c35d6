from pathlib import Path

import pandas as pd

from csceval.disclosure import DisclosureRules
from csceval.rcc import cooperatives, pool_cooperatives
from csceval.report.publication import rcc_headline_meta, rcc_headline_table
from csceval.report.tables import write_table
from csceval.report.workbook import to_markdown
from csceval.robustness import report_table
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
rules = DisclosureRules.from_config(snakemake.params.disclosure)
spec = snakemake.params.programme
inference = pd.concat([pd.read_parquet(p) for p in snakemake.input.inference], ignore_index=True)
placebos = pd.concat([pd.read_parquet(p) for p in snakemake.input.placebos], ignore_index=True)
pooled = pool_cooperatives(inference, placebos, seed=snakemake.params.seed)
log.info("pooled estimates:\n%s", pooled.to_string())
write_table(report_table([pooled]), snakemake.output.pooled, rules)
names = {code: coop["name"] for code, coop in cooperatives(spec).items()}
sources = sorted(pd.read_csv(snakemake.input.sources)["file"].unique())
table = rcc_headline_table(inference, pooled, names)
table.to_parquet(snakemake.output.table)   # unrounded, for the workbook (rule publication_tables)
meta = rcc_headline_meta(spec, sources, snakemake.params.synthetic)
Path(snakemake.output.headline).write_text(to_markdown(table, meta, rules=rules), encoding="utf-8")
