import pandas as pd

from csceval.design import estimation_sample
from csceval.panel import OUTCOMES
from csceval.report.figures import save_figure
from csceval.report.inference_figures import alt_text_sensitivity_panels, sensitivity_panels_figure
from csceval.robustness import honest_did_event_study, honest_did_table
from csceval.workflow_support import log_to, read_timing, write_parquet

log = log_to(snakemake.log[0])
spec, w, cfg = snakemake.params.programme, snakemake.wildcards, snakemake.params.honest_did
sample = estimation_sample(
    pd.read_parquet(snakemake.input.panel), read_timing(snakemake.input.timing), w.outcome,
    spec["window_start"], spec["clean_window_end"], snakemake.params.frequency,
)
event_study = honest_did_event_study(sample, cfg["estimator"], snakemake.params.estimation, covariance=cfg["covariance"])
log.info("HonestDiD on the %s event study (%s)", cfg["estimator"], getattr(event_study, "metadata", {}).get("covariance", "its vcov"))
table, results = honest_did_table(
    event_study, e=cfg["event_time"], M=cfg["M"], Mbar=cfg["Mbar"], restrictions=cfg["restrictions"],
    alpha=snakemake.params.estimation["alpha"], grid_points=cfg["grid_points"], seed=cfg["seed"],
    r_compatible=cfg["r_compatible"],
)
for result in results.values():
    log.info("%s", result.summary())
write_parquet(table.assign(programme=w.programme, outcome=w.outcome), snakemake.output.table)
name = spec["short_name"] or spec["name"]
label = OUTCOMES[w.outcome].short_label
fig = sensitivity_panels_figure(results, title=f"{name}, {label}: sensitivity to parallel-trends violations",
                                ylabel=f"Effect on the rate per 10,000")
save_figure(fig, snakemake.output.figure[0][: -len(".png")], dpi=snakemake.params.dpi)
with open(snakemake.output.alt_text, "w", encoding="utf-8") as handle:
    handle.write(alt_text_sensitivity_panels(results) + "\n")
