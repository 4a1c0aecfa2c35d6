import pandas as pd

from csceval.design.build import balance_report, read_pools, report_columns, window_panel
from csceval.disclosure import DisclosureRules
from csceval.report.design_figures import alt_text_balance, balance_figure
from csceval.report.figures import save_figure
from csceval.report.tables import write_table
from csceval.workflow_support import log_to, read_timing

log = log_to(snakemake.log[0])
spec, w = snakemake.params.programme, snakemake.wildcards
timing = read_timing(snakemake.input.timing)
panel = window_panel(pd.read_parquet(snakemake.input.panel), spec, snakemake.params.frequency)
pools = read_pools(snakemake.input.pools)
table = balance_report(panel, timing, pools, spec["outcomes"], trends=snakemake.params.design["matching"]["trends"])
log.info("balance:\n%s", table[["pool", "variable", "sample", "smd", "variance_ratio"]].to_string())
write_table(report_columns(table.assign(programme=w.programme)), snakemake.output.balance,
            DisclosureRules.from_config(snakemake.params.disclosure))
name = spec["short_name"] or spec["name"]
fig = balance_figure(table, title=f"{name}: balance of pre-period features")
save_figure(fig, snakemake.output.figure[0][: -len(".png")], dpi=snakemake.params.dpi)
with open(snakemake.output.alt_text, "w", encoding="utf-8") as handle:
    handle.write(alt_text_balance(table) + "\n")
