# Publication outputs: every table passes the disclosure check before it is written here.


rule estimates_table:
    input:
        all_estimate_files(),
    output:
        report(
            "results/report/tables/estimates.csv",
            caption="../report/estimates.rst",
            category="Tables",
        ),
    log:
        "results/logs/report/estimates_table.log",
    params:
        disclosure=config["report"]["disclosure"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/estimates_table.py"


rule truth_targets:
    input:
        panel=PANEL_FILE,
        timing="results/design/{programme}/treatment_timing.csv",
        truth=SYN_DIR / "true_effects.csv",
    output:
        "results/estimates/{programme}/{outcome}/truth_targets.parquet",
    log:
        "results/logs/truth_targets/{programme}/{outcome}.log",
    params:
        programme=programme_config,
        event_window=config["estimation"]["event_window"],
        frequency=config["data"]["frequency"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/truth_targets.py"


rule event_study_figure:
    input:
        estimates=estimator_files,
        truth=truth_targets_input,
    output:
        report(
            multiext("results/report/figures/{programme}/{outcome}_event_study", ".png", ".svg"),
            caption="../report/event_study.rst",
            category="Figures",
            subcategory="{programme}",
            labels={"programme": "{programme}", "outcome": "{outcome}", "file": "event study"},
        ),
        alt_text="results/report/figures/{programme}/{outcome}_event_study.txt",
    log:
        "results/logs/report/event_study/{programme}/{outcome}.log",
    params:
        programme=programme_config,
        dpi=config["report"]["figure_dpi"],
        event_window=config["estimation"]["event_window"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/event_study_figure.py"


rule bacon_figure:
    input:
        bacon="results/estimates/{programme}/{outcome}/bacon.parquet",
        estimates=estimator_files,
    output:
        report(
            multiext("results/report/figures/{programme}/{outcome}_bacon", ".png", ".svg"),
            caption="../report/bacon.rst",
            category="Figures",
            subcategory="{programme}",
            labels={"programme": "{programme}", "outcome": "{outcome}", "file": "Goodman-Bacon decomposition"},
        ),
        alt_text="results/report/figures/{programme}/{outcome}_bacon.txt",
    log:
        "results/logs/report/bacon/{programme}/{outcome}.log",
    params:
        programme=programme_config,
        dpi=config["report"]["figure_dpi"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/bacon_figure.py"


rule recovered_vs_true:
    input:
        estimates=all_estimator_files(),
        targets=all_truth_target_files(),
    output:
        report(
            "results/report/tables/recovered_vs_true.csv",
            caption="../report/recovered_vs_true.rst",
            category="Tables",
        ),
    log:
        "results/logs/report/recovered_vs_true.log",
    params:
        disclosure=config["report"]["disclosure"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/recovered_vs_true.py"


rule size_experiment_table:
    input:
        expand("results/inference/size_experiment/n{n_treated}.parquet", n_treated=config["inference"]["size_experiment"]["n_treated"]),
    output:
        report(
            "results/report/tables/size_experiment.csv",
            caption="../report/size_experiment.rst",
            category="Tables",
        ),
    log:
        "results/logs/report/size_experiment_table.log",
    params:
        disclosure=config["report"]["disclosure"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/size_experiment_table.py"


rule publication_tables:
    input:
        estimates="results/report/tables/estimates.csv",
        size_table="results/report/tables/size_experiment.csv",
        sources="results/panel/ees_annual_sources.csv",
        truth=recovered_vs_true_input,
        rcc=expand("results/synth/{programme}/rcc_headline.parquet", programme=synth_programmes()),
    output:
        workbook=report(
            "results/report/tables/csceval_tables.xlsx",
            caption="../report/workbook.rst",
            category="Tables",
        ),
        markdown=expand("results/report/tables/{programme}_headline.md", programme=estimated_programmes()),
        latex=expand("results/report/tables/{programme}_headline.tex", programme=estimated_programmes()),
    log:
        "results/logs/report/publication_tables.log",
    params:
        programmes=config["programmes"],
        report=config["report"],
        inference=config["inference"],
        synthetic=SYNTHETIC,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/publication_tables.py"


rule manifest:
    input:
        # every input file the run read (the S251 outturn file of real runs too), hashed into the manifest
        inputs=[EES_DIR / name for name in ees_input_names()] + ([S251_FILE] if S251_FILE and not SYNTHETIC else []),
        outputs=report_outputs(),
    output:
        "results/report/manifest.json",
    log:
        "results/logs/report/manifest.log",
    params:
        config=config,
        repo=workflow.basedir,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/manifest.py"
