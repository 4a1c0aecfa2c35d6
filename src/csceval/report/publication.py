"""Tables for report authors: the headline table per programme and the workbook's contents.

Every table here is built from the long estimates table (and, in synthetic runs, the recovered-vs-true
table), carries a :class:`~csceval.report.workbook.TableMeta` (title, units, footnotes, the inputs it came
from), and is disclosure-checked by the writers before anything reaches ``results/report``.
"""

from __future__ import annotations

import pandas as pd

from csceval.panel import OUTCOMES
from csceval.report.event_study import ESTIMATOR_LABELS
from csceval.report.workbook import TableMeta

RATE_UNITS = "change in the rate per 10,000 children aged 0-17"
SYMBOL_NOTE = "Symbols: c suppressed (counts of 1 to 5 children), x not available, z not applicable."


INFERENCE_LABELS = {
    "randomization": "Randomization inference",
    "wild_bootstrap": "Wild cluster bootstrap",
    "cluster_robust": "Cluster-robust (CR1)",
    "multiplier_bootstrap": "Multiplier bootstrap (clustered)",
    "bjs_conservative": "Cluster-robust (BJS conservative)",
    "gmm_sandwich": "Cluster-robust (two-stage GMM)",
}

#: start of an estimates row's ``inference`` text -> family of inference
_INFERENCE_PREFIXES = (
    ("randomization", "randomization"),
    ("wild cluster bootstrap", "wild_bootstrap"),
    ("cluster-robust", "cluster_robust"),
    ("multiplier bootstrap", "multiplier_bootstrap"),
    ("bjs conservative", "bjs_conservative"),
    ("did2s gmm sandwich", "gmm_sandwich"),
)


def inference_method(inference_text: str) -> str:
    """Which family of inference an estimates row used, from its ``inference`` text (``"other"`` if unknown)."""
    text = str(inference_text).lower()
    return next((family for prefix, family in _INFERENCE_PREFIXES if text.startswith(prefix)), "other")


def headline_table(
    estimates: pd.DataFrame, programme: str, truth: pd.DataFrame | None = None, policy_method: str | None = None
) -> pd.DataFrame:
    """One row per outcome x estimator x inference: the overall estimate, its interval and how it was
    obtained; ``Headline`` marks the rows whose inference the programme's conclusions rest on, listed first
    for each outcome. The full text of each row's inference stays in the long estimates table."""
    rows = estimates[estimates["programme"].eq(programme) & estimates["aggregation"].eq("overall")].copy()
    if rows.empty:
        raise ValueError(f"no overall estimates for programme {programme!r}")
    rows["Outcome"] = rows["outcome"].map(lambda o: OUTCOMES[o].short_label if o in OUTCOMES else o)
    rows["Estimator"] = rows["estimator"].map(lambda e: ESTIMATOR_LABELS.get(e, e))
    method = rows["inference"].map(inference_method)
    rows["Inference method"] = method.map(lambda m: INFERENCE_LABELS.get(m, m))
    rows["Headline"] = (method == policy_method).map({True: "yes", False: ""}) if policy_method else ""
    table = rows.rename(
        columns={
            "estimate": "Estimate", "ci_lower": "95% CI lower", "ci_upper": "95% CI upper", "p_value": "p-value",
            "n_treated": "Treated LAs", "n_control": "Comparison LAs", "inference": "Inference",
        }
    )
    columns = ["Outcome", "Estimator", "Inference method", "Headline", "Estimate", "95% CI lower", "95% CI upper", "p-value",
               "Treated LAs", "Comparison LAs"]
    if truth is not None:
        t = truth[truth["programme"].eq(programme) & truth["aggregation"].eq("overall")]
        t = t[["outcome", "estimator", "true_value"]].drop_duplicates(["outcome", "estimator"])
        table = table.merge(t, on=["outcome", "estimator"], how="left").rename(columns={"true_value": "True effect (synthetic)"})
        columns.append("True effect (synthetic)")
    order = {o: i for i, o in enumerate(OUTCOMES)}
    table = table.assign(_o=table["outcome"].map(order), _h=table["Headline"].ne("yes"))
    table = table.sort_values(["_o", "_h", "estimator", "Inference method"]).drop(columns=["_o", "_h"])
    return table[columns].reset_index(drop=True)


def headline_meta(programme_config: dict, sources, synthetic: bool, policy: dict | None = None,
                  headline_estimator: str | None = None) -> TableMeta:
    waves = "; ".join(
        f"{w['name']} from {w['start']} ({w['date_status']}, {len(w['la_codes'])} LAs)" for w in programme_config["waves"]
    )
    notes = [
        f"Treated: {waves}. Comparison: LAs never treated by this programme in the window, less exclusions.",
        f"Window: {programme_config.get('window_start', '')} to {programme_config['clean_window_end']}"
        + (f" ({programme_config['clean_window_reason']})." if programme_config.get("clean_window_reason") else "."),
        (
            f"Headline inference: {INFERENCE_LABELS.get(policy['method'], policy['method']).lower()}"
            + (f" on the {headline_estimator} estimate" if headline_estimator else "")
            + f", because {policy['reason']}."
            if policy else "No inference policy is configured: with few treated LAs, cluster-robust intervals are too narrow."
        ),
        "Randomization inference gives a p-value and, where computed, a confidence set by test inversion; it has no standard error.",
        "How each row's interval and p-value were computed is set out in full in the estimates table (column inference).",
        SYMBOL_NOTE,
    ]
    if synthetic:
        notes.insert(0, "SYNTHETIC DATA: these are not findings about the programme; the true effect column shows what was built in.")
    return TableMeta(
        title=f"{programme_config['name']}: estimated impact on each outcome",
        units=RATE_UNITS,
        footnotes=tuple(notes),
        source_inputs=tuple(sources),
        decimals={"Estimate": 2, "95% CI*": 2, "p-value": 3, "True effect*": 2},
    )


def programme_headline(estimates, config: dict, programme: str, sources, truth=None):
    """The headline table of one programme with its metadata, following the configured inference policy."""
    policy = config.get("inference", {}).get("policy", {}).get(programme)
    table = headline_table(estimates, programme, truth, policy["method"] if policy else None)
    chosen = table.loc[table["Headline"].eq("yes"), "Estimator"].unique()
    estimator = chosen[0] if len(chosen) == 1 else None
    return table, headline_meta(config["programmes"][programme], sources, truth is not None, policy, estimator)


RCC_METHOD_LABELS = {"synthetic_control": "Synthetic control", "synthetic_did": "Synthetic DiD"}
POOLED_LABEL = "Pooled (equal weights)"


def rcc_headline_table(inference: pd.DataFrame, pooled: pd.DataFrame, cooperative_names: dict[str, str]) -> pd.DataFrame:
    """One row per outcome x cooperative (each cooperative, then the pooled average) x method: the effect, its
    placebo p-value and how many placebos it was tested against.

    ``inference`` holds the per-cooperative rows of :data:`csceval.rcc.SYNTH_INFERENCE_COLUMNS`, ``pooled`` the
    rows of :func:`csceval.rcc.pool_cooperatives`; ``cooperative_names`` maps cooperative codes to names.
    """
    per_coop = pd.DataFrame({
        "outcome": inference["outcome"], "Cooperative": inference["treated_unit"].map(lambda c: cooperative_names.get(c, c)),
        "estimator": inference["estimator"], "Estimate": inference["estimate"], "p-value": inference["p_value"],
        "Placebos": inference["placebos_used"], "Donor units": inference["donor_units"],
        "Post-periods": inference["post_periods"], "_pooled": False,
    })
    both = pd.DataFrame({
        "outcome": pooled["outcome"], "Cooperative": POOLED_LABEL, "estimator": pooled["estimator"],
        "Estimate": pooled["estimate"], "p-value": pooled["p_value"], "Placebos": pooled["placebo_combinations"],
        "Donor units": pd.NA, "Post-periods": pd.NA, "_pooled": True,
    })
    table = pd.concat([per_coop, both], ignore_index=True)
    if table.empty:
        raise ValueError("no RCC synthetic-control results to tabulate")
    table["Outcome"] = table["outcome"].map(lambda o: OUTCOMES[o].short_label if o in OUTCOMES else o)
    table["Method"] = table["estimator"].map(lambda e: RCC_METHOD_LABELS.get(e, e))
    order = {o: i for i, o in enumerate(OUTCOMES)}
    table = table.assign(_o=table["outcome"].map(order)).sort_values(["_o", "outcome", "_pooled", "Cooperative", "estimator"])
    columns = ["Outcome", "Cooperative", "Method", "Estimate", "p-value", "Placebos", "Donor units", "Post-periods"]
    return table[columns].reset_index(drop=True)


def rcc_headline_meta(programme_config: dict, sources, synthetic: bool) -> TableMeta:
    """Title, units and inference footnotes of the RCC headline table."""
    waves = "; ".join(f"{w['name']} from {w['start']} ({w['date_status']}, {len(w['la_codes'])} LAs)"
                      for w in programme_config["waves"])
    n_coops = len(programme_config["waves"])
    notes = [
        f"Cooperatives: {waves}. Each cooperative is one unit (its member LAs' counts summed); comparison units are "
        "groups of non-member LAs outside the cooperative's region (see the donors table).",
        "Inference is by placebos in space, not standard errors. Synthetic control: the p-value ranks the cooperative's "
        "post/pre-period RMSPE ratio among the donor units each treated as if it had joined (Placebos = donor units "
        "kept). Synthetic DiD: normal p-value from the placebo standard error (Placebos = placebo replications).",
        f"{POOLED_LABEL}: the mean of the cooperatives' effects, each weighted 1/{n_coops}; two-sided p-value = share of the "
        "averages of one placebo effect per cooperative (Placebos = combinations) at least as far from zero as the "
        "observed average, counting the observed one (Cavallo et al. 2013).",
        f"With {n_coops} cooperatives only permutation-type inference is credible; a p-value cannot be smaller than "
        "1 / (1 + Placebos).",
        SYMBOL_NOTE,
    ]
    if synthetic:
        notes.insert(0, "SYNTHETIC DATA: these are not findings about the programme; the synthetic data carry no RCC "
                        "effect, so the true effect is zero.")
    return TableMeta(
        title=f"{programme_config['name']}: estimated impact of each cooperative and of both together",
        units=RATE_UNITS,
        footnotes=tuple(notes),
        source_inputs=tuple(sources),
        decimals={"Estimate": 2, "p-value": 3},
    )


def workbook_tables(
    estimates: pd.DataFrame, config: dict, sources, truth: pd.DataFrame | None = None, size: pd.DataFrame | None = None,
    rcc: dict[str, tuple[pd.DataFrame, TableMeta]] | None = None,
) -> dict:
    """Sheets of the publication workbook: a headline sheet per estimated programme, the RCC headline sheet per
    cooperative programme (``rcc``: programme -> :func:`rcc_headline_table` and :func:`rcc_headline_meta`),
    then the long tables."""
    sheets = {}
    for key in sorted(estimates["programme"].unique()):
        sheets[f"{key}_headline"] = programme_headline(estimates, config, key, sources, truth)
    for key, table_meta in sorted((rcc or {}).items()):
        sheets[f"{key}_headline"] = table_meta
    sheets["estimates"] = (
        estimates,
        TableMeta(
            title="All estimates: programme x outcome x estimator x aggregation",
            units=RATE_UNITS,
            footnotes=("Long form, one row per estimate; see the column 'inference' for how intervals were obtained.", SYMBOL_NOTE),
            source_inputs=tuple(sources),
            decimals={"estimate": 3, "std_error": 3, "ci_*": 3, "p_value": 4},
        ),
    )
    if size is not None:
        sheets["size_experiment"] = (
            size,
            TableMeta(
                title="Rejection rates of a true null at 5%, by inference method and number of treated units",
                units="share of simulated panels in which the test rejected",
                footnotes=(
                    "Simulated LA-shaped panels with zero effect; an honest test rejects about 5% of the time.",
                    "mc_se: Monte Carlo standard error of the rejection rate.",
                ),
                source_inputs=("simulated panels (csceval.inference.size_experiment)",),
                decimals={"rejection_rate": 3, "mc_se": 3, "alpha": 2},
            ),
        )
    if truth is not None:
        sheets["recovered_vs_true"] = (
            truth,
            TableMeta(
                title="Synthetic data: estimates against the true effects built in",
                units=RATE_UNITS,
                footnotes=("'covered' says whether the interval contains the true effect.",),
                source_inputs=tuple(sources) + ("true_effects.csv",),
                decimals={"estimate": 3, "std_error": 3, "ci_*": 3, "true_value": 3, "error": 3},
            ),
        )
    return sheets
