"""Coverage of the robust estimators' 95% intervals over repeated synthetic panels (slow).

Each replication draws a staggered panel with heterogeneous, dynamic effects (helpers_staggered) and
checks whether the interval of the overall ATT covers its true value. With 200 replications the Monte
Carlo sd of a 95% coverage rate is 1.5%; [0.91, 0.99] is about +-2.7 sd. Callaway-Sant'Anna's coverage
test lives in test_did_callaway_santanna.py.
"""

import warnings

import numpy as np
import pytest

from csceval.did import imputation, sun_abraham, two_stage
from helpers_staggered import staggered_panel, true_overall_effect

REPS = 200
FITS = {
    "sun_abraham": lambda d: sun_abraham(d, "y"),
    "imputation": lambda d: imputation(d, "y", pretrends=False),
    "two_stage": lambda d: two_stage(d, "y"),
}


@pytest.mark.slow
def test_robust_estimators_cover_the_true_overall_att_at_the_nominal_rate():
    hits = {name: 0 for name in FITS}
    errors = {name: [] for name in FITS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(REPS):
            panel = staggered_panel(seed=5000 + r)
            truth = true_overall_effect(panel)
            for name, fit in FITS.items():
                overall = fit(panel).overall
                hits[name] += overall.ci_lower <= truth <= overall.ci_upper
                errors[name].append(overall.estimate - truth)
    for name in FITS:
        coverage = hits[name] / REPS
        assert 0.91 <= coverage <= 0.99, (
            f"{name}: 95% intervals cover the true ATT in {coverage:.1%} of {REPS} panels, outside 95% +- Monte Carlo "
            "error: its standard errors are mis-scaled"
        )
        err = np.asarray(errors[name])
        assert abs(err.mean()) < 4 * err.std() / np.sqrt(REPS), (
            f"{name}: mean error {err.mean():.3f} is more than 4 Monte Carlo standard errors from 0: the estimator is biased"
        )
