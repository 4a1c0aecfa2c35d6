# Helpers shared by the rules: config validation, which inputs exist, which targets to build.
import os
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import validate

from csceval.config import check_config
from csceval.panel import OUTCOMES, POPULATION, find_input, find_inputs


validate(config, schema="../schemas/config.schema.yaml")
check_config(config)

# One environment for every rule: the pinned set plus csceval (the logic of every rule is in the library).
CONDA_ENV = "../../environment.yml"

# All rules declare threads: 1, so each job keeps numpy's BLAS to one thread: parallel jobs
# then share the cores instead of oversubscribing them (set these variables yourself to override).
for _blas_threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_blas_threads, "1")

RECORDS = config["data"]["source"] == "records"
# Synthetic record-level returns come from the same LA-level model as the synthetic EES files (same
# seed, effects and truth), so a synthetic records run is a synthetic run: the EES files and the truth
# are built too.
RECORDS_SYNTHETIC = RECORDS and config["data"].get("records_dir") is None
SYNTHETIC = config["data"]["source"] == "synthetic" or RECORDS_SYNTHETIC
#: The panel the design and estimation rules read: the EES annual panel, or the record-level panel
#: at data.frequency (rule records_panel) when data.source is records.
PANEL_FILE = (
    f"results/panel/records_{config['data']['frequency']}.parquet" if RECORDS else "results/panel/ees_annual.parquet"
)
SYN_DIR = Path("results/synthetic/ees")
EES_DIR = SYN_DIR if SYNTHETIC else Path(config["data"]["ees_dir"])


def records_check_la_codes():
    """LAs of data.records_check that the synthetic model simulates: all of them, unless simulate.n_las
    samples the LAs (small test runs), when those outside the sample are left out with a note."""
    from csceval.config import ConfigError
    from csceval.records_check import simulated_la_codes

    wanted = [str(c) for c in config["data"]["records_check"].get("la_codes") or []]
    simulated = simulated_la_codes(config["simulate"], config["programmes"])
    kept = [c for c in wanted if c in simulated]
    if len(kept) < len(wanted):
        logger.info(f"data.records_check: LA(s) {[c for c in wanted if c not in simulated]} left out of the records "
                    f"check: not in the sample of simulate.n_las={config['simulate'].get('n_las')} LAs")
    if not kept:
        raise ConfigError(f"data.records_check.la_codes: none of {wanted} is simulated (simulate.n_las="
                          f"{config['simulate'].get('n_las')}); list programme LAs, or set enabled: false")
    return kept


#: Records check (data.records_check, records.smk). In a synthetic run, synthetic record-level returns
#: of a few LAs and years go through the record path (simulate_records, ingest_records, records_panel)
#: and are compared with the EES panel the estimates use. Not run for data.source files (no synthetic
#: series to compare with) nor records (the record path is then the main path; its panel is what the
#: estimates use, and the e2e tests compare it with the model counts).
RECORDS_CHECK_ENABLED = bool((config["data"].get("records_check") or {}).get("enabled"))
RECORDS_CHECK = RECORDS_CHECK_ENABLED and config["data"]["source"] == "synthetic"
if RECORDS_CHECK_ENABLED and not RECORDS_CHECK:
    logger.info(f"data.records_check: not run with data.source {config['data']['source']!r}: "
                + ("the record-level panel is the main panel already" if RECORDS else "no synthetic series to compare with"))
RECORDS_CHECK_LAS = records_check_la_codes() if RECORDS_CHECK else []


def synthetic_file_names():
    """Files rule `simulate` writes, named as DfE names them on EES."""
    sim = config["simulate"]
    first, last = sim["first_year"], sim["last_year"]
    return {
        "b1": f"b1_children_in_need_{first}_to_{last}.csv",
        "c1": f"c1_children_in_need_referrals_and_rereferrals_{first}_to_{last}.csv",
        "d3": f"d3_cpps_subsequent_plan_{first}_to_{last}.csv",
        "d5": f"d5_cpps_at31march_by_duration_{first}_to_{last}.csv",
        "cla": "cla_number_and_rate_per_10k_children.csv",
        "population": f"ons_mid-year_population_estimates_{first - 1}_to_{last - 1}.csv",
    }


def panel_outcomes():
    """Outcomes any programme estimates, in OUTCOMES order."""
    wanted = {o for spec in config["programmes"].values() for o in spec["outcomes"]}
    return [o for o in OUTCOMES if o in wanted]


def ees_input_names():
    """File names (in EES_DIR) the panel needs: population plus one per outcome."""
    if SYNTHETIC:
        return sorted(synthetic_file_names().values())
    specs = [POPULATION] + [OUTCOMES[o] for o in panel_outcomes()]
    return sorted({path.name for spec in specs for path in find_inputs(EES_DIR, spec)})


def treated_las():
    """Every LA any programme treats (boundary harmonisation may not remove them)."""
    return sorted({c for spec in config["programmes"].values() for wave in spec["waves"] for c in wave["la_codes"]})


def programme_config(wildcards):
    return config["programmes"][wildcards.programme]


def estimated_programmes():
    return [p for p, spec in config["programmes"].items() if spec.get("estimate", True) and spec["unit"] == "la"]


def estimate_files(programme):
    return expand(
        "results/estimates/{programme}/{outcome}/{estimator}.parquet",
        programme=programme,
        outcome=config["programmes"][programme]["outcomes"],
        estimator=config["estimation"]["estimators"],
    )


def inference_files(programme):
    return expand(
        "results/inference/{programme}/{outcome}/{method}.parquet",
        programme=programme,
        outcome=config["programmes"][programme]["outcomes"],
        method=config["inference"]["methods"],
    )


def all_estimate_files():
    """Every tidy estimates file: estimators, then few-treated-robust inference on TWFE."""
    return [f for p in estimated_programmes() for f in [*estimate_files(p), *inference_files(p)]]


def all_estimator_files():
    """Estimator outputs only (what the truth comparison judges)."""
    return [f for p in estimated_programmes() for f in estimate_files(p)]


def figure_files():
    kinds = ["event_study", *(["bacon"] if config["estimation"].get("bacon", True) else [])]
    return [
        f"results/report/figures/{p}/{o}_{kind}.{ext}"
        for p in estimated_programmes()
        for o in config["programmes"][p]["outcomes"]
        for kind in kinds
        for ext in ("png", "svg", "txt")
    ]


#: Report outputs declared by the rule files included after this one (design, robustness, synth,
#: economics): each appends its files here, so `all` builds them and the manifest records them.
EXTRA_REPORT_OUTPUTS = []


def report_outputs():
    """Everything under results/report except the manifest, which records them."""
    outputs = [
        "results/report/tables/estimates.csv",
        "results/report/tables/size_experiment.csv",
        "results/report/tables/csceval_tables.xlsx",
        *expand("results/report/tables/{programme}_headline.{ext}", programme=estimated_programmes(), ext=["md", "tex"]),
        *figure_files(),
        *EXTRA_REPORT_OUTPUTS,
    ]
    if SYNTHETIC:
        outputs.append("results/report/tables/recovered_vs_true.csv")
    return outputs


def recovered_vs_true_input(wildcards):
    return ["results/report/tables/recovered_vs_true.csv"] if SYNTHETIC else []


def records_check_outputs():
    """The records check's table and summary (not published: results/qa), when the check runs."""
    return ["results/qa/records_check.csv", "results/qa/records_check.md"] if RECORDS_CHECK else []


def records_dir(wildcards, input):
    """Folder of the returns ingest_records reads: that of the synthetic returns' manifest (its input),
    else data.records_dir (real returns: no input)."""
    if len(input):
        return str(Path(input[0]).parent)
    return str(config["data"].get("records_dir") or "data/raw/records")


def postcode_lookup(wildcards, input):
    """The postcode-centroid file records_panel reads (its input), or None: no placement-distance outcomes."""
    return str(input.postcode_lookup) if len(input.postcode_lookup) else None


def all_targets():
    return [
        *report_outputs(),
        "results/report/manifest.json",
        *expand("results/design/{programme}/treatment_timing.csv", programme=list(config["programmes"])),
        *records_check_outputs(),
    ]


wildcard_constraints:
    programme="[a-z][a-z0-9_]*",
    outcome="|".join(OUTCOMES),
    estimator="|".join(config["estimation"]["estimators"]),
    method="randomization|wild_bootstrap",
    n_treated=r"\d+",


def estimator_files(wildcards):
    """Every estimator's estimates for one programme x outcome."""
    return [
        f"results/estimates/{wildcards.programme}/{wildcards.outcome}/{estimator}.parquet"
        for estimator in config["estimation"]["estimators"]
    ]


def truth_targets_input(wildcards):
    """Truth targets for a figure's reference line: only in synthetic runs."""
    if not SYNTHETIC:
        return []
    return f"results/estimates/{wildcards.programme}/{wildcards.outcome}/truth_targets.parquet"


def all_truth_target_files():
    return [
        f"results/estimates/{p}/{o}/truth_targets.parquet"
        for p in estimated_programmes()
        for o in config["programmes"][p]["outcomes"]
    ]


# Robustness (robustness.smk) and RCC synthetic control (synth.smk) helpers.
def robustness_files(check):
    return [
        f"results/robustness/{p}/{o}/{check}.parquet"
        for p in estimated_programmes()
        for o in config["programmes"][p]["outcomes"]
    ]


def robustness_figures():
    return [
        f"results/report/figures/{p}/{o}_{kind}.{ext}"
        for p in estimated_programmes()
        for o in config["programmes"][p]["outcomes"]
        for kind in ("honest_did", "leave_one_out")
        for ext in ("png", "svg", "txt")
    ]


from csceval.rcc import SYNTH_FIGURE_KINDS as SYNTH_FIGURES
from csceval.rcc import cooperatives as _cooperatives


def synth_programmes():
    """Programmes whose unit is a cooperative (the LA estimators skip them), unless synth.run is false."""
    if not config.get("synth", {}).get("run", True):
        return []
    return [p for p, spec in config["programmes"].items() if spec["unit"] == "cooperative"]


def synth_units(programme):
    return list(_cooperatives(config["programmes"][programme]))


SYNTH_TABLES = ("estimates", "inference", "weights", "donors")


def synth_files(programme, kind):
    return [
        f"results/synth/{programme}/{unit}/{outcome}/{kind}.parquet"
        for unit in synth_units(programme)
        for outcome in config["programmes"][programme]["outcomes"]
    ]


def synth_pooled_inputs(wildcards):
    """Every cooperative x outcome job's inference summary and placebo effects of one programme."""
    return {kind: synth_files(wildcards.programme, kind) for kind in ("inference", "placebos")}


def synth_report_outputs():
    files = []
    for p in synth_programmes():
        files += [f"results/report/tables/{p}_synth_{table}.csv" for table in SYNTH_TABLES]
        files += [
            f"results/report/figures/{p}/synth/{unit}_{outcome}_{kind}.{ext}"
            for unit in synth_units(p)
            for outcome in config["programmes"][p]["outcomes"]
            for kind in SYNTH_FIGURES
            for ext in ("png", "svg", "txt")
        ]
    return files


def synth_table_inputs(wildcards):
    """Every cooperative x outcome job's tables of one programme, and each cooperative's donors."""
    p = wildcards.programme
    return {
        **{kind: synth_files(p, kind) for kind in ("estimates", "inference", "weights")},
        "donors": [f"results/synth/{p}/{unit}/donors.parquet" for unit in synth_units(p)],
    }


# ------------------------------------------------------------------ evaluation designs (design.smk)
DESIGN = config["design"]


def design_programmes():
    """Programmes whose unit of treatment is the LA: their pools, balance, MDEs and plan are built in
    design.smk (cooperative designs are built in synth.smk)."""
    return [p for p, spec in config["programmes"].items() if spec["unit"] == "la"]


def neighbour_sources():
    """Statistical neighbour files, model -> path: the synthetic stand-in in synthetic runs, else the
    DfE files of data.statistical_neighbours (read in place)."""
    if "neighbours" not in DESIGN["pools"]:
        return {}
    if SYNTHETIC:
        return {"synthetic": "results/design/statistical_neighbours_synthetic.csv"}
    return {str(m): p for m, p in config["data"]["statistical_neighbours"].items()}


def neighbour_model():
    return "synthetic" if SYNTHETIC else str(DESIGN["neighbours"]["model"])


def design_pools_input(wildcards):
    return {
        "panel": PANEL_FILE,
        "timing": f"results/design/{wildcards.programme}/treatment_timing.csv",
        **{f"neighbours_{model}": path for model, path in neighbour_sources().items()},
    }


def design_report_files():
    """Design outputs under results/report: every programme's pool list; balance, pre-trends, MDEs,
    plan and figures of the LA-level programmes."""
    files = [f"results/report/tables/{p}_design_pools.csv" for p in config["programmes"]]
    for p in design_programmes():
        files += [
            f"results/report/tables/{p}_balance.csv",
            f"results/report/tables/{p}_pretrends.csv",
            f"results/report/tables/{p}_mde.csv",
            f"results/report/plans/{p}_analysis_plan.md",
            *[f"results/report/figures/{p}/balance.{ext}" for ext in ("png", "svg", "txt")],
            *[
                f"results/report/figures/{p}/{o}_pre_trends.{ext}"
                for o in config["programmes"][p]["outcomes"]
                for ext in ("png", "svg", "txt")
            ],
        ]
    return files


def design_outcome_files(kind):
    """Input function: one design file per outcome of the wildcard programme."""

    def files(wildcards):
        return expand(
            "results/design/{programme}/{kind}/{outcome}.csv",
            programme=wildcards.programme,
            kind=kind,
            outcome=config["programmes"][wildcards.programme]["outcomes"],
        )

    return files
