# Value for money: impact estimates and their draws turned into costs.
# One job per estimated programme with configured programme costs (config `economics`).


#: Estimated programmes with programme costs configured (none without an `economics` block).
ECONOMICS_PROGRAMMES = [p for p in estimated_programmes() if p in config.get("economics", {}).get("programme_costs", {})]


rule economics:
    input:
        panel=PANEL_FILE,
        timing="results/design/{programme}/treatment_timing.csv",
    output:
        draws="results/economics/{programme}/effect_draws.parquet",
        summary=report(
            "results/report/tables/{programme}_vfm.csv",
            caption="../report/vfm.rst",
            category="Value for money",
            subcategory="{programme}",
            labels={"programme": "{programme}", "file": "VfM summary"},
        ),
        break_even=report(
            "results/report/tables/{programme}_break_even.csv",
            caption="../report/break_even.rst",
            category="Value for money",
            subcategory="{programme}",
            labels={"programme": "{programme}", "file": "break-even"},
        ),
        figure=report(
            multiext("results/report/figures/{programme}/vfm_distribution", ".png", ".svg"),
            caption="../report/vfm_distribution.rst",
            category="Value for money",
            subcategory="{programme}",
            labels={"programme": "{programme}", "file": "NPV distribution"},
        ),
        alt_text="results/report/figures/{programme}/vfm_distribution.txt",
    log:
        "results/logs/economics/{programme}.log",
    benchmark:
        "results/benchmarks/economics/{programme}.tsv"
    params:
        programme=programme_config,
        economics=config.get("economics", {}),
        frequency=config["data"]["frequency"],
        disclosure=config["report"]["disclosure"],
        dpi=config["report"]["figure_dpi"],
        synthetic=SYNTHETIC,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        CONDA_ENV
    script:
        "../scripts/economics.py"


EXTRA_REPORT_OUTPUTS.extend(
    [
        *expand("results/report/tables/{programme}_{table}.csv", programme=ECONOMICS_PROGRAMMES, table=["vfm", "break_even"]),
        *expand(
            "results/report/figures/{programme}/vfm_distribution.{ext}", programme=ECONOMICS_PROGRAMMES, ext=["png", "svg", "txt"]
        ),
    ]
)
