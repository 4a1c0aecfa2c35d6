"""Validation and period/cohort indexing shared by every ``csceval.did`` estimator.

The input of every estimator is a long DataFrame, one row per unit x period, with a unit column
(string LA code), a time column (pandas Timestamps = period start dates, or integers), a numeric
outcome (NaN = missing cell, dropped and counted) and a cohort column (first treated period in the
units of time; 0, NaN or NaT = never treated). :func:`prepare_panel` checks it and maps periods to
``0 .. T-1`` and cohorts to the index of the first observed period on or after them (see
``csceval.did.twfe`` for the full statement of these conventions).
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from csceval.threads import MAX_THREADS, worker_threads

__all__ = ["PreparedPanel", "parallel_map", "prepare_panel", "single_threaded_blas", "warn_caller", "worker_threads"]

# Internal column names of the prepared panel (the user's columns are copied into these).
_UNIT, _TIME, _T, _G, _Y = "_unit", "_time", "_t", "_g", "_y"
_TREATED = "treated"


@dataclass(frozen=True, eq=False)
class _Cohorts:
    """The distinct treated cohort values of a panel (sorted) and what :func:`prepare_panel` mapped them to."""

    values: pd.Index
    first_index: np.ndarray   # period index of the first observed period on or after each; NaN after the window
    exact: np.ndarray         # the value is an observed period
    n_units: np.ndarray


@dataclass(frozen=True, eq=False)
class PreparedPanel:
    """A validated estimation panel.

    Attributes
    ----------
    data : DataFrame
        Rows with a non-missing outcome and covariates, sorted by unit and period, with columns
        ``_unit``, ``_time`` (original values), ``_t`` (period index 0..T-1), ``_g`` (cohort index,
        float, NaN for never treated or treated after the window), ``_y`` (outcome, float) and the
        covariates under their own names. Built on first use from ``columns``.
    columns : dict of str to ndarray
        The same rows as numpy arrays, every column of ``data`` but ``_unit`` (whose rows are
        ``unit_values[unit_codes]``): estimators that work on arrays need not build the DataFrame.
    times : Index
        Sorted unique time values of the input; position = period index.
    cohort_map : DataFrame
        One row per distinct treated cohort value: ``cohort``, ``cohort_index``, ``first_period``
        (the observed period it maps to, missing if after the window), ``exact`` (the cohort is an
        observed time value), ``n_units``.
    n_dropped_missing_outcome, n_dropped_missing_covariates : int
        Rows dropped because the outcome, or else a covariate, was missing.
    n_never_treated : int
        Units in ``data`` whose cohort is 0 / missing.
    n_treated_after_window : int
        Units in ``data`` whose cohort is after the last observed period.
    """

    columns: dict[str, np.ndarray] = field(repr=False)
    times: pd.Index
    unit: str
    time: str
    cohort: str
    outcome: str
    covariates: tuple[str, ...]
    time_dtype: str
    n_dropped_missing_outcome: int
    n_dropped_missing_covariates: int
    n_never_treated: int
    n_treated_after_window: int
    notes: tuple[str, ...] = field(default=())
    #: sorted unique units of ``data`` and, per row of ``data``, the position of its unit among them
    #: (always set by :func:`prepare_panel`; defaults only because they follow ``notes``)
    unit_values: np.ndarray = field(default=None, repr=False)
    unit_codes: np.ndarray = field(default=None, repr=False)
    #: the distinct treated cohorts, from which ``cohort_map`` is built on first use (None: no treated unit)
    cohorts: _Cohorts | None = field(default=None, repr=False)

    @functools.cached_property
    def cohort_map(self) -> pd.DataFrame:
        """See the class docstring; built once, on first use."""
        c = self.cohorts
        if c is None:
            return pd.DataFrame(columns=["cohort", "cohort_index", "first_period", "exact", "n_units"])
        in_window = ~np.isnan(c.first_index)
        return pd.DataFrame({
            "cohort": c.values,
            "cohort_index": pd.arrays.IntegerArray(np.where(in_window, c.first_index, 0).astype(np.int64), ~in_window),
            "first_period": [self.times[int(g)] if ok else None for g, ok in zip(c.first_index, in_window)],
            "exact": c.exact,
            "n_units": c.n_units,
        })

    @functools.cached_property
    def data(self) -> pd.DataFrame:
        """The rows as a DataFrame (see the class docstring); built once, on first use."""
        return pd.DataFrame({_UNIT: pd.Index(self.unit_values).take(self.unit_codes), **self.columns})

    @property
    def n_dropped_missing(self) -> int:
        """All rows dropped for a missing value."""
        return self.n_dropped_missing_outcome + self.n_dropped_missing_covariates


# --------------------------------------------------------------------------------------------- BLAS threads
# (set, get) entry points of the OpenBLAS builds numpy and scipy ship (scipy-openblas, 64- and 32-bit
# integer interfaces) and of a plain OpenBLAS.
_BLAS_ENTRY_POINTS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)
_blas_controls: list[tuple[Any, Any]] | None = None
_blas_lock = threading.Lock()


def _find_blas_controls() -> list[tuple[Any, Any]]:
    """Thread-count setters of the OpenBLAS libraries loaded in this process (Linux; elsewhere none)."""
    controls = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            paths = sorted({line.split()[-1] for line in fh if "openblas" in line.lower() and line.split()[-1].startswith("/")})
    except OSError:
        return controls
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _BLAS_ENTRY_POINTS:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                setter.argtypes, setter.restype, getter.restype = [ctypes.c_int], None, ctypes.c_int
                controls.append((setter, getter))
                break
    return controls


@contextmanager
def _one_blas_thread():
    global _blas_controls
    with _blas_lock:
        if _blas_controls is None:
            _blas_controls = _find_blas_controls()
        saved = [(setter, getter()) for setter, getter in _blas_controls]
        for setter, _ in saved:
            setter(1)
    try:
        yield
    finally:
        with _blas_lock:
            for setter, n in saved:
                setter(n)


def single_threaded_blas(func):
    """Run ``func`` with OpenBLAS limited to one thread (restored afterwards).

    The estimators' matrix products are small (periods x periods, cells x cells, or split into row
    blocks): threaded BLAS buys nothing on them and, on a machine whose cores are busy, its spinning
    threads make single calls tens to hundreds of times slower (a 250 x 250 Cholesky factorisation
    took 0.7 s instead of 7 ms on a loaded 2-core machine). A no-op where OpenBLAS cannot be found.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _one_blas_thread():
            return func(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------------------------- warnings
_DID_DIR = os.path.dirname(os.path.abspath(__file__))


def warn_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the code that called into ``csceval.did``, not to a line inside it.

    A fixed ``stacklevel`` is wrong as soon as a helper or a decorator (:func:`single_threaded_blas`) sits
    between the estimator and the warning; this walks up to the first frame outside the package.
    """
    frame, level = sys._getframe(1), 2
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _DID_DIR:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


# --------------------------------------------------------------------------------------------- worker threads
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def parallel_map(func: Callable[[Any], Any], items: Sequence[Any], threads: int) -> list[Any]:
    """``[func(item) for item in items]`` on up to ``threads`` threads (this one included).

    Each thread takes the next item not yet taken until none is left, so a thread that runs slowly
    (its core busy with other work) delays the others by one item at most. Results come back in the
    order of ``items`` and the first exception raised by a call is raised here. Each result depends
    only on its item, never on the number of threads or on which thread computed it.
    """
    global _pool
    n = len(items)
    threads = min(threads, n)
    if threads <= 1:
        return [func(item) for item in items]
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=MAX_THREADS - 1, thread_name_prefix="csceval")
    out: list[Any] = [None] * n
    taken = itertools.count()   # next() on a count is atomic under the GIL
    failed: list[BaseException] = []

    def work() -> None:
        for i in taken:
            if i >= n or failed:
                return
            try:
                out[i] = func(items[i])
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                failed.append(exc)
                return

    futures = [_pool.submit(work) for _ in range(threads - 1)]
    work()
    for f in futures:
        f.result()
    if failed:
        raise failed[0]
    return out


def row_slices(n_rows: int, parts: int) -> list[slice]:
    """``parts`` contiguous slices covering ``range(n_rows)`` (fewer when there are fewer rows)."""
    bounds = np.linspace(0, n_rows, max(1, min(parts, n_rows)) + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _check_numeric(s: pd.Series, column: str, role: str) -> None:
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "biuf":   # plain numpy numbers: no pandas machinery
        return
    if pd.api.types.is_bool_dtype(s) or (
        pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_complex_dtype(s)
    ):
        return
    example = s.dropna().iloc[0] if s.notna().any() else None
    raise ValueError(
        f"{role} column {column!r} must be numeric, but has dtype {s.dtype} (e.g. value {example!r}); "
        "convert it first, e.g. with pandas.to_numeric(errors='coerce') so that suppression symbols become NaN"
    )


def _show(value: Any) -> str:
    """A period value for messages (dates without a time of day)."""
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return value.strftime("%Y-%m-%d")
    return str(value)


def _never_treated_mask(c: pd.Series) -> pd.Series:
    """0, NaN or NaT cohort values mean never treated."""
    if isinstance(c.dtype, np.dtype) and c.dtype.kind in "iuf":
        return pd.Series(_never_treated_numbers(c.to_numpy()), index=c.index)
    never = c.isna()
    if pd.api.types.is_numeric_dtype(c) and not pd.api.types.is_bool_dtype(c):
        never |= c == 0
    elif c.dtype == object:
        never |= c.map(lambda v: isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and v == 0)
    return never.astype(bool)


def _never_treated_numbers(v: np.ndarray) -> np.ndarray:
    """:func:`_never_treated_mask` of a plain numpy array of numbers (0 or NaN), without pandas."""
    return (v == 0) | np.isnan(v) if v.dtype.kind == "f" else v == 0


def _as_float(s: pd.Series) -> np.ndarray:
    """A numeric or boolean column as float64 values, missing -> NaN (no copy for a float64 column)."""
    if s.dtype == np.float64:
        return s.to_numpy()
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


def _factorize_sorted(values: pd.Series | np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(values, sort=True)``, by counting when the values are integers in a narrow range.

    Periods (years, quarter numbers) and unit ids are usually such integers: a lookup table over their
    range is several times faster than hashing. Other values go to pandas.
    """
    v = values if isinstance(values, np.ndarray) else values.to_numpy()
    if isinstance(values.dtype, np.dtype) and v.dtype.kind in "iu" and len(v):
        lo, hi = v.min(), v.max()
        span = int(hi) - int(lo) + 1
        if span <= 2 * len(v) + 1024:
            offset = (v - lo).astype(np.intp)   # cannot overflow: every value lies in [lo, hi]
            seen = np.zeros(span, dtype=bool)
            seen[offset] = True
            rank = np.cumsum(seen) - 1
            return rank[offset], pd.Index((np.flatnonzero(seen) + int(lo)).astype(v.dtype))
    if isinstance(values, np.ndarray):
        codes, uniques = pd.factorize(values, sort=True)
        return codes, pd.Index(uniques)
    return pd.factorize(values, sort=True)


def _has_missing(values: pd.Series) -> int:
    """Number of missing values (none can be in a plain numpy integer column)."""
    return 0 if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iu" else int(values.isna().sum())


def prepare_panel(
    df: pd.DataFrame,
    outcome: str,
    unit: str = "la_code",
    time: str = "period",
    cohort: str = "first_treated",
    covariates: Sequence[str] | None = None,
) -> PreparedPanel:
    """Validate a long unit x period DataFrame and index its periods and cohorts.

    See the module docstring for the conventions (period index, cohort mapping, missing values).

    Raises
    ------
    ValueError
        If a column is missing; the outcome or a covariate is not numeric; the outcome is missing
        in every row; unit or time has missing values; time is neither datetime nor numeric;
        unit x time rows are duplicated; a unit has more than one cohort; or the cohort cannot be
        compared with time.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = tuple(covariates or ())
    roles = {"outcome": outcome, "unit": unit, "time": time, "cohort": cohort}
    roles.update({f"covariate {i + 1}": c for i, c in enumerate(covariates)})
    missing = [f"{role}={name!r}" for role, name in roles.items() if name not in df.columns]
    if missing:
        raise ValueError(
            f"missing column(s): {', '.join(missing)}; the data has columns {list(map(str, df.columns))}"
        )
    clash = [c for c in covariates if c in (_UNIT, _TIME, _T, _G, _Y, _TREATED) or c.startswith("event_time")]
    if clash:
        raise ValueError(f"covariate name(s) {clash} clash with internal column names; rename them")
    if len({outcome, unit, time, cohort}) < 4:
        raise ValueError(f"outcome, unit, time and cohort must be four different columns, got {roles}")

    # each column is taken from the frame once (a column lookup costs as much as the numpy work on it)
    s_y, s_unit, s_time, s_cohort = df[outcome], df[unit], df[time], df[cohort]
    s_x = {c: df[c] for c in covariates}
    _check_numeric(s_y, outcome, "outcome")
    for c in covariates:
        _check_numeric(s_x[c], c, "covariate")
    y = _as_float(s_y)
    miss_y = np.isnan(y)
    if miss_y.all():
        raise ValueError(f"outcome column {outcome!r} is missing (NaN) in all {len(df)} rows: nothing to estimate")
    for s, col, role in ((s_unit, unit, "unit"), (s_time, time, "time")):
        n_na = _has_missing(s)
        if n_na:
            raise ValueError(f"{role} column {col!r} has {n_na} missing value(s); every row needs a {role}")
    tser = s_time
    is_dt = pd.api.types.is_datetime64_any_dtype(tser)
    if not is_dt and not (pd.api.types.is_numeric_dtype(tser) and not pd.api.types.is_bool_dtype(tser)):
        raise ValueError(
            f"time column {time!r} must hold pandas Timestamps (datetime64) or integer periods, got dtype {tser.dtype}"
        )
    # Everything below works on integer codes (numpy), not on pandas groupbys: this function runs once per
    # estimator call and, in permutation inference, once per permutation.
    n_rows = len(df)
    tcode, times = _factorize_sorted(tser)
    if is_dt and not isinstance(times, pd.DatetimeIndex):
        times = pd.DatetimeIndex(times)
    elif not is_dt and type(times) is not pd.Index:
        times = pd.Index(times)
    ucode, uvals = _factorize_sorted(s_unit)
    n_periods, n_units_all = len(times), len(uvals)
    cell = ucode.astype(np.int64) * n_periods + tcode
    counts = np.bincount(cell, minlength=n_units_all * n_periods)
    if counts.max(initial=0) > 1:
        dup = pd.Series(counts[cell] > 1, index=df.index)
        examples = df.loc[dup, [unit, time]].drop_duplicates().head(5)
        ex = "; ".join(f"{u} @ {t}" for u, t in examples.itertuples(index=False))
        raise ValueError(
            f"duplicate unit x time rows: {int(dup.sum())} rows share a ({unit!r}, {time!r}) pair with another row "
            f"(e.g. {ex}); the panel must have one row per unit and period"
        )

    # Cohort: never-treated mask, then compare the rest with time.
    plain = isinstance(s_cohort.dtype, np.dtype) and s_cohort.dtype.kind in "iuf" and not is_dt
    if plain:   # plain numbers compared with numeric periods: numpy only
        craw = s_cohort.to_numpy()
        never = _never_treated_numbers(craw)
        cvals = craw[~never]
    else:
        never = _never_treated_mask(s_cohort).to_numpy()
        cvals = s_cohort[~never]
        try:
            if is_dt:
                cvals = pd.to_datetime(cvals)
                if getattr(cvals.dt, "tz", None) != getattr(times, "tz", None):
                    raise TypeError("time zones of cohort and time differ")
            else:
                cvals = pd.to_numeric(cvals)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"cohort column {cohort!r} must be in the units of time column {time!r} "
                f"({'Timestamps' if is_dt else 'numbers'}), or 0/missing for never treated: {exc}"
            ) from exc
        if not is_dt:   # text such as "0" is a number only now: 0 still means never treated
            zero = np.zeros(n_rows, dtype=bool)
            zero[~never] = (cvals == 0).to_numpy(dtype=bool, na_value=False)
            if zero.any():
                cvals = cvals[~zero[~never]]
                never = never | zero
    # each distinct cohort is mapped to the first observed period on or after it, then spread to its rows
    gidx = np.full(n_rows, np.nan)
    if len(cvals):
        ccode, cuniq = _factorize_sorted(cvals)
        if plain:
            first_g = np.searchsorted(times.to_numpy(), cuniq.to_numpy(), side="left").astype(float)
        else:
            first_g = times.searchsorted(cuniq, side="left").astype(float)
        first_g[first_g >= n_periods] = np.nan
        gidx[~never] = first_g[ccode]
    after = np.zeros(n_rows, dtype=bool)
    after[~never] = np.isnan(gidx[~never])

    key = np.where(after, np.inf, np.where(np.isnan(gidx), -1.0, gidx))
    unit_key = np.empty(n_units_all)
    unit_key[ucode] = key
    differs = key != unit_key[ucode]
    if differs.any():
        bad_codes = pd.unique(ucode[differs])
        bad = [uvals[c] for c in bad_codes[:5]]
        raise ValueError(
            f"cohort column {cohort!r} must be constant within each unit, but differs within {len(bad_codes)} "
            f"unit(s), e.g. {bad}"
        )

    inexact = np.zeros(0, dtype=bool)
    cohorts = None
    if len(cvals):
        unit_cohort = np.full(n_units_all, -1, dtype=np.int64)   # one cohort per unit (checked above)
        unit_cohort[ucode[~never]] = ccode
        in_window = ~np.isnan(first_g)
        if plain:   # a cohort is an observed period exactly when the period it maps to equals it
            exact = in_window & (times.to_numpy()[np.where(in_window, first_g, 0).astype(np.intp)] == cuniq.to_numpy())
        else:
            exact = np.asarray(pd.Index(cuniq).isin(times))
        inexact = ~exact & in_window
        cohorts = _Cohorts(cuniq, first_g, exact, np.bincount(unit_cohort[unit_cohort >= 0], minlength=len(cuniq)))

    xs = {c: _as_float(s_x[c]) for c in covariates}
    miss_x = np.zeros(n_rows, dtype=bool)
    for x in xs.values():
        miss_x |= np.isnan(x)
    miss_x &= ~miss_y
    keep = ~(miss_y | miss_x)
    every_row = bool(keep.all())
    rows = None if every_row else np.flatnonzero(keep)
    kept_cells = cell if every_row else cell[rows]
    if len(kept_cells) > 1 and (kept_cells[1:] < kept_cells[:-1]).any():   # input not already by unit, then period
        order = np.argsort(kept_cells, kind="stable")
        rows, every_row = (order if every_row else rows[order]), False
    codes_kept = ucode if every_row else ucode[rows]
    present = np.zeros(n_units_all, dtype=bool)
    present[codes_kept] = True
    if present.sum() < 2:
        raise ValueError(f"fewer than two units ({unit!r}) have a non-missing {outcome!r}: nothing to compare")
    # unit values as a plain (inferred) array: categorical or arrow input does not leak through
    unit_values = uvals.to_numpy()
    if not isinstance(unit_values.dtype, np.dtype) or unit_values.dtype == object:
        unit_values = pd.Index(unit_values).to_numpy()
    # the kept rows in order; when that is every row as given, no gather, but copies of anything that may be a
    # view of the caller's frame
    take = (lambda a: np.array(a, copy=True)) if every_row else (lambda a: a[rows])
    columns = {_TIME: take(tser.to_numpy()), _T: (tcode if every_row else tcode[rows]).astype(int),
               _G: gidx if every_row else gidx[rows], _Y: take(y)}
    for c, x in xs.items():
        columns[c] = take(x)

    unit_after = np.zeros(n_units_all, dtype=bool)
    unit_after[ucode] = after
    unit_never = np.zeros(n_units_all, dtype=bool)
    unit_never[ucode] = never
    notes = []
    if inexact.any():
        notes.append(
            "cohort value(s) not among the observed periods were mapped to the first observed period on or after them: "
            + ", ".join(f"{_show(cuniq[i])} -> {_show(times[int(first_g[i])])}" for i in np.flatnonzero(inexact))
        )
    n_after = int((unit_after & present).sum())
    if n_after:
        notes.append(f"{n_after} unit(s) first treated after the last observed period are used as comparison units")
    time_dtype = str(tser.dtype)
    return PreparedPanel(
        columns=columns,
        times=times,
        unit=unit,
        time=time,
        cohort=cohort,
        outcome=outcome,
        covariates=covariates,
        time_dtype=time_dtype,
        n_dropped_missing_outcome=int(miss_y.sum()),
        n_dropped_missing_covariates=int(miss_x.sum()),
        n_never_treated=int((unit_never & present).sum()),
        n_treated_after_window=n_after,
        notes=tuple(notes),
        unit_values=unit_values[present],
        unit_codes=np.cumsum(present)[codes_kept] - 1,
        cohorts=cohorts,
    )
