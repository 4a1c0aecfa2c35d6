# Synthetic LA returns in the DfE open-data formats, with known true effects.


rule simulate:
    output:
        ees=[str(SYN_DIR / name) for name in synthetic_file_names().values()],
        truth=SYN_DIR / "true_effects.csv",
        manifest=SYN_DIR / "simulation_manifest.json",
    log:
        "results/logs/simulate.log",
    benchmark:
        "results/benchmarks/simulate.tsv"
    params:
        simulate=config["simulate"],
        programmes=config["programmes"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        CONDA_ENV
    script:
        "../scripts/simulate.py"
