from pathlib import Path

import pandas as pd

from csceval.disclosure import DisclosureRules
from csceval.report.publication import programme_headline, rcc_headline_meta, workbook_tables
from csceval.report.workbook import to_latex, to_markdown, write_workbook
from csceval.workflow_support import log_to

log = log_to(snakemake.log[0])
config = {"programmes": snakemake.params.programmes, "report": snakemake.params.report, "inference": snakemake.params.inference}
rules = DisclosureRules.from_config(config["report"]["disclosure"])
estimates = pd.read_csv(snakemake.input.estimates, dtype={"cohort": str, "period": str})
truth = pd.read_csv(snakemake.input.truth[0]) if snakemake.input.truth else None
sources = sorted(pd.read_csv(snakemake.input.sources)["file"].unique())
size = pd.read_csv(snakemake.input.size_table)

# RCC: each cooperative programme's headline table (rule synth_pooled), titled and footnoted like its Markdown
rcc = {
    Path(path).parent.name: (pd.read_parquet(path), rcc_headline_meta(config["programmes"][Path(path).parent.name], sources,
                                                                      snakemake.params.synthetic))
    for path in snakemake.input.rcc
}
write_workbook(
    workbook_tables(estimates, config, sources, truth, size, rcc=rcc), snakemake.output.workbook,
    cover={**config["report"]["workbook"], "summary": "Impact estimates for the children's social care reforms in the run's config."},
    notes=[(k, spec["name"] + ": " + "; ".join(f"{w['name']} {w['start']} ({w['date_status']}: {w.get('source', '')})" for w in spec["waves"]))
           for k, spec in config["programmes"].items()],
    rules=rules,
)
for md, tex in zip(snakemake.output.markdown, snakemake.output.latex):
    programme = Path(md).name.split("_headline")[0]
    table, meta = programme_headline(estimates, config, programme, sources, truth)
    Path(md).write_text(to_markdown(table, meta, rules=rules), encoding="utf-8")
    Path(tex).write_text(to_latex(table, meta, rules=rules, label=f"tab:{programme}-headline"), encoding="utf-8")
log.info("wrote %s", list(snakemake.output))
