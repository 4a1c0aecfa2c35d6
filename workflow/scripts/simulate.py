from pathlib import Path

from csceval.simulate import simulate_la_returns
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
sim = snakemake.params.simulate
written = simulate_la_returns(
    Path(snakemake.output.truth).parent,
    seed=sim["seed"],
    first_year=sim["first_year"],
    last_year=sim["last_year"],
    programmes=snakemake.params.programmes,
    effects=sim.get("effects", {}),
    national_rollout=sim.get("national_rollout"),
    n_las=sim.get("n_las"),
)
for name, path in written.items():
    log.info("wrote %s: %s", name, path)
