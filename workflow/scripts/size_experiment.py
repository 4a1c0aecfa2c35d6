from csceval.inference import size_experiment
from csceval.workflow_support import log_to, write_parquet

log = log_to(snakemake.log[0])
settings = snakemake.params.settings
table = size_experiment(
    n_treated=settings["n_treated"], n_reps=settings["replications"], n_permutations=settings["draws"],
    n_boot=settings["draws"], seed=settings["seed"], alpha=snakemake.params.alpha,
)
log.info("\n%s", table.to_string())
write_parquet(table, snakemake.output[0])
