"""Tables for report authors, written only through the disclosure check."""

from __future__ import annotations

import pandas as pd

from csceval.disclosure import DisclosureRules, write_publishable_csv
from csceval.truth import compare_with_truth

ESTIMATE_COLUMNS = [
    "programme", "outcome", "estimator", "aggregation", "cohort", "period", "event_time", "estimate",
    "std_error", "ci_lower", "ci_upper", "p_value", "inference", "n_treated", "n_control",
]
AGGREGATION_ORDER = {"overall": 0, "group": 1, "calendar": 2, "event_study": 3, "att_gt": 4}


def _dates_as_text(table: pd.DataFrame, columns) -> pd.DataFrame:
    table = table.copy()
    for column in columns:
        if column in table:
            table[column] = pd.to_datetime(table[column]).dt.strftime("%Y-%m-%d")
    return table


def estimates_table(tidy_tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The long estimates table (contract in DESIGN.md) from every job's tidy estimates."""
    table = pd.concat(tidy_tables, ignore_index=True)
    missing = [c for c in ESTIMATE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"tidy estimates lack the contract columns {missing}")
    table = table[ESTIMATE_COLUMNS]
    table["event_time"] = table["event_time"].astype("Int64")
    order = table["aggregation"].map(AGGREGATION_ORDER)
    table = table.assign(_order=order).sort_values(
        ["programme", "outcome", "estimator", "_order", "event_time", "cohort", "period"], na_position="first"
    )
    return _dates_as_text(table.drop(columns="_order").reset_index(drop=True), ["cohort", "period"])


def recovered_vs_true_table(tidy_tables: list[pd.DataFrame], targets: list[pd.DataFrame]) -> pd.DataFrame:
    """Estimates next to the true effects built into the synthetic data, per programme x outcome x estimator."""
    target_by_key = {(t["programme"].iloc[0], t["outcome"].iloc[0]): t.drop(columns=["programme", "outcome"]) for t in targets}
    rows = []
    for tidy in tidy_tables:
        key = (tidy["programme"].iloc[0], tidy["outcome"].iloc[0])
        if key not in target_by_key:
            raise ValueError(f"no truth targets for programme {key[0]!r}, outcome {key[1]!r}")
        rows.append(compare_with_truth(tidy, target_by_key[key]))
    table = pd.concat(rows, ignore_index=True)
    order = table["aggregation"].map(AGGREGATION_ORDER)
    return (
        table.assign(_order=order)
        .sort_values(["programme", "outcome", "estimator", "_order", "event_time"], na_position="first")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def write_table(table: pd.DataFrame, path, rules: DisclosureRules | None = None):
    """Write a report table as CSV after the disclosure check."""
    return write_publishable_csv(table, path, rules)
