"""Run the benchmark suite and write benchmarks/results/benchmarks.md (one command: `make bench`).

Each benchmark compares csceval with the tool users would otherwise pick, on identical inputs, in the
same process, alternating runs, and checks that the results agree. Ratios are peer time / our time
(above 1: csceval is faster).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import machine_description, measure  # noqa: E402

#: module name -> keyword arguments of its pair() for the full and the quick run
BENCHMARKS = {
    "bench_ees_panel": ({"n_las": 3000}, {"n_las": 300}),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small inputs, 2 runs (a smoke test of the suite)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)

    results, failures = [], []
    for module_name, (full, quick) in BENCHMARKS.items():
        if args.only and module_name not in args.only:
            continue
        try:
            module = importlib.import_module(module_name)
            pair = module.pair(**(quick if args.quick else full))
        except ImportError as err:
            failures.append(f"{module_name}: peer not installed ({err}); run `make bench` to install the peers")
            continue
        m = measure(pair, runs=2 if args.quick else args.runs)
        results.append(m)
        print(f"{m.name}: csceval {m.ours_s:.3f} s, {m.peer_name} {m.peer_s:.3f} s, ratio {m.ratio:.2f}; {m.agreement}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# csceval benchmarks",
        "",
        f"Machine: {machine_description()}",
        f"Run: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}{' (quick)' if args.quick else ''}",
        "",
        "| benchmark | inputs | csceval (s) | peer | peer (s) | peer / csceval | results |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in results:
        lines.append(f"| {m.name} | {m.inputs} | {m.ours_s:.3f} | {m.peer_name} | {m.peer_s:.3f} | {m.ratio:.2f} | {m.agreement} |")
    notes = [f"- {m.name}: {n}" for m in results for n in m.notes] + [f"- not run: {f}" for f in failures]
    if notes:
        lines += ["", "Notes:", *notes]
    (args.out / "benchmarks.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / "benchmarks.json").write_text(json.dumps([asdict(m) for m in results], indent=2), encoding="utf-8")
    print(f"wrote {args.out / 'benchmarks.md'}")
    return 1 if any("DIFFERENT" in m.agreement for m in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
