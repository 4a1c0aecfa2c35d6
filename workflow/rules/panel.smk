# The tidy LA x period x outcome panel (rates recomputed from counts and ONS populations).


rule panel:
    input:
        tables=expand("results/interim/ees/{name}.parquet", name=[Path(n).stem for n in ees_input_names()]),
    output:
        panel="results/panel/ees_annual.parquet",
        sources="results/panel/ees_annual_sources.csv",
    log:
        "results/logs/panel.log",
    params:
        outcomes=panel_outcomes(),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    conda:
        CONDA_ENV
    script:
        "../scripts/panel.py"
