# The report notebook, executed into HTML from the publishable outputs.
# It reads only results/report (tables, figures), never interim or panel data.

REPORT_NOTEBOOK = Path(workflow.basedir) / "notebooks" / "report.ipynb"


#: Publishable tables and figures the notebook tells the story from (all built before it).
REPORT_NOTEBOOK_INPUTS = list(
    dict.fromkeys(
        [
            "results/report/tables/estimates.csv",
            "results/report/tables/size_experiment.csv",
            *expand("results/report/tables/{programme}_headline.md", programme=estimated_programmes()),
            *figure_files(),
            *(["results/report/tables/recovered_vs_true.csv"] if SYNTHETIC else []),
            *EXTRA_REPORT_OUTPUTS,
        ]
    )
)


rule report_notebook:
    input:
        notebook=REPORT_NOTEBOOK,
        reports=REPORT_NOTEBOOK_INPUTS,
    output:
        report(
            "results/report/report_notebook.html",
            caption="../report/report_notebook.rst",
            category="Report",
        ),
    log:
        "results/logs/report/report_notebook.log",
    params:
        programmes={p: config["programmes"][p] for p in estimated_programmes()},
        policy={p: v for p, v in config["inference"].get("policy", {}).items() if p in estimated_programmes()},
        synthetic=SYNTHETIC,
        economics=config.get("economics", {}),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../scripts/report_notebook.py"


EXTRA_REPORT_OUTPUTS.append("results/report/report_notebook.html")
