import pandas as pd

from csceval.disclosure import DisclosureRules, write_publishable_csv
from csceval.ingest.s251 import cla_expenditure, read_s251
from csceval.placement_costs import cla_stock, placement_costs, skipped
from csceval.rcc import cooperatives
from csceval.report.figures import save_figure
from csceval.report.vfm import alt_text_placement_costs, placement_cost_figure, publishable_placement_costs, publishable_scale_estimate
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
settings, spec, synthetic = snakemake.params.placement_costs, snakemake.params.programme, snakemake.params.synthetic
if snakemake.input.s251:
    path = snakemake.input.s251[0]
    expenditure = cla_expenditure(read_s251(path), line=settings.get("line", "Total Children Looked After"),
                                  measure=settings.get("measure", "total_expenditure"), units=settings.get("expenditure_units", "pounds"),
                                  path=path)
    result = placement_costs(expenditure, cla_stock(pd.read_parquet(snakemake.input.panel)), cooperatives(spec),
                             year=settings.get("year"), alpha=float(settings.get("alpha", 0.05)))
else:
    result = skipped("no S251 outturn file is configured (economics.placement_costs.s251_file)")
for note in result.notes:
    log.info("note: %s", note)
rules = DisclosureRules.from_config(snakemake.params.disclosure)
true_elasticity = (settings.get("synthetic") or {}).get("elasticity") if synthetic else None
write_publishable_csv(publishable_placement_costs(result.units, rules), snakemake.output.units, rules)
write_publishable_csv(publishable_scale_estimate(result.estimate_table(true_elasticity)), snakemake.output.estimate, rules)
name = spec.get("short_name") or spec["name"]
save_figure(placement_cost_figure(result, title=f"{name}: expenditure per child looked after against size", synthetic=synthetic),
            snakemake.output.figure[0][: -len(".png")], dpi=snakemake.params.dpi)
with open(snakemake.output.alt_text, "w") as fh:
    fh.write(alt_text_placement_costs(result, synthetic=synthetic) + "\n")
if result.estimate is not None:
    e = result.estimate
    log.info("scale elasticity %.4f [%.4f, %.4f] over %d LAs in %s (true %s)", e.elasticity, e.ci_lower, e.ci_upper, e.n, result.year,
             true_elasticity)
