import pandas as pd

from csceval.disclosure import DisclosureRules, write_publishable_csv
from csceval.report.figures import save_figure
from csceval.report.vfm import alt_text_vfm, publishable_break_even, publishable_summary, vfm_figure
from csceval.vfm import programme_economics
from csceval.workflow_support import log_to, read_timing, write_parquet

log = log_to(snakemake.log[0])
p, spec, econ = snakemake.wildcards.programme, snakemake.params.programme, snakemake.params.economics
result, draws = programme_economics(pd.read_parquet(snakemake.input.panel), read_timing(snakemake.input.timing), p, spec, econ,
                                    snakemake.params.frequency)
write_parquet(draws, snakemake.output.draws)
rules = DisclosureRules.from_config(snakemake.params.disclosure)
write_publishable_csv(publishable_summary(result.summary), snakemake.output.summary, rules)
write_publishable_csv(publishable_break_even(result.break_even), snakemake.output.break_even, rules)
interval = tuple((econ.get("draws") or {}).get("interval", (0.05, 0.95)))
name = spec.get("short_name") or spec["name"]
save_figure(vfm_figure(result.npv_draws, result.point_npv, title=f"{name}: net present value over bootstrap draws",
                       interval=interval, synthetic=snakemake.params.synthetic, impact_only=result.npv_draws_impact_only),
            snakemake.output.figure[0][: -len(".png")], dpi=snakemake.params.dpi)
with open(snakemake.output.alt_text, "w") as fh:
    fh.write(alt_text_vfm(result.npv_draws, result.point_npv, result.pv_costs, programme_name=spec["name"],
                          price_base=result.summary["price_base"].iloc[0], interval=interval, synthetic=snakemake.params.synthetic,
                          impact_only=result.npv_draws_impact_only) + "\n")
for note in result.notes:
    log.info("note: %s", note)
log.info("%s: NPV %.1fm, PV costs %.1fm, P(NPV>0) %.3f", p, result.point_npv / 1e6, result.pv_costs / 1e6, (result.npv_draws > 0).mean())
for _, row in result.summary[result.summary["measure"].str.startswith("Net present value")].iterrows():
    log.info("%s: %s %.2fm [%.2fm, %.2fm]", p, row["measure"], row["point"], row["lower"], row["upper"])
