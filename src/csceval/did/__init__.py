"""Difference-in-differences and related estimators.

Every estimator returns an :class:`EstimationResult` with ``tidy()``, ``summary()`` and ``plot()``
(see ``csceval.did._results``). Add each new estimator as one import line below.
"""

from csceval.did._results import EstimationResult, OverallEstimate
from csceval.did.twfe import event_study_twfe, twfe
from csceval.did.honest_did import honest_did
