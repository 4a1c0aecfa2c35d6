# Record-level returns (SSDA903, CIN census) to LA panels: synthetic returns (simulate_records), one
# ingest job per collection year through the validated readers (quarantine and reconciliation kept
# under results/ingest/records), and the LA x period panel at any frequency (records_panel).
# Used when data.source is records (the design and estimate rules then read PANEL_FILE, common.smk),
# and in a synthetic run with data.records_check enabled, where the same rules run for a few LAs and
# years and rule records_check compares their annual panel with the EES panel the estimates use.

RECORDS_SYN_DIR = Path("results/synthetic/records")
#: Do the rules of this file run? Record-level runs, and synthetic runs with the records check.
RECORDS_LEG = RECORDS or RECORDS_CHECK
#: Are the returns synthetic (written by simulate_records)?
RECORDS_SYN_RETURNS = RECORDS_SYNTHETIC or RECORDS_CHECK
RECORDS_FIRST, RECORDS_LAST = (
    config["data"]["records_check"].get("years", [2023, 2025])
    if RECORDS_CHECK
    else config["data"].get("records_years", [2017, 2026])
)
RECORD_YEARS = list(range(RECORDS_FIRST, RECORDS_LAST + 1))
SALT_ENV = "CSCEVAL_SALT"
#: simulate_records' settings: the simulate block, with the check's LAs when the records check runs.
RECORDS_SIMULATE = (
    {**config["simulate"], "records": {**config["simulate"].get("records", {}), "la_codes": RECORDS_CHECK_LAS}}
    if RECORDS_CHECK
    else config["simulate"]
)


#: ONS 0-17 mid-year estimates: the synthetic file next to the synthetic returns, else the EES file.
RECORDS_POPULATION = (
    str(RECORDS_SYN_DIR / "ons_mid-year_population_estimates_{}_to_{}.csv".format(
        config["simulate"]["first_year"] - 1, config["simulate"]["last_year"] - 1))
    if RECORDS_SYN_RETURNS
    else (str(find_input(EES_DIR, POPULATION)) if RECORDS else None)
)
#: What a year's ingest waits for: the synthetic returns' manifest (nothing for real files).
RECORDS_READY = [str(RECORDS_SYN_DIR / "records_manifest.json")] if RECORDS_SYN_RETURNS else []
#: Postcode centroids for placement distance: data.postcode_lookup, else the synthetic returns' own, else none.
RECORDS_POSTCODE_LOOKUP = config["data"].get("postcode_lookup") or (
    str(RECORDS_SYN_DIR / "postcode_centroids.csv") if RECORDS_SYN_RETURNS else None
)


wildcard_constraints:
    year=r"20\d\d",
    frequency="annual|quarterly|monthly",


rule simulate_records:
    output:
        manifest=RECORDS_SYN_DIR / "records_manifest.json",
        counts=RECORDS_SYN_DIR / "la_counts.csv",
        truth=RECORDS_SYN_DIR / "true_effects.csv",
        population=RECORDS_POPULATION if RECORDS_SYN_RETURNS else RECORDS_SYN_DIR / "population.csv",
        lookup=RECORDS_SYN_DIR / "postcode_centroids.csv",
    log:
        "results/logs/simulate_records.log",
    benchmark:
        "results/benchmarks/simulate_records.tsv"
    params:
        simulate=RECORDS_SIMULATE,
        programmes=config["programmes"],
        records_years=[RECORDS_FIRST, RECORDS_LAST],
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../scripts/simulate_records.py"


rule ingest_records:
    input:
        RECORDS_READY,
    output:
        interim=directory("results/interim/records/{year}"),
        quarantine="results/ingest/records/{year}_quarantine.csv",
        reconciliation="results/ingest/records/{year}_reconciliation.csv",
    log:
        "results/logs/ingest_records/{year}.log",
    benchmark:
        "results/benchmarks/ingest_records/{year}.tsv"
    params:
        records_dir=records_dir,
        real_records_dir=config["data"].get("records_dir"),   # tracked: another folder of real returns reruns the ingest
        salt_env=SALT_ENV,
        synthetic=RECORDS_SYN_RETURNS,
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../scripts/ingest_records.py"


rule records_panel:
    input:
        interim=expand("results/interim/records/{year}", year=RECORD_YEARS),
        reconciliation=expand("results/ingest/records/{year}_reconciliation.csv", year=RECORD_YEARS),
        population=RECORDS_POPULATION if RECORDS_LEG else [],
        postcode_lookup=RECORDS_POSTCODE_LOOKUP or [],
    output:
        panel="results/panel/records_{frequency}.parquet",
    log:
        "results/logs/records_panel_{frequency}.log",
    benchmark:
        "results/benchmarks/records_panel/{frequency}.tsv"
    params:
        postcode_lookup=postcode_lookup,   # none: no placement-distance outcomes
    # a second thread reads the next LA's interim files while one is counted (the panel never depends on it);
    # the job runs after every ingest job, so the core is free
    threads: 2
    resources:
        mem_mb=3000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../scripts/records_panel.py"


rule records_check:
    input:
        records="results/panel/records_annual.parquet",
        ees="results/panel/ees_annual.parquet",
        reconciliation=expand("results/ingest/records/{year}_reconciliation.csv", year=RECORD_YEARS),
        records_truth=RECORDS_SYN_DIR / "true_effects.csv",
        ees_truth=SYN_DIR / "true_effects.csv",
    output:
        table="results/qa/records_check.csv",
        summary="results/qa/records_check.md",
    log:
        "results/logs/records_check.log",
    benchmark:
        "results/benchmarks/records_check.tsv"
    params:
        la_codes=RECORDS_CHECK_LAS,
        years=RECORD_YEARS,
        outcomes=panel_outcomes(),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../scripts/records_check.py"
