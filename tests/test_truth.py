"""Truth targets aggregate the injected effects exactly the way the estimators aggregate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csceval.truth import compare_with_truth, truth_targets

PERIODS = pd.to_datetime([f"{y}-04-01" for y in range(2018, 2025)])  # 7 periods, index 0..6


def sample():
    rows = []
    for code, first in [("a", PERIODS[4]), ("b", PERIODS[5]), ("c", pd.NaT)]:
        for p in PERIODS:
            rows.append((code, p, 1.0, first))
    out = pd.DataFrame(rows, columns=["la_code", "period", "value", "first_treated"])
    out.loc[(out.la_code == "b") & (out.period == PERIODS[6]), "value"] = np.nan  # a suppressed cell
    return out


def effects():
    # a: event times 0,1,2 -> -1,-2,-3 ; b: event times 0,1 -> -10,-20 (1 is suppressed)
    rows = [("ffc", "a", "y", PERIODS[4 + k], -(k + 1.0)) for k in range(3)]
    rows += [("ffc", "b", "y", PERIODS[5 + k], -10.0 * (k + 1)) for k in range(2)]
    rows.append(("ffc", "a", "other", PERIODS[4], -99.0))
    t = pd.DataFrame(rows, columns=["programme", "la_code", "outcome", "period", "true_effect"])
    t["period"] = t["period"].dt.strftime("%Y-%m-%d")
    return t


def test_overall_and_event_time_targets():
    targets = truth_targets(sample(), effects(), "y", leads=2, lags=1).set_index(["aggregation", "event_time"])
    overall = targets.xs("overall", level=0).iloc[0]
    assert overall.true_value == pytest.approx((-1 - 2 - 3 - 10) / 4), "overall = mean over the 4 observed treated post cells"
    assert overall.n_treated_cells == 4, "the suppressed cell is not an estimated cell"
    es = targets.xs("event_study", level=0)["true_value"]
    assert es.loc[0] == pytest.approx((-1 - 10) / 2)
    assert es.loc[1] == pytest.approx((-2 - 3) / 2), "event times beyond the last lag are binned into it"
    assert es.loc[-2] == 0 and es.loc[-1] == 0, "no effect before the start"
    assert targets.attrs["control_contamination"] == 0


def test_comparison_marks_coverage():
    targets = truth_targets(sample(), effects(), "y", leads=2, lags=1)
    estimates = pd.DataFrame({
        "programme": ["ffc"] * 2, "outcome": ["y"] * 2, "estimator": ["twfe"] * 2, "aggregation": ["overall", "event_study"],
        "event_time": pd.array([pd.NA, 0], dtype="Int64"), "estimate": [-4.0, -5.5], "std_error": [1.0, np.nan],
        "ci_lower": [-5.0, np.nan], "ci_upper": [-3.0, np.nan],
    })
    out = compare_with_truth(estimates, targets)
    overall = out[out.aggregation == "overall"].iloc[0]
    assert overall.covered and overall.error == pytest.approx(-4.0 + 4.0)
    assert pd.isna(out[out.aggregation == "event_study"].iloc[0].covered), "no interval -> coverage unknown, not False"
