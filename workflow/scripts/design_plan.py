import pandas as pd

from csceval.design.build import plan_assumptions, plan_pools, read_pools, report_columns, window_panel
from csceval.design.plan import analysis_plan_markdown
from csceval.did.registry import headline_first
from csceval.disclosure import DisclosureRules
from csceval.report.tables import write_table
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
spec, w, params = snakemake.params.programme, snakemake.wildcards, snakemake.params
rules = DisclosureRules.from_config(params.disclosure)
mde = pd.read_csv(snakemake.input.mde, keep_default_na=False, na_values={c: [""] for c in ("mde", "mde_mc_se", "mde_relative")})
pretrends = pd.concat([pd.read_csv(p) for p in snakemake.input.pretrends], ignore_index=True)
write_table(report_columns(mde), snakemake.output.mde, rules)
write_table(report_columns(pretrends), snakemake.output.pretrends, rules)
panel = window_panel(pd.read_parquet(snakemake.input.panel, columns=["la_code", "period"]), spec, params.frequency)
config = {"estimation": {"callaway_santanna": {"anticipation": params.anticipation}}, "exclusions": params.exclusions}
assumptions = plan_assumptions(spec, config, params.frequency, panel["period"].unique())
policy = params.policy.get(w.programme)
estimators = headline_first(params.estimators, params.inference, policy["method"] if policy else None)
plan = analysis_plan_markdown(w.programme, spec, None, plan_pools(read_pools(snakemake.input.pools)), mde,
                              estimators, policy, assumptions=assumptions)
with open(snakemake.output.plan, "w", encoding="utf-8") as handle:
    handle.write(plan + "\n")
log.info("plan written: %d lines", plan.count("\n") + 1)
