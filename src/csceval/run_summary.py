"""Wall time and peak memory per rule, from the benchmark files Snakemake writes (``benchmark:``).

Each heavy rule writes ``results/benchmarks/<rule>/<wildcards...>.tsv`` (one line per repeat: ``s`` wall
seconds, ``max_rss`` peak resident memory in MB, ``cpu_time``...). :func:`summarise_benchmarks` groups
them by rule (the first folder below the benchmarks folder)::

    python -m csceval.run_summary results/benchmarks        # Markdown table on stdout
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

SUMMARY_COLUMNS = ["rule", "jobs", "wall_s_total", "wall_s_max", "cpu_s_total", "max_rss_mb"]


def summarise_benchmarks(folder) -> pd.DataFrame:
    """One row per rule: number of jobs, total and longest wall time, total CPU time, peak memory."""
    folder = Path(folder)
    files = sorted(folder.rglob("*.tsv"))
    if not files:
        raise FileNotFoundError(f"no benchmark files (*.tsv) under {folder}: run the workflow first")
    rows = []
    for path in files:
        table = pd.read_csv(path, sep="\t")
        missing = {"s", "max_rss", "cpu_time"} - set(table.columns)
        if missing:
            raise ValueError(f"{path}: not a Snakemake benchmark file (missing {sorted(missing)})")
        rule = path.relative_to(folder).parts[0].removesuffix(".tsv")
        # Snakemake writes "NA" for memory it could not measure (very short jobs)
        rss = pd.to_numeric(table["max_rss"], errors="coerce")
        rows.append(dict(rule=rule, wall=float(table["s"].max()), cpu=float(pd.to_numeric(table["cpu_time"], errors="coerce").max()),
                         rss=float(rss.max())))
    jobs = pd.DataFrame(rows)
    out = jobs.groupby("rule", sort=True).agg(
        jobs=("wall", "size"), wall_s_total=("wall", "sum"), wall_s_max=("wall", "max"),
        cpu_s_total=("cpu", "sum"), max_rss_mb=("rss", "max"),
    ).reset_index()
    return out.sort_values("wall_s_total", ascending=False, ignore_index=True)[SUMMARY_COLUMNS]


def to_markdown(summary: pd.DataFrame) -> str:
    header = "| rule | jobs | wall s (total) | wall s (longest job) | CPU s (total) | peak RSS MB |"
    lines = [header, "|---|---:|---:|---:|---:|---:|"]
    for r in summary.itertuples():
        lines.append(f"| {r.rule} | {r.jobs} | {r.wall_s_total:.1f} | {r.wall_s_max:.1f} | {r.cpu_s_total:.1f} | {r.max_rss_mb:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = args[0] if args else "results/benchmarks"
    print(to_markdown(summarise_benchmarks(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
