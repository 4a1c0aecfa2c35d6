# Read each DfE open-data file into long form (value + status), one parquet per file.


rule ingest_ees:
    input:
        EES_DIR / "{name}.csv",
    output:
        "results/interim/ees/{name}.parquet",
    log:
        "results/logs/ingest_ees/{name}.log",
    benchmark:
        "results/benchmarks/ingest_ees/{name}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        CONDA_ENV
    script:
        "../scripts/ingest_ees.py"
