"""Headline tables for report authors (csceval.report.publication)."""

import pandas as pd
import pytest

from csceval.report.publication import INFERENCE_LABELS, headline_table, inference_method

INFERENCE_TEXTS = {
    "twfe": ["cluster-robust by la_code (G=149), CR1 [...]", "randomization inference over adoption patterns (999 permutations)",
             "wild cluster bootstrap-t (WCR, Webb, 9,999 draws)"],
    "callaway_santanna": ["multiplier bootstrap (999 draws, Rademacher weights), clustered by la_code; ..."],
    "imputation": ["BJS conservative clustered variance by la_code (G=149), t(G-1)=t(148)"],
    "two_stage": ["did2s GMM sandwich (first stage accounted for), clustered by la_code (G=149)"],
    "sun_abraham": ["cluster-robust by la_code (G=149), fixest CRV1 [...]"],
}


def _estimates() -> pd.DataFrame:
    rows = []
    for outcome in ("cla_rate_per_10k", "cin_rate_per_10k"):
        for estimator, texts in INFERENCE_TEXTS.items():
            for text in texts:
                rows.append(dict(programme="ffc", outcome=outcome, estimator=estimator, aggregation="overall", estimate=-1.0,
                                 ci_lower=-2.0, ci_upper=0.0, p_value=0.04, inference=text, n_treated=10, n_control=139))
    return pd.DataFrame(rows)


def test_every_estimator_inference_is_named_not_other():
    """A reader must see what each row's interval rests on; 'other' would hide it."""
    for texts in INFERENCE_TEXTS.values():
        for text in texts:
            assert inference_method(text) in INFERENCE_LABELS, f"unrecognised inference text: {text}"
    assert inference_method("something new") == "other"


def test_headline_rows_come_first_for_each_outcome_and_long_text_stays_out():
    table = headline_table(_estimates(), "ffc", policy_method="randomization")
    assert "Inference" not in table.columns, "the long inference text belongs in the estimates table, not the headline"
    assert (table["Inference method"] != "other").all()
    for outcome, rows in table.groupby("Outcome", sort=False):
        assert rows["Headline"].iloc[0] == "yes", f"{outcome}: the policy's row must be listed first"
        assert rows["Headline"].eq("yes").sum() == 1
    assert list(table["Outcome"].unique()) == ["Children in need (31 March)", "Children looked after (31 March)"], (
        "outcomes follow the order of csceval.panel.OUTCOMES"
    )


def test_headline_without_overall_rows_is_an_error():
    with pytest.raises(ValueError, match="no overall estimates for programme 'fnp'"):
        headline_table(_estimates(), "fnp")
