# Treatment timing, roles and exclusions per programme.


rule design:
    input:
        panel="results/panel/ees_annual.parquet",
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
