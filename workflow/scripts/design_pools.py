import pandas as pd

from csceval.design.build import build_pools, membership_table, plan_pools, pools_long, window_panel
from csceval.design.neighbours import read_statistical_neighbours
from csceval.workflow_support import log_to, read_timing

log = log_to(snakemake.log[0])
spec, design = snakemake.params.programme, dict(snakemake.params.design)
if spec["unit"] != "la":  # LA-level pools of a cooperative programme list roles and exclusions; donor pools are in synth
    design["pools"] = [k for k in design["pools"] if k != "matched"]
timing = read_timing(snakemake.input.timing)
panel = window_panel(pd.read_parquet(snakemake.input.panel), spec, snakemake.params.frequency)
neighbours = {key[len("neighbours_"):]: read_statistical_neighbours(path, model=key[len("neighbours_"):])
              for key, path in snakemake.input.items() if key.startswith("neighbours_")}
pools = build_pools(panel, timing, spec["outcomes"], design, neighbours, snakemake.params.neighbour_model)
for kind, table in pools.items():
    log.info("%s (%s): %d LAs included", kind, table["pool"].iloc[0], int(table["included"].sum()))
pools_long(pools).to_csv(snakemake.output.pools, index=False, lineterminator="\n")
membership_table(pools, timing).to_csv(snakemake.output.membership, index=False, lineterminator="\n")
plan_pools(pools).to_csv(snakemake.output.summary, index=False, lineterminator="\n")
