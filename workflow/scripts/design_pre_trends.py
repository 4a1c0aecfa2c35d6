import pandas as pd

from csceval.design.balance import pre_trend_figure, pre_trend_means
from csceval.design.build import pretest_row, window_panel
from csceval.panel import OUTCOMES
from csceval.report.design_figures import alt_text_mean_paths
from csceval.report.figures import save_figure
from csceval.workflow_support import log_to, read_timing

log = log_to(snakemake.log[0])
spec, w = snakemake.params.programme, snakemake.wildcards
timing = read_timing(snakemake.input.timing)
panel = window_panel(pd.read_parquet(snakemake.input.panel), spec, snakemake.params.frequency)
test = pretest_row(panel, timing, w.outcome, spec, snakemake.params.estimation, snakemake.params.frequency,
                   snakemake.params.pretest["n_permutations"], snakemake.params.seed)
log.info("pre-trend test:\n%s", test.T.to_string())
test.assign(programme=w.programme).to_csv(snakemake.output.pretest, index=False, lineterminator="\n")
label = OUTCOMES[w.outcome].short_label if w.outcome in OUTCOMES else w.outcome
title = f"{spec['short_name'] or spec['name']}: {label}, treated and eligible comparison LAs"
fig = pre_trend_figure(panel, timing, w.outcome, title=title)
save_figure(fig, snakemake.output.figure[0][: -len(".png")], dpi=snakemake.params.dpi)
with open(snakemake.output.alt_text, "w", encoding="utf-8") as handle:
    handle.write(alt_text_mean_paths(pre_trend_means(panel, timing, w.outcome), timing=timing, outcome=w.outcome,
                                     title=title) + "\n")
