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


# RCC economies of scale: expenditure on children looked after per child-week against commissioning size,
# for every LA and each cooperative (members summed), from the S251 outturn file (csceval.placement_costs).

#: Cooperative programmes (unit: cooperative) whose cost per child-week is reported.
PLACEMENT_COST_PROGRAMMES = [p for p, spec in config["programmes"].items() if spec["unit"] == "cooperative"] if config.get("economics") else []
PLACEMENT_COSTS = (config.get("economics") or {}).get("placement_costs") or {}
S251_NAME = "s251_childrens_young_peoples_services_la_regional_national.csv"
#: The S251 outturn file: synthetic (rule simulate_s251) in synthetic runs, else as configured (None: skipped with a note).
S251_FILE = str(SYN_DIR / S251_NAME) if SYNTHETIC else PLACEMENT_COSTS.get("s251_file")


rule simulate_s251:
    input:
        panel=PANEL_FILE,
    output:
        SYN_DIR / S251_NAME,
    log:
        "results/logs/simulate_s251.log",
    benchmark:
        "results/benchmarks/simulate_s251.tsv"
    params:
        synthetic=PLACEMENT_COSTS.get("synthetic") or {},
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/economics_simulate_s251.py"


rule placement_costs:
    input:
        panel=PANEL_FILE,
        s251=[S251_FILE] if S251_FILE else [],
    output:
        units=report(
            "results/report/tables/{programme}_cost_per_child_week.csv",
            caption="../report/economics_placement_costs.rst",
            category="Value for money",
            subcategory="{programme}",
            labels={"programme": "{programme}", "file": "cost per child-week"},
        ),
        estimate=report(
            "results/report/tables/{programme}_economies_of_scale.csv",
            caption="../report/economics_placement_costs.rst",
            category="Value for money",
            subcategory="{programme}",
            labels={"programme": "{programme}", "file": "economies of scale"},
        ),
        figure=report(
            multiext("results/report/figures/{programme}/cost_per_child_week", ".png", ".svg"),
            caption="../report/economics_placement_costs_figure.rst",
            category="Value for money",
            subcategory="{programme}",
            labels={"programme": "{programme}", "file": "cost per child-week against size"},
        ),
        alt_text="results/report/figures/{programme}/cost_per_child_week.txt",
    log:
        "results/logs/placement_costs/{programme}.log",
    benchmark:
        "results/benchmarks/placement_costs/{programme}.tsv"
    params:
        programme=programme_config,
        placement_costs=PLACEMENT_COSTS,
        disclosure=config["report"]["disclosure"],
        dpi=config["report"]["figure_dpi"],
        synthetic=SYNTHETIC,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/economics_placement_costs.py"


EXTRA_REPORT_OUTPUTS.extend(
    [
        *expand(
            "results/report/tables/{programme}_{table}.csv",
            programme=PLACEMENT_COST_PROGRAMMES,
            table=["cost_per_child_week", "economies_of_scale"],
        ),
        *expand(
            "results/report/figures/{programme}/cost_per_child_week.{ext}", programme=PLACEMENT_COST_PROGRAMMES, ext=["png", "svg", "txt"]
        ),
    ]
)
