"""The records check (csceval.records_check): the record-level panel against the EES panel, the readers'
reconciliation, the truth files, and the config rules of data.records_check.

Panels are built by hand with known counts, so each test states the right answer independently of the code."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from csceval.config import ConfigError, check_config
from csceval.records_check import (
    CHECK_COLUMNS,
    RecordsCheckError,
    compare_panels,
    reconciliation_problems,
    run_records_check,
    simulated_la_codes,
    summary_markdown,
    truth_problems,
)

from conftest import REPO

LAS = ["838", "925"]
YEARS = [2023, 2024]
OUTCOMES = ["cla_rate_per_10k", "cpp_starts_rate_per_10k"]


def panel(numerators: dict | None = None, statuses: dict | None = None) -> pd.DataFrame:
    """An annual tidy panel of LAS x YEARS x OUTCOMES: numerator 100 + i, population 50,000 (value per 10k)."""
    rows = []
    for i, (la, year, outcome) in enumerate((la, y, o) for la in LAS for y in YEARS for o in OUTCOMES):
        num = float((numerators or {}).get((la, year, outcome), 100 + i))
        status = (statuses or {}).get((la, year, outcome), "")
        value = np.nan if status else num / 50_000 * 10_000
        rows.append({"la_code": la, "period": pd.Timestamp(year - 1, 4, 1), "outcome": outcome, "value": value,
                     "numerator": np.nan if status else num, "denominator": 50_000.0, "status": status})
    return pd.DataFrame(rows)


def reconciliation(quarantined: int = 0, accepted_short: int = 0, drop=None) -> pd.DataFrame:
    rows = []
    for la in LAS:
        for year in YEARS:
            for collection in ("SSDA903", "CIN census"):
                if drop == (la, year, collection):
                    continue
                rows.append({"collection_year": year, "file": f"x/{year}/{la}", "table": "episodes", "rows_read": 1000,
                             "rows_accepted": 1000 - quarantined - accepted_short, "rows_quarantined": quarantined,
                             "collection": collection, "la_code": la})
    return pd.DataFrame(rows)


def test_agreeing_panels_pass_every_row():
    """Same counts and populations on both sides: every LA x year x outcome agrees, with a zero difference.
    If this failed, the check would stop a correct default run."""
    table = compare_panels(panel(), panel(), LAS, YEARS, OUTCOMES)
    assert list(table.columns) == CHECK_COLUMNS
    assert len(table) == len(LAS) * len(YEARS) * len(OUTCOMES), "one row per LA x year x outcome"
    assert table["status"].eq("agree").all()
    assert table["difference"].eq(0).all()
    check = run_records_check(panel(), panel(), reconciliation(), LAS, YEARS, OUTCOMES)
    assert check.passed
    check.raise_for_problems()   # must not raise


def test_a_planted_disagreement_is_caught_and_named():
    """One child more in Lincolnshire's 2024 CPP starts: that row (and only that row) must disagree and the error
    must name LA, year and outcome; otherwise a broken record path would pass silently."""
    records = panel(numerators={("925", 2024, "cpp_starts_rate_per_10k"): 108})   # EES has 107
    check = run_records_check(records, panel(), reconciliation(), LAS, YEARS, OUTCOMES)
    bad = check.table[check.table["status"].ne("agree")]
    assert bad[["la_code", "year", "outcome", "status"]].values.tolist() == [["925", 2024, "cpp_starts_rate_per_10k", "disagree"]]
    assert bad["difference"].iloc[0] == pytest.approx(10_000 / 50_000), "difference is records minus EES, per 10k"
    with pytest.raises(RecordsCheckError, match=r"LA 925, 2024, cpp_starts_rate_per_10k: records .* \(108 / 50000\) != EES .* \(107 / 50000\)"):
        check.raise_for_problems()


def test_a_different_denominator_is_a_disagreement_even_when_the_rate_matches():
    """Twice the count over twice the population gives the same rate: the check must still fail, because the two
    paths must use the same counts and the same ONS population (exactness is the point of the check)."""
    records = panel()
    row = (records["la_code"] == "838") & (records["period"].dt.year == 2022) & (records["outcome"] == "cla_rate_per_10k")
    records.loc[row, ["numerator", "denominator"]] *= 2
    table = compare_panels(records, panel(), LAS, YEARS, OUTCOMES)
    assert table.loc[table["status"].ne("agree"), ["la_code", "year", "outcome"]].values.tolist() == [["838", 2023, "cla_rate_per_10k"]]


def test_float_noise_within_tolerance_agrees_but_a_tiny_real_difference_does_not():
    """Rates that differ by float rounding (1e-12 relative) agree; a value 1e-6 off does not."""
    noisy, off = panel(), panel()
    noisy["value"] = noisy["value"] * (1 + 1e-12)
    off.loc[0, "value"] = off.loc[0, "value"] * (1 + 1e-6)
    assert compare_panels(noisy, panel(), LAS, YEARS, OUTCOMES)["status"].eq("agree").all()
    assert compare_panels(off, panel(), LAS, YEARS, OUTCOMES)["status"].eq("disagree").sum() == 1


def test_suppressed_ees_cell_passes_as_suppressed_and_missing_rows_fail():
    """An EES 'c' cell has nothing to compare (passes, labelled); a row absent from either panel fails and is named."""
    ees = panel(statuses={("838", 2023, "cla_rate_per_10k"): "c"})
    records = panel().iloc[1:]                         # drops 838, 2023, cla_rate_per_10k from the records
    check = run_records_check(panel(), ees, reconciliation(), LAS, YEARS, OUTCOMES)
    assert check.passed and (check.table["status"] == "ees_suppressed").sum() == 1
    missing = run_records_check(records, panel().iloc[:-1], reconciliation(), LAS, YEARS, OUTCOMES)
    assert set(missing.table["status"]) == {"agree", "missing_records", "missing_ees"}
    with pytest.raises(RecordsCheckError, match="LA 838, 2023, cla_rate_per_10k: no row in the records panel"):
        missing.raise_for_problems()


def test_reconciliation_that_does_not_add_up_fails():
    """Rows read must equal rows accepted + quarantined; rows lost between reading and accepting must stop the run."""
    problems = reconciliation_problems(reconciliation(accepted_short=3), LAS, YEARS)
    assert problems and all("rows read 1000 != accepted 997 + quarantined 0" in p for p in problems)
    check = run_records_check(panel(), panel(), reconciliation(accepted_short=3), LAS, YEARS, OUTCOMES)
    with pytest.raises(RecordsCheckError, match="LA 838, 2023, SSDA903 table episodes: rows read 1000 != accepted 997"):
        check.raise_for_problems()


def test_quarantined_rows_and_unread_returns_fail():
    """Synthetic returns are written to the readers' rules: a quarantined row, or an LA-year whose return was never
    read, means simulator and reader disagree, even though the counts compared may still match."""
    quarantined = reconciliation_problems(reconciliation(quarantined=2), LAS, YEARS)
    assert any("2 row(s) quarantined" in p for p in quarantined)
    unread = reconciliation_problems(reconciliation(drop=("925", 2024, "CIN census")), LAS, YEARS)
    assert unread == ["LA 925, 2024, CIN census: no return was read (not in the reconciliation)"]
    assert reconciliation_problems(reconciliation(), LAS, YEARS) == []


def test_truth_files_must_match():
    truth = pd.DataFrame({"programme": ["ffc", "ffc"], "la_code": ["838", "925"], "true_effect": ["-1.5", "0.0"]})
    assert truth_problems(truth, truth.copy()) == []
    other = truth.copy()
    other.loc[1, "true_effect"] = "-0.1"
    assert truth_problems(other, truth) and "row 2" in truth_problems(other, truth)[0], \
        "a different true effect must be reported with its row"
    assert "rows" in truth_problems(truth.iloc[:1], truth)[0]


def test_outcomes_the_ees_panel_lacks_are_listed_not_compared():
    """Records-only outcomes (e.g. rereferral_pct) cannot be compared: they are listed, not failed; an outcome the
    EES panel has but the records panel lacks entirely is a lost measure and fails."""
    extra = panel().assign(outcome="rereferral_pct")
    check = run_records_check(pd.concat([panel(), extra]), panel(), reconciliation(), LAS, YEARS, OUTCOMES)
    assert check.passed and check.not_compared == ["rereferral_pct"]
    lost = run_records_check(panel()[panel()["outcome"] != "cla_rate_per_10k"], panel(), reconciliation(), LAS, YEARS,
                             OUTCOMES)
    assert any("outcome cla_rate_per_10k: the EES panel has it, the records panel does not" in p for p in lost.problems)


def test_summary_says_pass_or_fail_and_holds_no_child_identifier():
    check = run_records_check(panel(), panel(), reconciliation(), LAS, YEARS, OUTCOMES)
    text = summary_markdown(check, LAS, YEARS)
    assert text.startswith("# Records check") and "**PASS.** 8 of 8" in text
    failing = run_records_check(panel(numerators={("838", 2024, "cla_rate_per_10k"): 1}), panel(), reconciliation(),
                                LAS, YEARS, OUTCOMES)
    assert "**FAIL (1 problem(s)).**" in summary_markdown(failing, LAS, YEARS)
    assert "child" not in [c.lower() for c in check.table.columns], "the table holds aggregates only"


# ------------------------------------------------------------------ config rules
def default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_default_config_enables_the_check_for_synthetic_runs():
    config = default_config()
    assert config["data"]["source"] == "synthetic" and config["data"]["records_check"]["enabled"] is True
    check_config(config)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["data"]["records_check"].update(la_codes=[]), r"records_check\.la_codes: empty"),
    (lambda c: c["data"]["records_check"].update(la_codes=["838", "999"]), r"la_codes\[1\]: '999' is not the code"),
    (lambda c: c["data"]["records_check"].update(years=[2018, 2020]), r"LA 838 does not report in every year 2018-2020"),
    (lambda c: c["data"]["records_check"].update(years=[2025, 2023]), r"first year 2025 is after last year 2023"),
    (lambda c: c["simulate"].update(last_year=2024), r"records_check\.years: \[2023, 2025\] must lie within"),
    (lambda c: c["data"]["records_check"].update(la_codes=["940"]), r"LA 940 has no series of its own in the EES panel"),
], ids=["empty", "unknown-la", "dorset-before-2020", "years-reversed", "outside-simulation", "aggregated-successor"])
def test_config_rules_name_the_key(change, message):
    """Each rule guards a way the check would fail for a reason unrelated to the record path."""
    config = default_config()
    change(config)
    with pytest.raises(ConfigError, match=message):
        check_config(config)


def test_config_rules_do_not_apply_when_the_check_does_not_run():
    """With data.source files the check is ignored (logged by the workflow): its settings must not stop the run."""
    config = copy.deepcopy(default_config())
    config["data"]["source"] = "files"
    config["data"]["records_check"]["la_codes"] = []
    config["data"]["statistical_neighbours"] = {"2025": "x.csv"}
    check_config(config)


def test_simulated_la_codes_follows_the_model_sample():
    """With n_las the model simulates the programmes' LAs plus a sample: the check must be offered exactly those
    (the model's own list of units is the independent answer)."""
    from csceval.simulate._model import la_level_model

    config = default_config()
    sim = {**config["simulate"], "n_las": 40, "last_year": 2026}
    model = la_level_model(seed=sim["seed"], first_year=sim["first_year"], last_year=sim["last_year"],
                           programmes=config["programmes"], effects=sim["effects"],
                           national_rollout=sim["national_rollout"], n_las=40)
    real = {str(c) for c, r in zip(model.panel.units.code, model.panel.units.is_real) if r}
    assert simulated_la_codes(sim, config["programmes"]) == real
    assert {"838", "925", "336"} <= real
