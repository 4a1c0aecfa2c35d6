import pandas as pd

from csceval.placement_costs import cla_stock
from csceval.simulate.s251 import write_synthetic_s251
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
settings = dict(snakemake.params.synthetic)
stock = cla_stock(pd.read_parquet(snakemake.input.panel))
write_synthetic_s251(snakemake.output[0], stock, **settings)
log.info("synthetic S251 outturn for %d LA-years, scale elasticity %s (%s)", len(stock), settings.get("elasticity"), settings)
