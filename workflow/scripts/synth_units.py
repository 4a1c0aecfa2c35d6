import pandas as pd

from csceval.rcc import cooperative_panel, cooperatives
from csceval.workflow_support import log_to, write_parquet

log = log_to(snakemake.log[0])
coop = cooperatives(snakemake.params.programme)[snakemake.wildcards.cooperative]
units, donors = cooperative_panel(
    pd.read_parquet(snakemake.input.panel), snakemake.wildcards.cooperative, coop["la_codes"],
    config=snakemake.params.groupings, donors=snakemake.params.donors,
)
log.info("%s: %d member LAs, %d donor units from %d LAs", coop["name"], len(coop["la_codes"]),
         donors.loc[donors["included"], "unit_code"].nunique(), int(donors["included"].sum()))
write_parquet(units, snakemake.output.units)
write_parquet(donors.assign(cooperative=snakemake.wildcards.cooperative), snakemake.output.donors)
