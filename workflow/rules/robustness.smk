# Sensitivity of the LA-level estimates: HonestDiD bounds, leave-one-treated-LA-out, placebo-in-time.
# One job per estimated programme x outcome and check; the report tables gather them.


ROBUSTNESS_TABLES = [
    "results/report/tables/robustness_honest_did.csv",
    "results/report/tables/robustness_leave_one_out.csv",
    "results/report/tables/robustness_placebo_in_time.csv",
]

EXTRA_REPORT_OUTPUTS.extend([*ROBUSTNESS_TABLES, *robustness_figures()])


rule robustness_honest_did:
    input:
        panel=PANEL_FILE,
        timing="results/design/{programme}/treatment_timing.csv",
    output:
        table="results/robustness/{programme}/{outcome}/honest_did.parquet",
        figure=report(
            multiext("results/report/figures/{programme}/{outcome}_honest_did", ".png", ".svg"),
            caption="../report/honest_did.rst",
            category="Robustness",
            subcategory="{programme}",
            labels={"programme": "{programme}", "outcome": "{outcome}", "file": "HonestDiD sensitivity"},
        ),
        alt_text="results/report/figures/{programme}/{outcome}_honest_did.txt",
    log:
        "results/logs/robustness/honest_did/{programme}/{outcome}.log",
    benchmark:
        "results/benchmarks/robustness_honest_did/{programme}/{outcome}.tsv"
    params:
        programme=programme_config,
        estimation=config["estimation"],
        honest_did=config["robustness"]["honest_did"],
        frequency=config["data"]["frequency"],
        dpi=config["report"]["figure_dpi"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../scripts/robustness_honest_did.py"


rule robustness_leave_one_out:
    input:
        panel=PANEL_FILE,
        timing="results/design/{programme}/treatment_timing.csv",
    output:
        table="results/robustness/{programme}/{outcome}/leave_one_out.parquet",
        figure=report(
            multiext("results/report/figures/{programme}/{outcome}_leave_one_out", ".png", ".svg"),
            caption="../report/leave_one_out.rst",
            category="Robustness",
            subcategory="{programme}",
            labels={"programme": "{programme}", "outcome": "{outcome}", "file": "leave one LA out"},
        ),
        alt_text="results/report/figures/{programme}/{outcome}_leave_one_out.txt",
    log:
        "results/logs/robustness/leave_one_out/{programme}/{outcome}.log",
    benchmark:
        "results/benchmarks/robustness_leave_one_out/{programme}/{outcome}.tsv"
    params:
        programme=programme_config,
        estimation=config["estimation"],
        estimators=config["robustness"]["leave_one_out"]["estimators"],
        frequency=config["data"]["frequency"],
        dpi=config["report"]["figure_dpi"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../scripts/robustness_leave_one_out.py"


rule robustness_placebo_in_time:
    input:
        panel=PANEL_FILE,
        timing="results/design/{programme}/treatment_timing.csv",
    output:
        "results/robustness/{programme}/{outcome}/placebo_in_time.parquet",
    log:
        "results/logs/robustness/placebo_in_time/{programme}/{outcome}.log",
    benchmark:
        "results/benchmarks/robustness_placebo_in_time/{programme}/{outcome}.tsv"
    params:
        programme=programme_config,
        estimation=config["estimation"],
        placebo=config["robustness"]["placebo_in_time"],
        frequency=config["data"]["frequency"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../scripts/robustness_placebo_in_time.py"


rule robustness_tables:
    input:
        honest_did=robustness_files("honest_did"),
        leave_one_out=robustness_files("leave_one_out"),
        placebo_in_time=robustness_files("placebo_in_time"),
    output:
        honest_did=report(
            ROBUSTNESS_TABLES[0],
            caption="../report/robustness_tables.rst",
            category="Robustness",
        ),
        leave_one_out=report(
            ROBUSTNESS_TABLES[1],
            caption="../report/robustness_tables.rst",
            category="Robustness",
        ),
        placebo_in_time=report(
            ROBUSTNESS_TABLES[2],
            caption="../report/robustness_tables.rst",
            category="Robustness",
        ),
    log:
        "results/logs/report/robustness_tables.log",
    params:
        disclosure=config["report"]["disclosure"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/robustness_tables.py"
