"""Edge cases every estimator must meet with a result or a clear error (issue: estimators' edge cases).

For each estimator and each awkward design, the outcome is either a result with a finite overall
estimate, or a ``ValueError`` whose message says what is wrong. A ``LinAlgError``, ``KeyError``,
``IndexError`` or a NaN estimate without explanation would leave an evaluator guessing.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from csceval.did import callaway_santanna, event_study_twfe, imputation, sun_abraham, twfe, two_stage
from helpers_staggered import staggered_panel

ESTIMATORS = {
    "twfe": lambda df, **kw: twfe(df, "y", **kw),
    "event_study_twfe": lambda df, **kw: event_study_twfe(df, "y", leads=3, lags=2, **kw),
    "callaway_santanna": lambda df, **kw: callaway_santanna(df, "y", n_boot=99, **kw),
    "sun_abraham": lambda df, **kw: sun_abraham(df, "y", leads=3, lags=2, **kw),
    "imputation": lambda df, **kw: imputation(df, "y", **kw),
    "two_stage": lambda df, **kw: two_stage(df, "y", leads=3, lags=2, **kw),
}


def _base() -> pd.DataFrame:
    return staggered_panel(seed=11)


def no_never_treated(df):
    return df[df["first_treated"].notna()]


def cohort_in_first_period(df):
    first = df["period"].min()
    units = df.loc[df["first_treated"].notna(), "la_code"].unique()[:4]
    return df.assign(first_treated=df["first_treated"].mask(df["la_code"].isin(units), first))


def unbalanced(df):
    rng = np.random.default_rng(3)
    return df.drop(index=rng.choice(df.index, size=len(df) // 20, replace=False))


def missing_cells(df):
    rng = np.random.default_rng(4)
    out = df.copy()
    out.loc[rng.choice(out.index, size=len(out) // 25, replace=False), "y"] = np.nan
    return out


def one_treated_unit(df):
    treated = df.loc[df["first_treated"].notna(), "la_code"].unique()
    return df[~df["la_code"].isin(treated[1:])]


DESIGNS = {
    "no_never_treated": no_never_treated,
    "cohort_in_first_period": cohort_in_first_period,
    "unbalanced": unbalanced,
    "missing_cells": missing_cells,
    "one_treated_unit": one_treated_unit,
}

#: words a clear error message must contain, per design
EXPLAINS = {
    "no_never_treated": ("never", "not-yet", "not yet", "comparison", "control", "collinear"),
    "cohort_in_first_period": ("first period", "always", "treated in"),
    "unbalanced": ("balanced", "every period"),
    "missing_cells": ("missing", "balanced"),
    "one_treated_unit": ("treated",),
}


@pytest.mark.parametrize("design", list(DESIGNS))
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_awkward_design_gives_a_result_or_a_clear_error(name, design):
    df = DESIGNS[design](_base())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = ESTIMATORS[name](df)
    except ValueError as err:
        text = str(err).lower()
        assert any(word in text for word in EXPLAINS[design]), f"{name} on {design}: unclear error: {err}"
        return
    overall = result.overall
    assert overall is not None and np.isfinite(overall.estimate), f"{name} on {design}: no finite overall estimate"
    tidy = result.tidy()
    assert tidy["estimate"].notna().any(), f"{name} on {design}: tidy() has no estimate"


@pytest.mark.parametrize("name", [n for n in ESTIMATORS if n not in ("event_study_twfe",)])
def test_collinear_covariates_are_refused_naming_the_covariate(name):
    """A covariate that is an exact copy of another cannot be identified: the estimator must say which."""
    df = _base()
    df = df.assign(x2=2.0 * df["x"])
    with pytest.raises(ValueError, match=r"(?i)collinear|singular|constant"):
        ESTIMATORS[name](df, covariates=["x", "x2"])
