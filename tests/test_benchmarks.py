"""The benchmark suite (benchmarks/) and the speed work it measures.

* the harness and run.py: ratios, target-time rows, the Markdown table with the machine description,
  missing peers reported rather than crashing; every registered benchmark accepts its quick and full
  arguments (the peers themselves are installed only by ``make bench``);
* the Callaway-Sant'Anna permutation shortcut reproduces the estimator re-run per permutation, falls
  back when it does not apply, and meets issue #6's target (999 permutations, 150 x 48, < 10 s);
* the BLAS thread limiter restores the thread count; prepare_panel's unit codes index its units.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csceval.did import callaway_santanna
from csceval.did import _panel
from csceval.did._panel import _UNIT, prepare_panel, single_threaded_blas
from csceval.inference import randomization_inference, simulate_null_panel

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _harness  # noqa: E402
import run as bench_run  # noqa: E402


# ------------------------------------------------------------------------------ harness and run.py
def test_measure_ratio_and_target_rows():
    slow = _harness.Pair("x", "in", lambda: sum(range(20000)), lambda: sum(range(200000)), "peer",
                         lambda a, b: "equal" if a < b else "DIFFERENT")
    m = _harness.measure(slow, runs=3)
    assert m.ratio > 1 and m.agreement == "equal", "the peer doing 10x the work must come out slower (ratio > 1)"
    target = _harness.Pair("t", "in", lambda: 1, None, "target", lambda a, b: "ok", target_s=1000.0)
    m = _harness.measure(target, runs=2)
    assert np.isnan(m.peer_s) and m.ratio > 1000 and m.target_s == 1000.0, "a target row reports target / our time"
    with pytest.raises(ValueError, match="peer or a target"):
        _harness.measure(_harness.Pair("n", "in", lambda: 1, None, "none", lambda a, b: ""), runs=1)


def test_max_runs_caps_slow_peers():
    calls = []
    pair = _harness.Pair("x", "in", lambda: calls.append("o"), lambda: calls.append("p"), "peer", lambda a, b: "",
                         max_runs=1)
    m = _harness.measure(pair, runs=5)
    assert m.runs == 1 and calls.count("p") == 2, "max_runs=1: one warm-up and one timed call of a slow peer"


def test_run_writes_table_and_reports_missing_peers(tmp_path, monkeypatch):
    fake = type(sys)("bench_fake_ok")
    fake.pair = lambda n=1: _harness.Pair(f"fake {n}", "tiny", lambda: n, lambda: n, "fakepeer 1.0",
                                          lambda a, b: "equal" if a == b else "DIFFERENT", notes=["a note"])
    missing = type(sys)("bench_fake_missing")

    def needs_peer(**_):
        raise ImportError("No module named 'not_a_real_peer'")
    missing.pair = needs_peer
    monkeypatch.setitem(sys.modules, "bench_fake_ok", fake)
    monkeypatch.setitem(sys.modules, "bench_fake_missing", missing)
    monkeypatch.setattr(bench_run, "BENCHMARKS", [("bench_fake_ok", {"n": 2}, {"n": 1}),
                                                  ("bench_fake_missing", {}, {})])
    assert bench_run.main(["--quick", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "benchmarks.md").read_text()
    assert "Machine:" in md and "cores" in md, "the table must describe the machine it was measured on"
    assert "| fake 1 | tiny |" in md and "fakepeer 1.0" in md, "--quick must use the quick arguments"
    assert "not run: bench_fake_missing" in md and "not_a_real_peer" in md, "a missing peer is reported, not fatal"
    assert "a note" in md
    fake.pair = lambda n=1: _harness.Pair("bad", "tiny", lambda: 1, lambda: 2, "p", lambda a, b: "DIFFERENT values")
    assert bench_run.main(["--quick", "--out", str(tmp_path)]) == 1, "disagreeing results must fail the run"


def test_registered_benchmarks_accept_their_arguments():
    """Every module in run.BENCHMARKS exists and its pair() takes the full and the quick arguments."""
    names = {m for m, _, _ in bench_run.BENCHMARKS}
    assert {"bench_callaway_santanna", "bench_twfe", "bench_synthetic_did", "bench_honest_did",
            "bench_wild_bootstrap", "bench_randomization"} <= names
    for module_name, full, quick in bench_run.BENCHMARKS:
        sig = inspect.signature(importlib.import_module(module_name).pair)
        sig.bind(**full)
        sig.bind(**quick)


def test_peer_versions_are_pinned():
    lines = [ln.split("#")[0].strip() for ln in (BENCH / "requirements-peers.txt").read_text().splitlines()]
    reqs = [ln for ln in lines if ln]
    assert reqs and all("==" in r for r in reqs), f"every peer must be pinned exactly: {reqs}"
    pinned = {r.split("==")[0].split("[")[0].lower() for r in reqs}
    assert {"diff-diff", "pyfixest", "wildboottest", "moderndid"} <= pinned


def test_randomization_benchmark_quick_runs_without_peers():
    mod = importlib.import_module("bench_randomization")
    m = _harness.measure(mod.pair(n_permutations=19, n_units=40, n_periods=12), runs=1)
    assert m.agreement.startswith("equal") and m.ratio > 1, m.agreement


# ------------------------------------------------------------------------------ CS permutation shortcut
@pytest.fixture(scope="module")
def effect_panel() -> pd.DataFrame:
    df = simulate_null_panel(n_units=40, n_periods=10, waves=(3, 4), rng=3)
    treated = df["first_treated"].notna() & (df["period"] >= df["first_treated"])
    return df.assign(y=df["y"] + 0.7 * treated)


@pytest.mark.parametrize("control_group", ["never_treated", "not_yet_treated"])
@pytest.mark.parametrize("base_period", ["varying", "universal"])
def test_cs_fast_permutations_equal_estimator_reruns(effect_panel, control_group, base_period):
    kw = dict(outcome="y", n_permutations=25, seed=4, exact_if_at_most=0, control_group=control_group,
              base_period=base_period, bootstrap=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = randomization_inference(effect_panel, callaway_santanna, confidence_set=False, **kw)
        slow = randomization_inference(effect_panel, callaway_santanna, method="generic", **kw)
    assert fast.method == "fast-linear" and slow.method == "generic"
    np.testing.assert_allclose(fast.distribution, slow.distribution, rtol=0, atol=1e-12,
                               err_msg="the shortcut must give the estimator's overall ATT for every permutation")
    assert fast.p_value == slow.p_value and fast.statistic == pytest.approx(slow.statistic, abs=1e-12)


def test_cs_fast_confidence_set_is_the_shifted_outcome_test(effect_panel):
    """p(tau) of the shortcut = the p-value of the data with tau removed from treated cells."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = randomization_inference(effect_panel, callaway_santanna, outcome="y", n_permutations=40, seed=2,
                                      exact_if_at_most=0, bootstrap=False)
        lo, hi = res.confidence_set
        treated = effect_panel["first_treated"].notna() & (effect_panel["period"] >= effect_panel["first_treated"])
        for tau, inside in ((0.5 * (lo + hi), True), (hi + 2 * (hi - lo), False)):
            shifted = effect_panel.assign(y=effect_panel["y"] - tau * treated)
            p = randomization_inference(shifted, callaway_santanna, outcome="y", n_permutations=40, seed=2,
                                        exact_if_at_most=0, bootstrap=False, method="generic").p_value
            assert (p > res.alpha) == inside, f"tau={tau}: p={p} disagrees with the confidence set {res.confidence_set}"


def test_cs_fast_falls_back_when_units_are_dropped(effect_panel):
    unbalanced = effect_panel.drop(index=[5, 17]).reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = randomization_inference(unbalanced, callaway_santanna, outcome="y", n_permutations=5, bootstrap=False)
        assert res.method == "generic", "an unbalanced panel (units dropped by the estimator) must use the generic path"
        with pytest.raises(ValueError, match="balanced panel"):
            randomization_inference(unbalanced, callaway_santanna, outcome="y", n_permutations=5, method="fast",
                                    bootstrap=False)


def test_cs_999_permutations_150_las_48_quarters_under_10s():
    df = simulate_null_panel(n_units=150, n_periods=48, waves=(3, 7), first_wave_period=40, rng=1)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = randomization_inference(df, callaway_santanna, outcome="y", n_permutations=999)
    elapsed = time.perf_counter() - start
    assert res.method == "fast-linear" and res.n_permutations == 999
    assert elapsed < 10, f"999 CS permutations on 150 x 48 took {elapsed:.1f} s (issue #6 target: under 10 s)"


# ------------------------------------------------------------------------------ helpers
def test_single_threaded_blas_restores_thread_count():
    controls = _panel._find_blas_controls()
    before = [get() for _, get in controls]
    seen = []

    @single_threaded_blas
    def inside():
        seen.extend(get() for _, get in controls)
        return 42

    assert inside() == 42
    assert all(n == 1 for n in seen), "inside the wrapper OpenBLAS must run one thread"
    assert [get() for _, get in controls] == before, "the thread count must be restored afterwards"


def test_prepare_panel_unit_codes_index_units():
    df = simulate_null_panel(n_units=12, n_periods=5, waves=(2,), rng=0).sample(frac=1.0, random_state=1)
    df.loc[df.index[:3], "y"] = np.nan
    p = prepare_panel(df, "y", cohort="first_treated")
    assert list(p.unit_values[p.unit_codes]) == list(p.data[_UNIT]), "unit_codes must point at each row's unit"
    assert list(p.unit_values) == sorted(p.data[_UNIT].unique()), "units sorted as the data are"
    assert p.n_dropped_missing_outcome == 3
