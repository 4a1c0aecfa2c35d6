"""Difference-in-differences and related estimators.

Every estimator returns an :class:`EstimationResult` with ``tidy()``, ``summary()`` and ``plot()``
(see ``csceval.did._results``). Add each new estimator as one import line below.
"""

from csceval.did._results import EstimationResult, OverallEstimate
from csceval.did.twfe import event_study_twfe, twfe
from csceval.did.honest_did import honest_did
from csceval.did.synthetic_control import synthetic_control
from csceval.did.synthetic_did import synthetic_did
from csceval.did.sun_abraham import sun_abraham
from csceval.did.imputation import imputation
from csceval.did.two_stage import two_stage
from csceval.did.bacon import bacon_decomposition
from csceval.did.callaway_santanna import callaway_santanna
