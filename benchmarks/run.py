"""Run the benchmark suite and write benchmarks/results/benchmarks.md (one command: `make bench`).

Each benchmark compares csceval with the tool users would otherwise pick, on identical inputs, in the
same process, alternating runs, and checks that the results agree. Ratios are peer time / our time
(above 1: csceval is faster); a benchmark against a time budget (no peer) reports target / our time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import machine_description, measure  # noqa: E402

LA = {"n_units": 150, "n_periods": 48, "n_cohorts": 3}
LARGE = {"n_units": 3000, "n_periods": 40, "n_cohorts": 12}
QUICK_PANEL = {"n_units": 60, "n_periods": 12, "n_cohorts": 3}

#: (module, keyword arguments of its pair() for the full run, for the quick run); a module may appear
#: several times (several inputs or peers)
BENCHMARKS: list[tuple[str, dict, dict]] = [
    ("bench_ees_panel", {"n_las": 3000}, {"n_las": 300}),
    ("bench_callaway_santanna", {**LA, "peer": "diff-diff"}, {**QUICK_PANEL, "peer": "diff-diff"}),
    ("bench_callaway_santanna", {**LARGE, "peer": "diff-diff"}, {**QUICK_PANEL, "n_units": 200, "peer": "diff-diff"}),
    ("bench_callaway_santanna", {**LA, "peer": "moderndid"}, {**QUICK_PANEL, "peer": "moderndid"}),
    ("bench_callaway_santanna", {**LARGE, "peer": "moderndid"}, {**QUICK_PANEL, "n_units": 200, "peer": "moderndid"}),
    ("bench_twfe", {**LA, "kind": "twfe"}, {**QUICK_PANEL, "kind": "twfe"}),
    ("bench_twfe", {**LA, "kind": "event_study"}, {**QUICK_PANEL, "kind": "event_study"}),
    ("bench_twfe", {**LARGE, "kind": "event_study", "max_runs": 2}, {**QUICK_PANEL, "n_units": 200, "kind": "event_study"}),
    ("bench_twfe", {**LA, "kind": "sun_abraham"}, {**QUICK_PANEL, "kind": "sun_abraham"}),
    ("bench_twfe", {**LARGE, "kind": "sun_abraham", "max_runs": 2}, {**QUICK_PANEL, "n_units": 200, "kind": "sun_abraham"}),
    ("bench_synthetic_did", {"n_reps": 200}, {"n_reps": 20}),
    ("bench_honest_did", {"n_mbar": 3, "grid_points": 1000}, {"n_mbar": 1, "grid_points": 50}),
    ("bench_wild_bootstrap", {"n_units": 150, "n_periods": 48, "n_boot": 9999}, {"n_units": 40, "n_periods": 10, "n_boot": 199}),
    ("bench_randomization", {"n_permutations": 999}, {"n_permutations": 19, "n_units": 40, "n_periods": 12}),
    # record-level ingest + aggregation vs DuckDB: the FFfC LAs over three collection years (the national
    # 2017-2026 pair takes tens of minutes a side: run it with --only bench_records after editing this line)
    ("bench_records", {"la_codes": ["838", "925", "336", "821", "317", "335", "877", "937", "209", "344"], "years": (2023, 2025)},
     {"la_codes": ["336", "821", "846"], "years": (2024, 2025)}),
]


def _load() -> str:
    try:
        return " / ".join(open("/proc/loadavg", encoding="utf-8").read().split()[:3])
    except OSError:
        return "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small inputs, 2 runs (a smoke test of the suite)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)

    results, failures = [], []
    load_start = _load()
    for module_name, full, quick in BENCHMARKS:
        if args.only and module_name not in args.only:
            continue
        kwargs = quick if args.quick else full
        label = f"{module_name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
        try:
            module = importlib.import_module(module_name)
            pair = module.pair(**kwargs)
        except ImportError as err:
            failures.append(f"{label}: peer not installed ({err}); run `make bench` to install the peers")
            print(f"skipped {label}: {err}", flush=True)
            continue
        try:
            m = measure(pair, runs=2 if args.quick else args.runs)
        except Exception as err:  # noqa: BLE001 - one failing peer must not lose the other results
            failures.append(f"{label}: failed ({type(err).__name__}: {err})")
            traceback.print_exc()
            continue
        results.append(m)
        peer = f"{m.peer_name} {m.peer_s:.3f} s" if m.target_s is None else f"target {m.target_s:g} s"
        print(f"{m.name}: csceval {m.ours_s:.3f} s, {peer}, ratio {m.ratio:.2f}; {m.agreement}", flush=True)
    load_end = _load()

    args.out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# csceval benchmarks",
        "",
        f"Machine: {machine_description()}",
        f"Run: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}{' (quick)' if args.quick else ''}; "
        f"{2 if args.quick else args.runs} timed runs per side after one warm-up; "
        f"load average (1/5/15 min) {load_start} at the start, {load_end} at the end"
        f"{'; OPENBLAS_NUM_THREADS=' + os.environ['OPENBLAS_NUM_THREADS'] if 'OPENBLAS_NUM_THREADS' in os.environ else ''}",
        "",
        "Ratio = peer time / csceval time (above 1: csceval is faster); for rows with a target instead of a peer,",
        "target / csceval time (above 1: within the target). Times are medians, the ratio the median of per-run ratios.",
        "",
        "| benchmark | inputs | csceval (s) | peer | peer (s) | ratio | results |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in results:
        if m.target_s is None:
            lines.append(f"| {m.name} | {m.inputs} | {m.ours_s:.3f} | {m.peer_name} | {m.peer_s:.3f} | {m.ratio:.2f} | {m.agreement} |")
        else:
            lines.append(f"| {m.name} | {m.inputs} | {m.ours_s:.3f} | target | {m.target_s:g} | {m.ratio:.2f} | {m.agreement} |")
    notes = []
    for m in results:
        for n in m.notes:
            if f"- {m.name}: {n}" not in notes:
                notes.append(f"- {m.name}: {n}")
    notes += [f"- not run: {f}" for f in failures]
    if notes:
        lines += ["", "Notes:", *notes]
    (args.out / "benchmarks.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    payload = {"machine": machine_description(), "load_start": load_start, "load_end": load_end, "quick": args.quick,
               "results": [asdict(m) for m in results], "not_run": failures}
    (args.out / "benchmarks.json").write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    print(f"wrote {args.out / 'benchmarks.md'}")
    return 1 if any("DIFFERENT" in m.agreement for m in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
