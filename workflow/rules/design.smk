# Evaluation designs: treatment timing, roles and exclusions per programme; comparison pools (eligible,
# statistical neighbours, matched) with who is in which pool and why; balance, pre-trends and placebo
# MDEs per LA-level programme; and the analysis plan rendered from config and data.

EXTRA_REPORT_OUTPUTS.extend(design_report_files())


rule design:
    input:
        panel=PANEL_FILE,
    output:
        timing="results/design/{programme}/treatment_timing.csv",
    log:
        "results/logs/design/{programme}.log",
    params:
        programme=programme_config,
        programmes=config["programmes"],
        exclusions=config["exclusions"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/design.py"


rule design_synthetic_neighbours:
    input:
        panel=PANEL_FILE,
    output:
        neighbours="results/design/statistical_neighbours_synthetic.csv",
    log:
        "results/logs/design/synthetic_neighbours.log",
    params:
        programmes=config["programmes"],
        outcomes=panel_outcomes(),
        n_neighbours=DESIGN["neighbours"]["synthetic_n_neighbours"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/design_synthetic_neighbours.py"


rule design_pools:
    input:
        unpack(design_pools_input),
    output:
        pools="results/design/{programme}/pools.csv",
        membership="results/design/{programme}/pool_membership.csv",
        summary="results/design/{programme}/pool_summary.csv",
    log:
        "results/logs/design/pools/{programme}.log",
    benchmark:
        "results/benchmarks/design_pools/{programme}.tsv"
    params:
        programme=programme_config,
        design=DESIGN,
        neighbour_model=neighbour_model(),
        frequency=config["data"]["frequency"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../scripts/design_pools.py"


rule design_pool_table:
    input:
        membership="results/design/{programme}/pool_membership.csv",
    output:
        table=report(
            "results/report/tables/{programme}_design_pools.csv",
            caption="../report/design_pools.rst",
            category="Design",
            subcategory="{programme}",
            labels={"programme": "{programme}", "file": "comparison pools"},
        ),
    log:
        "results/logs/design/pool_table/{programme}.log",
    params:
        disclosure=config["report"]["disclosure"],
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/design_pool_table.py"


rule design_pre_trends:
    input:
        panel=PANEL_FILE,
        timing="results/design/{programme}/treatment_timing.csv",
    output:
        pretest="results/design/{programme}/pretrends/{outcome}.csv",
        figure=report(
            multiext("results/report/figures/{programme}/{outcome}_pre_trends", ".png", ".svg"),
            caption="../report/design_pre_trends.rst",
            category="Design",
            subcategory="{programme}",
            labels={"programme": "{programme}", "outcome": "{outcome}", "file": "pre-trends"},
        ),
        alt_text="results/report/figures/{programme}/{outcome}_pre_trends.txt",
    log:
        "results/logs/design/pre_trends/{programme}/{outcome}.log",
    params:
        programme=programme_config,
        estimation=config["estimation"],
        pretest=DESIGN["pretest"],
        seed=DESIGN["mde"]["seed"],
        frequency=config["data"]["frequency"],
        dpi=config["report"]["figure_dpi"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../scripts/design_pre_trends.py"


rule design_mde:
    input:
        panel=PANEL_FILE,
        timing="results/design/{programme}/treatment_timing.csv",
        pools="results/design/{programme}/pools.csv",
    output:
        mde="results/design/{programme}/mde.csv",
    log:
        "results/logs/design/mde/{programme}.log",
    benchmark:
        "results/benchmarks/design_mde/{programme}.tsv"
    params:
        programme=programme_config,
        mde=DESIGN["mde"],
        alpha=config["estimation"]["alpha"],
        frequency=config["data"]["frequency"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../scripts/design_mde.py"


rule design_balance:
    input:
        panel=PANEL_FILE,
        timing="results/design/{programme}/treatment_timing.csv",
        pools="results/design/{programme}/pools.csv",
    output:
        balance=report(
            "results/report/tables/{programme}_balance.csv",
            caption="../report/design_balance.rst",
            category="Design",
            subcategory="{programme}",
            labels={"programme": "{programme}", "file": "balance table"},
        ),
        figure=report(
            multiext("results/report/figures/{programme}/balance", ".png", ".svg"),
            caption="../report/design_balance.rst",
            category="Design",
            subcategory="{programme}",
            labels={"programme": "{programme}", "file": "balance figure"},
        ),
        alt_text="results/report/figures/{programme}/balance.txt",
    log:
        "results/logs/design/balance/{programme}.log",
    params:
        programme=programme_config,
        design=DESIGN,
        frequency=config["data"]["frequency"],
        disclosure=config["report"]["disclosure"],
        dpi=config["report"]["figure_dpi"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../scripts/design_balance.py"


rule design_plan:
    input:
        panel=PANEL_FILE,
        timing="results/design/{programme}/treatment_timing.csv",
        pools="results/design/{programme}/pools.csv",
        mde="results/design/{programme}/mde.csv",
        pretrends=design_outcome_files("pretrends"),
    output:
        mde=report(
            "results/report/tables/{programme}_mde.csv",
            caption="../report/design_mde.rst",
            category="Design",
            subcategory="{programme}",
            labels={"programme": "{programme}", "file": "minimum detectable effects"},
        ),
        pretrends=report(
            "results/report/tables/{programme}_pretrends.csv",
            caption="../report/design_pre_trends.rst",
            category="Design",
            subcategory="{programme}",
            labels={"programme": "{programme}", "file": "pre-trend tests"},
        ),
        plan=report(
            "results/report/plans/{programme}_analysis_plan.md",
            caption="../report/design_plan.rst",
            category="Design",
            subcategory="{programme}",
            labels={"programme": "{programme}", "file": "analysis plan"},
        ),
    log:
        "results/logs/design/plan/{programme}.log",
    params:
        programme=programme_config,
        estimators=config["estimation"]["estimators"],
        anticipation=config["estimation"].get("callaway_santanna", {}).get("anticipation", 0),
        policy=config["inference"].get("policy", {}),
        inference=config["inference"],
        exclusions=config["exclusions"],
        frequency=config["data"]["frequency"],
        disclosure=config["report"]["disclosure"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/design_plan.py"
