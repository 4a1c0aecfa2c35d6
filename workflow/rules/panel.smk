# The tidy LA x period x outcome panel (rates recomputed from counts and ONS populations), with the
# configured action on each boundary change.


rule panel:
    input:
        tables=expand("results/interim/ees/{name}.parquet", name=[Path(n).stem for n in ees_input_names()]),
    output:
        panel="results/panel/ees_annual.parquet",
        sources="results/panel/ees_annual_sources.csv",
        boundaries="results/panel/boundary_changes.csv",
        revisions="results/panel/revisions.csv",
    log:
        "results/logs/panel.log",
    benchmark:
        "results/benchmarks/panel.tsv"
    params:
        outcomes=panel_outcomes(),
        boundary_changes=config["data"].get("boundary_changes", {}),
        treated=treated_las(),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    conda:
        CONDA_ENV
    script:
        "../scripts/panel.py"
