from pathlib import Path

from csceval.ingest.records import read_record_year, resolve_salt
from csceval.workflow_support import log_to, write_parquet

log = log_to(snakemake.log[0])
params = snakemake.params
year = int(snakemake.wildcards.year)
result = read_record_year(params.records_dir, year, salt=resolve_salt(params.salt_env, params.synthetic))
out = Path(snakemake.output.interim)
out.mkdir(parents=True, exist_ok=True)
for kind, frames in (("ssda903", result.episodes), ("cin_census", result.events)):
    for la, frame in frames.items():
        write_parquet(frame, out / f"{kind}_{la}.parquet")
result.quarantine.to_csv(snakemake.output.quarantine, index=False, lineterminator="\n")
result.reconciliation.to_csv(snakemake.output.reconciliation, index=False, lineterminator="\n")
recon = result.reconciliation
log.info("%d: %d SSDA903 and %d CIN census returns; rows read %d = accepted %d + quarantined %d", year,
         len(result.episodes), len(result.events), recon["rows_read"].sum() if len(recon) else 0,
         recon["rows_accepted"].sum() if len(recon) else 0, recon["rows_quarantined"].sum() if len(recon) else 0)
