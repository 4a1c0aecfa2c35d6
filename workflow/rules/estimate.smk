# One job per programme x outcome x estimator.


rule estimate:
    input:
        panel=PANEL_FILE,
        timing="results/design/{programme}/treatment_timing.csv",
    output:
        "results/estimates/{programme}/{outcome}/{estimator}.parquet",
    log:
        "results/logs/estimate/{programme}/{outcome}/{estimator}.log",
    benchmark:
        "results/benchmarks/estimate/{programme}/{outcome}/{estimator}.tsv"
    params:
        programme=programme_config,
        estimation=config["estimation"],
        frequency=config["data"]["frequency"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../scripts/estimate.py"


rule bacon:
    input:
        panel=PANEL_FILE,
        timing="results/design/{programme}/treatment_timing.csv",
    output:
        "results/estimates/{programme}/{outcome}/bacon.parquet",
    log:
        "results/logs/bacon/{programme}/{outcome}.log",
    benchmark:
        "results/benchmarks/bacon/{programme}/{outcome}.tsv"
    params:
        programme=programme_config,
        frequency=config["data"]["frequency"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../scripts/bacon.py"
