# Few-treated-robust inference on each programme x outcome (randomization inference over adoption
# patterns, wild cluster bootstrap), and a size experiment showing how clustered SEs over-reject: one job
# per number of treated units, so the long pole of the run is split across cores.


rule inference:
    input:
        panel=PANEL_FILE,
        timing="results/design/{programme}/treatment_timing.csv",
    output:
        "results/inference/{programme}/{outcome}/{method}.parquet",
    log:
        "results/logs/inference/{programme}/{outcome}/{method}.log",
    benchmark:
        "results/benchmarks/inference/{programme}/{outcome}/{method}.tsv"
    params:
        programme=programme_config,
        inference=config["inference"],
        estimation=config["estimation"],
        alpha=config["estimation"]["alpha"],
        frequency=config["data"]["frequency"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../scripts/inference.py"


rule size_experiment:
    output:
        "results/inference/size_experiment/n{n_treated}.parquet",
    log:
        "results/logs/inference/size_experiment/n{n_treated}.log",
    benchmark:
        "results/benchmarks/size_experiment/n{n_treated}.tsv"
    params:
        settings=config["inference"]["size_experiment"],
        alpha=config["estimation"]["alpha"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        CONDA_ENV
    script:
        "../scripts/size_experiment.py"
