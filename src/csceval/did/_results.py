"""The result object every ``csceval.did`` estimator returns.

One design for all estimators (TWFE, event-study TWFE, Callaway-Sant'Anna, Sun-Abraham, imputation,
two-stage, ...): an estimator is configured by its function arguments and *fitted into an immutable*
:class:`EstimationResult` (the linearmodels / statsmodels convention). The result holds

* ``estimates``: a long DataFrame of the estimator's own rows, one row per reported quantity, with
  at least the columns :data:`ESTIMATE_COLUMNS` (``aggregation`` is one of :data:`AGGREGATIONS`;
  cells that do not apply are missing). Estimators may add columns of their own (e.g. the
  ``reference`` flag of an event study or the number of observations behind a cell); those stay in
  ``estimates`` and are kept out of :meth:`EstimationResult.tidy`. An optional ``inference`` column
  overrides the result-level ``inference`` text for single rows (e.g. a reference period that is
  normalised, not estimated).
* ``overall``: the single summary estimate (:class:`OverallEstimate`) or ``None``.
* counts (``n_obs``, ``n_treated``, ``n_control``, ``n_dropped_missing``), the inference convention
  in words, the confidence level, and free-form ``metadata``.

``tidy()`` returns the estimates-table contract of ``DESIGN.md`` (columns :data:`TIDY_COLUMNS`),
``summary()`` a text table, and ``plot()`` a matplotlib Figure drawn by :mod:`csceval.report.figures`
(no plotting code lives in estimators).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "AGGREGATIONS",
    "ESTIMATE_COLUMNS",
    "TIDY_COLUMNS",
    "EstimationResult",
    "OverallEstimate",
]

#: Columns of :meth:`EstimationResult.tidy`, in this order (the estimates-table contract).
TIDY_COLUMNS: tuple[str, ...] = (
    "programme",
    "outcome",
    "estimator",
    "aggregation",
    "cohort",
    "period",
    "event_time",
    "estimate",
    "std_error",
    "ci_lower",
    "ci_upper",
    "p_value",
    "inference",
    "n_treated",
    "n_control",
)

#: Allowed values of the ``aggregation`` column.
AGGREGATIONS: tuple[str, ...] = ("att_gt", "event_study", "group", "calendar", "overall")

#: Columns every ``estimates`` table must have (estimators may add more).
ESTIMATE_COLUMNS: tuple[str, ...] = (
    "aggregation",
    "cohort",
    "period",
    "event_time",
    "estimate",
    "std_error",
    "ci_lower",
    "ci_upper",
    "p_value",
)

_FLOAT_COLUMNS = ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")
# The default pandas text dtype (``str`` in pandas 3, object before).
_STR_DTYPE = pd.Series(["x"]).dtype


@dataclass(frozen=True)
class OverallEstimate:
    """One summary estimate with its uncertainty.

    Attributes
    ----------
    estimate : float
        Point estimate.
    std_error, ci_lower, ci_upper, p_value : float or None
        Standard error, confidence interval at the result's level and two-sided p-value of
        H0: effect = 0. ``None`` where the estimator does not provide them (never invented).
    """

    estimate: float
    std_error: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    p_value: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        """The five numbers as a dict (``None`` for missing)."""
        return {
            "estimate": self.estimate,
            "std_error": self.std_error,
            "ci_lower": self.ci_lower,
            "ci_upper": self.ci_upper,
            "p_value": self.p_value,
        }


def _tidy_time_dtype(time_dtype: str | None) -> str | None:
    """The dtype that ``cohort``/``period`` take in ``tidy()`` for a given input time dtype."""
    if time_dtype is None:
        return None
    dtype = pd.api.types.pandas_dtype(time_dtype)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return str(dtype)
    if pd.api.types.is_integer_dtype(dtype):
        return "Int64"
    if pd.api.types.is_float_dtype(dtype):
        return "float64"
    return None


def _as_time(values: pd.Series, time_dtype: str | None) -> pd.Series:
    """``cohort``/``period`` values in the dtype matching the input time column."""
    values = pd.Series(list(values), dtype=object).where(pd.Series(list(values)).notna(), None)
    target = _tidy_time_dtype(time_dtype)
    if target is None:
        return values
    return values.astype(target)


@dataclass(frozen=True, eq=False)
class EstimationResult:
    """Immutable result of a ``csceval.did`` estimator.

    Parameters
    ----------
    estimator : str
        Machine name of the estimator (the function name, e.g. ``"twfe"``); goes into the
        ``estimator`` column of :meth:`tidy`.
    outcome : str
        Name of the outcome column.
    estimates : DataFrame
        Long table of the estimator's rows with at least :data:`ESTIMATE_COLUMNS`. It may also hold
        the ``overall`` row (aggregation ``"overall"``), which must then agree with ``overall``.
    overall : OverallEstimate or None
        The single summary estimate, or ``None`` if the estimator has none.
    inference : str
        How standard errors, confidence intervals and p-values were obtained, in words, e.g.
        ``"cluster-robust by la_code (G=150), CR1, t(G-1)"``.
    n_treated, n_control : int
        Number of treated and comparison units used (see the estimator for the exact definition).
    n_obs : int
        Number of unit x period observations used in estimation.
    n_dropped_missing : int
        Number of input rows dropped because a value needed for estimation was missing.
    alpha : float
        Confidence intervals have level ``1 - alpha``.
    n_units : int, optional
        Number of units (clusters) used.
    label : str, optional
        Display name used in summaries and figures (defaults to ``estimator``).
    coefficients : DataFrame, optional
        For regression-based estimators: every coefficient of the fitted model (``term``,
        ``estimate``, ``std_error``, ``t_stat``, ``p_value``, ``ci_lower``, ``ci_upper``).
    vcov : DataFrame, optional
        Covariance matrix of ``coefficients`` (rows and columns labelled by ``term``).
    time_dtype : str, optional
        Dtype of the input time column; ``tidy()`` gives ``cohort`` and ``period`` the matching
        dtype (datetime64 for Timestamps, nullable ``Int64`` for integer periods).
    metadata : Mapping
        Anything else worth keeping (column names, window, small-sample factor, period index...).
        Stored read-only.
    """

    estimator: str
    outcome: str
    estimates: pd.DataFrame
    overall: OverallEstimate | None
    inference: str
    n_treated: int
    n_control: int
    n_obs: int
    n_dropped_missing: int
    alpha: float = 0.05
    n_units: int | None = None
    label: str | None = None
    coefficients: pd.DataFrame | None = field(default=None, repr=False)
    vcov: pd.DataFrame | None = field(default=None, repr=False)
    time_dtype: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.estimates, pd.DataFrame):
            raise TypeError(f"estimates must be a DataFrame, got {type(self.estimates).__name__}")
        columns = set(self.estimates.columns)
        missing = [c for c in ESTIMATE_COLUMNS if c not in columns]
        if missing:
            raise ValueError(f"estimates table is missing required column(s) {missing}")
        # distinct values first: the checks then cost nothing however long the table (this runs per estimator call)
        aggregation = self.estimates["aggregation"].to_numpy(dtype=object)
        kinds = set(aggregation.tolist())
        present = {k for k in kinds if not pd.isna(k)}
        bad = sorted(present - set(AGGREGATIONS), key=str)
        if bad or len(present) < len(kinds):
            raise ValueError(f"estimates.aggregation must be one of {AGGREGATIONS}; found {bad or 'missing values'}")
        if not 0.0 < float(self.alpha) < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        est = self.estimates.reset_index(drop=True)   # a new frame: the caller's table is never changed
        dtypes = est.dtypes
        if dtypes["event_time"] != "Int64":
            est["event_time"] = est["event_time"].astype("Int64")
        for col in _FLOAT_COLUMNS:
            if dtypes[col] != np.float64:
                est[col] = pd.to_numeric(est[col]).astype("float64")
        if self.overall is not None:
            rows = np.flatnonzero(aggregation == "overall")
            if len(rows) > 1:
                raise ValueError("estimates may hold at most one 'overall' row")
            if len(rows) == 1 and not np.isclose(est["estimate"].to_numpy()[rows[0]], self.overall.estimate, equal_nan=True):
                raise ValueError("the 'overall' row of estimates disagrees with `overall`")
        object.__setattr__(self, "estimates", est)
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    # ------------------------------------------------------------------ views
    @property
    def confidence_level(self) -> float:
        """``1 - alpha``."""
        return 1.0 - float(self.alpha)

    @property
    def display_name(self) -> str:
        """Readable name of the estimator."""
        return self.label or self.estimator

    def table(self, aggregation: str) -> pd.DataFrame:
        """Rows of ``estimates`` with the given ``aggregation`` (a copy)."""
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        return self.estimates[self.estimates["aggregation"] == aggregation].reset_index(drop=True)

    def _overall_frame(self) -> pd.DataFrame:
        if self.overall is None:
            return pd.DataFrame(columns=list(ESTIMATE_COLUMNS))
        row = {"aggregation": "overall", "cohort": None, "period": None, "event_time": pd.NA}
        row.update({k: (np.nan if v is None else v) for k, v in self.overall.as_dict().items()})
        existing = self.estimates[self.estimates["aggregation"] == "overall"]
        if "inference" in existing.columns and len(existing):
            row["inference"] = existing["inference"].iloc[0]
        return pd.DataFrame([row])

    def tidy(self, programme: str | None = None) -> pd.DataFrame:
        """Rows of the estimates-table contract.

        Parameters
        ----------
        programme : str, optional
            Value of the ``programme`` column (missing if not given).

        Returns
        -------
        DataFrame
            Exactly the columns :data:`TIDY_COLUMNS`, in that order: the non-overall rows of
            ``estimates`` followed by the ``overall`` row (if any). Dtypes: ``event_time``,
            ``n_treated`` and ``n_control`` nullable ``Int64``; ``estimate`` ... ``p_value``
            float64; ``cohort`` and ``period`` the input time dtype (datetime64, or ``Int64`` for
            integer periods); text columns pandas strings. Cells that do not apply are missing.
            Estimator-specific columns (e.g. ``reference``) are not included.
        """
        body = self.estimates[self.estimates["aggregation"] != "overall"]
        frames = [f for f in (body, self._overall_frame()) if len(f)]
        if frames:
            out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
        else:
            out = pd.DataFrame(columns=list(ESTIMATE_COLUMNS))
        n = len(out)
        row_inference = out["inference"] if "inference" in out.columns else pd.Series([None] * n, dtype=object)
        row_inference = row_inference.where(row_inference.notna(), self.inference)
        tidy = pd.DataFrame(
            {
                "programme": pd.Series([programme] * n, dtype=_STR_DTYPE),
                "outcome": pd.Series([self.outcome] * n, dtype=_STR_DTYPE),
                "estimator": pd.Series([self.estimator] * n, dtype=_STR_DTYPE),
                "aggregation": pd.Series(list(out["aggregation"]), dtype=_STR_DTYPE),
                "cohort": _as_time(out["cohort"], self.time_dtype),
                "period": _as_time(out["period"], self.time_dtype),
                "event_time": out["event_time"].astype("Int64").reset_index(drop=True),
            }
        )
        for col in _FLOAT_COLUMNS:
            tidy[col] = pd.to_numeric(out[col]).astype("float64").reset_index(drop=True)
        tidy["inference"] = pd.Series([str(v) for v in row_inference], dtype=_STR_DTYPE)
        tidy["n_treated"] = pd.Series([self.n_treated] * n, dtype="Int64")
        tidy["n_control"] = pd.Series([self.n_control] * n, dtype="Int64")
        return tidy[list(TIDY_COLUMNS)]

    # --------------------------------------------------------------- reporting
    def summary(self) -> str:
        """A readable text summary: header (estimator, outcome, counts, inference) and the table."""
        level = f"{100 * self.confidence_level:g}%"
        width = 86
        header = [
            ("Estimator:", self.display_name),
            ("Outcome:", self.outcome),
            ("No. observations:", f"{self.n_obs:,}"),
            ("No. units:", "" if self.n_units is None else f"{self.n_units:,}"),
            ("Treated units:", f"{self.n_treated:,}"),
            ("Comparison units:", f"{self.n_control:,}"),
            ("Dropped (missing):", f"{self.n_dropped_missing:,}"),
            ("Confidence level:", level),
        ]
        title = f"{self.display_name} results ({self.estimator})"
        lines = [title.center(width), "=" * width]
        half = (len(header) + 1) // 2
        for left, right in zip(header[:half], header[half:] + [("", "")] * (half - len(header[half:]))):
            lines.append(f"{left[0]:<20}{left[1]:<23}{right[0]:<20}{right[1]:>23}".rstrip())
        wrapped = textwrap.wrap(self.inference, width=width - 20) or [""]
        lines.append(f"{'Inference:':<20}{wrapped[0]}")
        lines.extend(" " * 20 + part for part in wrapped[1:])
        lines.append("=" * width)

        table = self.tidy()
        show = ["aggregation", "cohort", "period", "event_time", "estimate", "std_error", "p_value", "ci_lower", "ci_upper"]
        show = [c for c in show if c in ("aggregation", "estimate") or table[c].notna().any()]
        shown = table[show].copy()
        if "reference" in self.estimates.columns:
            ref = self.estimates["reference"].fillna(False).astype(bool)
            ref_times = set(self.estimates.loc[ref, "event_time"].dropna().astype(int))
            is_ref = table["event_time"].isin(ref_times).fillna(False) & (table["aggregation"] == "event_study")
            if is_ref.any():
                shown["note"] = np.where(is_ref, "reference", "")
        for col in ("cohort", "period"):
            if col in shown.columns and pd.api.types.is_datetime64_any_dtype(shown[col]):
                shown[col] = shown[col].dt.strftime("%Y-%m-%d").fillna("")
        for col in ("cohort", "period", "event_time"):
            if col in shown.columns and not pd.api.types.is_string_dtype(shown[col]):
                shown[col] = [("" if pd.isna(v) else str(v)) for v in shown[col]]
        shown = shown.rename(columns={"ci_lower": "lower CI", "ci_upper": "upper CI"})
        text = shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4f}")
        lines.append(text)
        lines.append("=" * width)
        notes = self.metadata.get("notes")
        if notes:
            for note in [notes] if isinstance(notes, str) else list(notes):
                lines.extend(textwrap.wrap(f"Note: {note}", width=width, subsequent_indent="      "))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        overall = ""
        if self.overall is not None:
            se = "" if self.overall.std_error is None else f", std_error={self.overall.std_error:.4g}"
            overall = f", overall={self.overall.estimate:.4g}{se}"
        return (
            f"EstimationResult(estimator={self.estimator!r}, outcome={self.outcome!r}{overall}, "
            f"n_obs={self.n_obs}, n_treated={self.n_treated}, n_control={self.n_control})"
        )

    def plot(self, **kwargs: Any) -> Figure:
        """Figure of the estimates, drawn by :func:`csceval.report.figures.result_figure`.

        Keyword arguments (``title``, ``ylabel``, ``truth``, ...) are passed on.
        """
        from csceval.report.figures import result_figure

        return result_figure(self, **kwargs)
