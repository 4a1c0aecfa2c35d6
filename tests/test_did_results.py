"""The estimates table every result object validates on construction (the estimates-table contract)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csceval.did._results import ESTIMATE_COLUMNS, EstimationResult, OverallEstimate


def _table(aggregations, estimates) -> pd.DataFrame:
    n = len(aggregations)
    table = {c: np.full(n, np.nan) for c in ESTIMATE_COLUMNS}
    table.update(aggregation=list(aggregations), cohort=[None] * n, period=[None] * n, estimate=estimates)
    return pd.DataFrame(table)


def _result(table: pd.DataFrame, overall: float | None = 1.0) -> EstimationResult:
    return EstimationResult(estimator="x", outcome="y", estimates=table,
                            overall=None if overall is None else OverallEstimate(overall),
                            inference="test", n_treated=1, n_control=1, n_obs=2, n_dropped_missing=0)


def test_a_valid_table_is_accepted_and_copied():
    table = _table(["event_study", "event_study", "overall"], [0.5, 0.7, 1.0])
    res = _result(table)
    assert res.estimates is not table, "the caller's table must never be the result's (it is copied)"
    assert res.estimates["event_time"].dtype == "Int64", "event_time must become nullable integers"


@pytest.mark.parametrize("kinds, expected", [
    (["event_study", "dynamic"], r"found \['dynamic'\]"),
    (["event_study", None], "found missing values"),
    (["event_study", np.nan], "found missing values"),
])
def test_unknown_or_missing_aggregation_is_refused(kinds, expected):
    with pytest.raises(ValueError, match=expected):
        _result(_table(kinds, [0.5, 0.6]), overall=None)


def test_two_overall_rows_are_refused():
    with pytest.raises(ValueError, match="at most one 'overall' row"):
        _result(_table(["overall", "overall"], [1.0, 1.0]))


def test_overall_row_must_agree_with_the_overall_estimate():
    with pytest.raises(ValueError, match="disagrees with `overall`"):
        _result(_table(["event_study", "overall"], [0.5, 2.0]), overall=1.0)
    # NaN on both sides agrees (an overall effect that could not be estimated)
    _result(_table(["event_study", "overall"], [0.5, np.nan]), overall=np.nan)
