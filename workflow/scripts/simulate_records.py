from pathlib import Path

from csceval.simulate.records import simulate_record_returns
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
sim = snakemake.params.simulate
rec = sim.get("records") or {}
written = simulate_record_returns(
    Path(snakemake.output.manifest).parent,
    seed=sim["seed"],
    first_year=sim["first_year"],
    last_year=sim["last_year"],
    record_years=snakemake.params.records_years,
    programmes=snakemake.params.programmes,
    effects=sim.get("effects", {}),
    national_rollout=sim.get("national_rollout"),
    n_las=sim.get("n_las"),
    la_codes=rec.get("la_codes"),
    assessments=rec.get("assessments", True),
)
log.info("wrote %d LA x year returns; manifest %s", len(written["files"]), written["manifest"])
