from csceval.inference import size_experiment
from csceval.workflow_support import log_to, write_parquet

log = log_to(snakemake.log[0])
settings = snakemake.params.settings
n_treated = int(snakemake.wildcards.n_treated)
# each job has its own stream: seed + number of treated units (so jobs do not depend on each other)
table = size_experiment(
    n_treated=[n_treated], n_reps=settings["replications"], n_permutations=settings["draws"],
    n_boot=settings["draws"], seed=settings["seed"] + n_treated, alpha=snakemake.params.alpha,
)
log.info("\n%s", table.to_string())
write_parquet(table, snakemake.output[0])
