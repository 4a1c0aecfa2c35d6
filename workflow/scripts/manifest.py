from pathlib import Path

from csceval.provenance import build_manifest, write_manifest
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
repo = Path(snakemake.params.repo)
manifest = build_manifest(
    snakemake.input.inputs, snakemake.params.config, snakemake.input.outputs, repo_dir=repo,
    packages=snakemake.params.config["report"]["manifest"].get("packages"),
)
write_manifest(manifest, snakemake.output[0])
log.info("manifest: %d inputs, %d outputs", len(manifest.get("inputs", [])), len(manifest.get("outputs", [])))
