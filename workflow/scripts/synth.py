import pandas as pd

from csceval.rcc import cooperatives, run_synth, synth_sample, write_synth_figures
from csceval.workflow_support import log_to, write_parquet

log = log_to(snakemake.log[0])
spec, w = snakemake.params.programme, snakemake.wildcards
coop = cooperatives(spec)[w.cooperative]
sample, notes = synth_sample(
    pd.read_parquet(snakemake.input.units), w.outcome, w.cooperative, coop["start"], spec["window_start"],
    spec["clean_window_end"], snakemake.params.frequency,
)
for note in notes:
    log.warning("%s", note)
run = run_synth(sample, snakemake.params.synth, programme=w.programme, outcome=w.outcome, code=w.cooperative,
                alpha=snakemake.params.alpha)
log.info("%s\n%s", run.sc.summary(), run.sdid.summary())
write_parquet(run.estimates, snakemake.output.estimates)
write_parquet(run.inference, snakemake.output.inference)
write_parquet(run.weights, snakemake.output.weights)
write_parquet(run.placebos, snakemake.output.placebos)
write_synth_figures(run, snakemake.output.figures, snakemake.output.alt_text, name=coop["name"],
                    outcome=w.outcome, synthetic=snakemake.params.synthetic, dpi=snakemake.params.dpi)
