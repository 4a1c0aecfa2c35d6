# RCC cooperatives: each cooperative is one unit (member LAs' numerators and denominators summed),
# compared with donor units of non-member LAs by synthetic control (placebo-in-space and in-time) and
# synthetic DiD (placebo SE). One job per cooperative x outcome; the report tables gather them.
EXTRA_REPORT_OUTPUTS.extend(synth_report_outputs())
# the pooled estimate over a programme's cooperatives and the RCC headline table
EXTRA_REPORT_OUTPUTS.extend(
    f"results/report/tables/{p}_{name}" for p in synth_programmes() for name in ("synth_pooled.csv", "synth_headline.md")
)


rule synth_units:
    input:
        panel=PANEL_FILE,
    output:
        units="results/synth/{programme}/{cooperative}/units.parquet",
        donors="results/synth/{programme}/{cooperative}/donors.parquet",
    log:
        "results/logs/synth/units/{programme}/{cooperative}.log",
    wildcard_constraints:
        cooperative="[a-z][a-z0-9_]*",
    params:
        programme=programme_config,
        groupings={"programmes": config["programmes"], "exclusions": config["exclusions"]},
        donors=config["synth"]["donors"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/synth_units.py"


rule synth:
    input:
        units="results/synth/{programme}/{cooperative}/units.parquet",
    output:
        estimates="results/synth/{programme}/{cooperative}/{outcome}/estimates.parquet",
        inference="results/synth/{programme}/{cooperative}/{outcome}/inference.parquet",
        weights="results/synth/{programme}/{cooperative}/{outcome}/weights.parquet",
        placebos="results/synth/{programme}/{cooperative}/{outcome}/placebos.parquet",
        figures=report(
            expand(
                "results/report/figures/{{programme}}/synth/{{cooperative}}_{{outcome}}_{kind}.{ext}",
                kind=SYNTH_FIGURES,
                ext=("png", "svg"),
            ),
            caption="../report/synth.rst",
            category="RCC synthetic control",
            subcategory="{cooperative}",
            labels={"cooperative": "{cooperative}", "outcome": "{outcome}"},
        ),
        alt_text=expand(
            "results/report/figures/{{programme}}/synth/{{cooperative}}_{{outcome}}_{kind}.txt",
            kind=SYNTH_FIGURES,
        ),
    log:
        "results/logs/synth/{programme}/{cooperative}/{outcome}.log",
    benchmark:
        "results/benchmarks/synth/{programme}/{cooperative}/{outcome}.tsv"
    wildcard_constraints:
        cooperative="[a-z][a-z0-9_]*",
    params:
        programme=programme_config,
        synth=config["synth"],
        alpha=config["estimation"]["alpha"],
        frequency=config["data"]["frequency"],
        synthetic=SYNTHETIC,
        dpi=config["report"]["figure_dpi"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../scripts/synth.py"


rule synth_tables:
    input:
        unpack(synth_table_inputs),
    output:
        estimates=report(
            "results/report/tables/{programme}_synth_estimates.csv",
            caption="../report/synth_tables.rst",
            category="RCC synthetic control",
        ),
        inference=report(
            "results/report/tables/{programme}_synth_inference.csv",
            caption="../report/synth_tables.rst",
            category="RCC synthetic control",
        ),
        weights=report(
            "results/report/tables/{programme}_synth_weights.csv",
            caption="../report/synth_tables.rst",
            category="RCC synthetic control",
        ),
        donors=report(
            "results/report/tables/{programme}_synth_donors.csv",
            caption="../report/synth_tables.rst",
            category="RCC synthetic control",
        ),
    log:
        "results/logs/report/synth_tables/{programme}.log",
    params:
        disclosure=config["report"]["disclosure"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/synth_tables.py"


rule synth_pooled:
    input:
        unpack(synth_pooled_inputs),
        sources="results/panel/ees_annual_sources.csv",
    output:
        pooled=report(
            "results/report/tables/{programme}_synth_pooled.csv",
            caption="../report/synth_pooled.rst",
            category="RCC synthetic control",
        ),
        headline=report(
            "results/report/tables/{programme}_synth_headline.md",
            caption="../report/synth_pooled.rst",
            category="RCC synthetic control",
        ),
        table="results/synth/{programme}/rcc_headline.parquet",
    log:
        "results/logs/report/synth_pooled/{programme}.log",
    params:
        programme=programme_config,
        seed=config["synth"]["seed"],
        synthetic=SYNTHETIC,
        disclosure=config["report"]["disclosure"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../scripts/synth_pooled.py"
