from pathlib import Path

import pandas as pd

from csceval.boundaries import harmonise_boundaries
from csceval.panel import assemble_panel, combine_releases
from csceval.workflow_support import log_to, write_parquet

log = log_to(snakemake.log[0])
tables = {Path(p).stem + ".csv": pd.read_parquet(p) for p in snakemake.input.tables}
tables, revisions = combine_releases(tables, snakemake.params.outcomes)
panel, sources = assemble_panel(tables, snakemake.params.outcomes)
panel, boundaries = harmonise_boundaries(panel, snakemake.params.boundary_changes, snakemake.params.treated)
for row in boundaries.itertuples():
    log.info("boundary change %s: %s (%s)", row.change_id, row.action, row.note)
log.info("panel: %d rows, %d LAs, outcomes %s", len(panel), panel["la_code"].nunique(), sorted(panel["outcome"].unique()))
write_parquet(panel, snakemake.output.panel)
sources.to_csv(snakemake.output.sources, index=False, lineterminator="\n")
boundaries.to_csv(snakemake.output.boundaries, index=False, lineterminator="\n")
revisions.to_csv(snakemake.output.revisions, index=False, lineterminator="\n")
