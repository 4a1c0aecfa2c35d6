"""Worker threads and exact order statistics used by the Callaway-Sant'Anna bootstrap.

The bootstrap splits its draws into fixed blocks and shares them out over threads, and finds each
estimate's bootstrap quartiles with a float32-guided selection instead of a float64 sort. Neither may
change a single number: these tests compare against the plain computation.
"""

from __future__ import annotations

import importlib
import os
import threading
import warnings

import numpy as np
import pytest

from csceval.did._panel import parallel_map, row_slices, worker_threads
from helpers_cs import simulate_staggered

cs_module = importlib.import_module("csceval.did.callaway_santanna")


@pytest.mark.parametrize("n_rows,parts", [(0, 2), (1, 4), (5, 2), (999, 4), (10, 10), (3, 7)])
def test_row_slices_cover_every_row_once_in_order(n_rows, parts):
    slices = row_slices(n_rows, parts)
    covered = [i for s in slices for i in range(n_rows)[s]]
    assert covered == list(range(n_rows)), f"row_slices({n_rows}, {parts}) lost, repeated or reordered rows: {slices}"
    assert len(slices) <= max(1, parts), "more slices than parts asked for"


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_parallel_map_keeps_the_order_of_items(threads):
    items = list(range(23))
    seen_threads = set()

    def work(i):
        seen_threads.add(threading.get_ident())
        return i * i

    assert parallel_map(work, items, threads) == [i * i for i in items], "results came back out of order"
    if threads == 1:
        assert seen_threads == {threading.get_ident()}, "threads=1 must run everything in the calling thread"


def test_parallel_map_raises_an_error_from_a_worker():
    def work(i):
        if i == 7:
            raise ValueError("item 7 is bad")
        return i

    with pytest.raises(ValueError, match="item 7 is bad"):
        parallel_map(work, list(range(10)), 2)


def test_parallel_map_gives_the_work_of_a_stalled_thread_to_the_others():
    """A worker whose core is busy must not hold up the call: the calling thread takes every item the
    stalled worker has not started. Handing out fixed runs of items (half each) would leave the caller
    idle while half the work waits for the stalled worker."""
    main = threading.get_ident()
    by_main, by_worker = [], []
    worker_started, release = threading.Event(), threading.Event()

    def work(i):
        if threading.get_ident() != main:
            by_worker.append(i)
            worker_started.set()
            release.wait(timeout=5)        # stalled until the caller has done everything else
            return i
        worker_started.wait(timeout=5)     # let the worker take an item first
        by_main.append(i)
        if len(by_main) == 9:
            release.set()
        return i

    assert parallel_map(work, list(range(10)), 2) == list(range(10)), "results came back out of order"
    assert len(by_worker) == 1 and len(by_main) == 9, (
        f"the stalled worker ran items {by_worker} and the caller {by_main}: work was not shared out dynamically"
    )


@pytest.mark.parametrize("env,expected", [("1", 1), ("3", 3), ("64", 4)])
def test_worker_threads_follow_omp_num_threads(monkeypatch, env, expected):
    monkeypatch.setenv("OMP_NUM_THREADS", env)
    assert worker_threads() == expected, "OMP_NUM_THREADS (capped at 4) must set the estimators' worker threads"


def _plain_order_stats(x, ks):
    srt = np.sort(x, axis=1)
    return [srt[:, k] for k in ks]


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: rng.normal(size=(40, 999)),                                  # continuous
        lambda rng: np.round(rng.normal(size=(40, 999)), 1),                     # many exact ties
        lambda rng: rng.integers(-3, 4, size=(20, 999)).astype(float),           # few distinct values
        lambda rng: 1.0 + rng.normal(size=(6, 999)) * 1e-12,                     # all equal in float32
        lambda rng: rng.normal(size=(6, 999)) * 1e-30,                           # tiny magnitudes
        lambda rng: np.where(rng.random((6, 999)) < 0.01, np.nan, rng.normal(size=(6, 999))),  # NaN
        lambda rng: rng.normal(size=(6, 999)) * 1e300,                           # beyond float32's range
        lambda rng: np.where(rng.random((6, 999)) < 0.3, np.inf * np.sign(rng.normal(size=(6, 999))), 0.5),  # +-inf
        lambda rng: np.full((3, 999), np.nan),                                   # nothing but NaN
    ],
    ids=["normal", "ties", "discrete", "float32-equal", "tiny", "nan", "huge", "inf", "all-nan"],
)
@pytest.mark.parametrize("ks", [(249, 749), (749, 249), (0, 998), (500, 500)], ids=str)
def test_row_order_stats_equal_a_float64_sort(make, ks):
    x = make(np.random.default_rng(3))
    before = x.copy()
    got = cs_module._row_order_stats(x, ks)
    np.testing.assert_array_equal(x, before, err_msg="the draws were reordered: the sup-t bands need them as drawn")
    want = _plain_order_stats(x, ks)
    for k, g, w in zip(ks, got, want):
        np.testing.assert_array_equal(g, w, err_msg=f"order statistic {k} differs from np.sort's")


@pytest.mark.parametrize("covariates", [None, ["x"]], ids=["by-group", "with-covariates"])
def test_bootstrap_numbers_do_not_depend_on_the_number_of_threads(monkeypatch, covariates):
    """Same data and seed: 1, 2 and 3 worker threads give identical standard errors and bands to the bit."""
    df, _ = simulate_staggered(n_units=400, n_periods=12, cohorts={5: 80, 8: 80, 10: 80}, seed=5)
    df["x"] = df.groupby("la_code")["y"].transform("first").round(1) * 0.1
    monkeypatch.setattr(cs_module, "_THREAD_MIN", 0)          # thread even this small problem
    used = []
    real_map = cs_module.parallel_map
    monkeypatch.setattr(cs_module, "parallel_map", lambda f, items, t: used.append(t) or real_map(f, items, t))
    tables = []
    for threads in (1, 2, 3):
        monkeypatch.setattr(cs_module, "worker_threads", lambda t=threads: t)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = cs_module.callaway_santanna(df, "y", cohort="first_treated", control_group="never_treated",
                                              covariates=covariates, n_boot=999, seed=7)
        tables.append(res.estimates)
    assert set(used) == {1, 2, 3}, f"the bootstrap did not run on the requested threads: {sorted(set(used))}"
    for threads, table in zip((2, 3), tables[1:]):
        assert table.equals(tables[0]), f"{threads} threads changed the estimates table"


# ------------------------------------------------------------------ panel indexing shortcuts (prepare_panel)
@pytest.mark.parametrize("values", [
    np.array([2019, 2017, 2017, 2020, 2019], dtype=np.int64),
    np.array([-3, 5, -3, 0, 7], dtype=np.int32),
    np.array([4, 1, 4, 200], dtype=np.uint16),
    np.array([1, 10**12, 5, 10**12], dtype=np.int64),          # too wide for counting: pandas path
    np.array([np.iinfo(np.int64).min, 0, np.iinfo(np.int64).max], dtype=np.int64),
    np.array([3.5, 1.0, 3.5]),
    np.array(["b", "a", "b"], dtype=object),
])
@pytest.mark.parametrize("as_array", [False, True], ids=["series", "numpy"])
def test_factorize_sorted_equals_pandas(values, as_array):
    import pandas as pd

    from csceval.did._panel import _factorize_sorted

    codes, uniques = _factorize_sorted(values if as_array else pd.Series(values))
    want_codes, want_uniques = pd.factorize(pd.Series(values), sort=True)
    np.testing.assert_array_equal(codes, want_codes, err_msg="period / unit codes differ from pandas' sorted factorize")
    pd.testing.assert_index_equal(uniques, want_uniques, exact=True)


@pytest.mark.parametrize("cohort_dtype", ["int64", "float64", "object"])
def test_cohort_map_records_each_cohort_and_where_it_maps(cohort_dtype):
    """Per distinct treated cohort: the period index it maps to (first observed period on or after it, <NA>
    after the window), that period, whether it is an observed period, and its number of units."""
    import pandas as pd

    from csceval.did._panel import prepare_panel

    periods = [2016, 2018, 2020, 2022]
    unit_cohort = {1: 0, 2: 2018, 3: 2019, 4: 2019, 5: 2030, 6: 2016}
    df = pd.DataFrame([(u, t, g, float(u + t)) for u, g in unit_cohort.items() for t in periods],
                      columns=["u", "t", "g", "y"])
    df["g"] = df["g"].astype(cohort_dtype)
    panel = prepare_panel(df, "y", "u", "t", "g")
    cmap = panel.cohort_map
    assert cmap["cohort"].tolist() == [2016, 2018, 2019, 2030], "one row per distinct treated cohort, sorted"
    assert cmap["cohort_index"].tolist() == [0, 1, 2, pd.NA], "cohort index = first observed period on or after it"
    first = cmap["first_period"]
    assert first.iloc[:3].tolist() == [2016, 2018, 2020] and pd.isna(first.iloc[3]), (
        "the observed period each cohort maps to (missing after the window)"
    )
    assert cmap["exact"].tolist() == [True, True, False, False], "exact = the cohort is an observed period"
    assert cmap["n_units"].tolist() == [1, 1, 2, 1], "units per cohort"
    assert any("2019" in n and "-> 2020" in n for n in panel.notes), f"the inexact cohort must be named in the notes: {panel.notes}"
    assert panel.n_never_treated == 1 and panel.n_treated_after_window == 1


@pytest.mark.parametrize("sorted_input", [True, False], ids=["sorted", "shuffled"])
def test_prepared_columns_are_not_views_of_the_input(sorted_input):
    """The prepared arrays are the estimator's own: changing the caller's frame afterwards (or the estimator
    changing its arrays) must not reach the other side, whether or not rows had to be reordered."""
    import pandas as pd

    from csceval.did._panel import prepare_panel

    df = pd.DataFrame({"u": np.repeat([1, 2, 3], 4), "t": np.tile([1, 2, 3, 4], 3), "g": np.repeat([0, 3, 0], 4),
                       "y": np.arange(12, dtype=float), "x": np.ones(12)})
    if not sorted_input:
        df = df.iloc[::-1].reset_index(drop=True)
    panel = prepare_panel(df, "y", "u", "t", "g", covariates=["x"])
    before = {k: v.copy() for k, v in panel.columns.items()}
    df.loc[:, ["y", "x", "t"]] = -1
    for k, v in panel.columns.items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"prepared column {k} changed with the caller's frame")


def test_text_cohort_zero_means_never_treated():
    """A cohort column read as text ("0", "2019") follows the numeric convention: "0" is never treated, not a
    cohort treated before the first period (which would make every comparison unit a treated one)."""
    import pandas as pd

    from csceval.did._panel import prepare_panel

    df = pd.DataFrame([(u, t, g, float(u * t)) for u, g in ((1, "0"), (2, "0"), (3, "2019"), (4, None))
                       for t in (2018, 2019, 2020)], columns=["u", "t", "g", "y"])
    panel = prepare_panel(df, "y", "u", "t", "g")
    assert panel.n_never_treated == 3, "units with cohort '0' or missing are never treated"
    assert panel.cohort_map["cohort"].tolist() == [2019], "'0' must not appear as a treated cohort"
    g = panel.data.groupby("_unit")["_g"].first()
    assert g.isna().tolist() == [True, True, False, True] and g.loc[3] == 1, "cohort index per unit"


def test_nullable_integer_columns_take_the_pandas_path():
    """Int64 columns report dtype kind 'i' but may hold <NA>: the numpy shortcuts must not treat them as plain."""
    import pandas as pd

    from csceval.did._panel import _never_treated_mask, prepare_panel

    cohort = pd.Series([0, 5, pd.NA, 8], dtype="Int64")
    assert _never_treated_mask(cohort).tolist() == [True, False, True, False], "<NA> and 0 cohorts are never treated"
    df = pd.DataFrame({"u": pd.array([1, 1, 2, 2], dtype="Int64"), "t": pd.array([1, pd.NA, 1, 2], dtype="Int64"),
                       "g": [0, 0, 2, 2], "y": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match="1 missing value"):
        prepare_panel(df, "y", "u", "t", "g")


# ------------------------------------------------------------------ warnings name the caller's line
def _warnings_of(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [(os.path.abspath(w.filename), w.lineno, str(w.message)) for w in caught if issubclass(w.category, UserWarning)]


def test_estimator_warnings_point_at_the_callers_line():
    """A warning must name the user's line that called the estimator (as the warnings module intends), not a
    line inside csceval.did: a fixed stacklevel pointed at the BLAS decorator's wrapper instead."""
    from csceval.did import callaway_santanna, sun_abraham, two_stage
    from helpers_panels import simulate_panel

    here = os.path.abspath(__file__)
    df = simulate_panel(time_kind="int")
    first = df.copy()
    first.loc[first["la_code"].isin(first["la_code"].unique()[:2]), "first_treated"] = 1.0   # treated throughout
    unbalanced = df.drop(index=[5])
    calls = {
        "callaway_santanna": (lambda: callaway_santanna(unbalanced, "y", bootstrap=False), "dropped 1 unit"),
        "sun_abraham": (lambda: sun_abraham(first, "y"), "always-treated"),
        "two_stage": (lambda: two_stage(df[df["first_treated"].notna()], "y"), "cannot be imputed"),
    }
    for name, (call, text) in calls.items():
        line = call.__code__.co_firstlineno
        found = [w for w in _warnings_of(call) if text in w[2]]
        assert found, f"{name} did not warn '{text}'"
        assert all(w[:2] == (here, line) for w in found), (
            f"{name}'s warning is attributed to {[w[:2] for w in found]}, not to the calling line {here}:{line}"
        )
