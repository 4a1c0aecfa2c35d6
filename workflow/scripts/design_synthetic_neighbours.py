import warnings

import pandas as pd

from csceval.design.neighbours import synthetic_statistical_neighbours, write_statistical_neighbours
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
panel = pd.read_parquet(snakemake.input.panel)
panel["period"] = pd.to_datetime(panel["period"])
# features from the years before any programme starts, so no treatment effect shapes the neighbours
first_start = min(pd.Timestamp(w["start"]) for spec in snakemake.params.programmes.values() for w in spec["waves"])
periods = sorted(p for p in panel["period"].unique() if p < first_start)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    table = synthetic_statistical_neighbours(panel, outcomes=snakemake.params.outcomes, periods=periods or None,
                                             n_neighbours=snakemake.params.n_neighbours, model="synthetic")
for w in caught:
    log.warning("%s", w.message)
log.info("synthetic neighbour model: %d LAs, %d pairs, bands %s", table["la_code"].nunique(), len(table),
         table["closeness"].value_counts().to_dict())
write_statistical_neighbours(table, snakemake.output.neighbours, model="synthetic")
