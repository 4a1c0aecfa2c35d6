import pandas as pd

from csceval.design import estimation_sample
from csceval.panel import OUTCOMES
from csceval.reference import local_authorities
from csceval.report.figures import save_figure
from csceval.report.inference_figures import alt_text_leave_one_out, leave_one_out_figure
from csceval.robustness import leave_one_out
from csceval.workflow_support import log_to, read_timing, write_parquet

log = log_to(snakemake.log[0])
spec, w = snakemake.params.programme, snakemake.wildcards
sample = estimation_sample(
    pd.read_parquet(snakemake.input.panel), read_timing(snakemake.input.timing), w.outcome,
    spec["window_start"], spec["clean_window_end"], snakemake.params.frequency,
)
table = leave_one_out(sample, snakemake.params.estimators, snakemake.params.estimation)
log.info("leave-one-out:\n%s", table.to_string())
write_parquet(table.assign(programme=w.programme, outcome=w.outcome), snakemake.output.table)
names = dict(zip(local_authorities()["la_code"], local_authorities()["la_name"]))
name = spec["short_name"] or spec["name"]
label = OUTCOMES[w.outcome].short_label
fig = leave_one_out_figure(table, title=f"{name}, {label}: estimate with each treated LA left out",
                           ylabel=f"Effect on the rate per 10,000", names=names)
save_figure(fig, snakemake.output.figure[0][: -len(".png")], dpi=snakemake.params.dpi)
with open(snakemake.output.alt_text, "w", encoding="utf-8") as handle:
    handle.write(alt_text_leave_one_out(table, names) + "\n")
