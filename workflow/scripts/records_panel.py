from csceval.records_panel import build_panel_from_interim
from csceval.workflow_support import log_to, write_parquet

log = log_to(snakemake.log[0])
lookup = snakemake.params.postcode_lookup
if lookup is None:
    log.info("placement distance (placed_over_20_miles_pct, placement_distance_unknown_pct) not computed: "
             "data.postcode_lookup is not set")
else:
    log.info("placement distance from the postcode centroids in %s", lookup)
# threads: the rule's (1 reads and counts in turn; 2 reads the next LA while counting this one)
panel = build_panel_from_interim(snakemake.input.interim, snakemake.input.population, snakemake.wildcards.frequency,
                                 postcode_lookup=lookup, threads=snakemake.threads)
log.info("records panel (%s): %d rows, %d LAs, %d periods, outcomes %s", snakemake.wildcards.frequency, len(panel),
         panel["la_code"].nunique(), panel["period"].nunique(), sorted(panel["outcome"].unique()))
distance = panel[panel["outcome"].isin(["placed_over_20_miles_pct", "placement_distance_unknown_pct"])]
last = distance[distance["period"] == distance["period"].max()]
for outcome, rows in last.groupby("outcome"):
    log.info("%s, all LAs, period starting %s: %.1f%% (%d of %d CLA)", outcome, rows["period"].iloc[0].date(),
             100 * rows["numerator"].sum() / max(rows["denominator"].sum(), 1), rows["numerator"].sum(),
             rows["denominator"].sum())
write_parquet(panel, snakemake.output.panel)
