"""Record-level ingest: SSDA903 + CIN census returns -> LA x month panel. csceval vs a DuckDB query.

Inputs: synthetic record-level returns (:func:`csceval.simulate.records.simulate_record_returns`) for
every LA (or the LAs given) over the collection years given, written once to a temporary folder as the
CSV tables an LA sends (SSDA903 ``header.csv`` + ``episodes.csv`` per LA and year, the flattened CIN
census CSV per LA and year).

* **csceval** runs the pipeline's path: every file through the validated readers (types, code lists of
  the year, date rules, episode sequence rules, pseudonymisation, quarantine and reconciliation), one
  collection year at a time to parquet, then :func:`csceval.records_panel.build_panel_from_interim`,
  one LA at a time, to the full monthly panel (19 measures).
* **DuckDB** reads the same CSVs with globbing and computes the four measures both produce the same
  way: referrals, CLA starts, CPP starts per LA-month and CLA on the last day of each month.  It does
  no validation and no pseudonymisation.

The check compares those four measures for every LA-month.  The ratio is DuckDB time / csceval time
(below 1: DuckDB is faster, as expected: it does far less work).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _harness import Pair

PROGRAMMES = {"ffc": {"waves": [{"start": "2023-07-01", "la_codes": ["838", "925", "336"]}]}}
EFFECTS = {"ffc": {"cla_starts_rate_per_10k": {"size": -0.1}}}


def _inputs(la_codes, years, assessments) -> tuple[Path, dict]:
    from csceval.simulate.records import simulate_record_returns

    folder = Path(tempfile.mkdtemp(prefix="csceval-bench-records-"))
    start = time.perf_counter()
    written = simulate_record_returns(folder, seed=1, first_year=2013, last_year=2029, record_years=years,
                                      programmes=PROGRAMMES, effects=EFFECTS, la_codes=la_codes,
                                      assessments=assessments)
    written["seconds"] = time.perf_counter() - start
    return folder, written


def ours_pipeline(folder: Path, years) -> pd.DataFrame:
    """Validated ingest of every file (per collection year, to parquet), then the monthly panel per LA."""
    from csceval.ingest.records import SYNTHETIC_SALT, read_record_year
    from csceval.records_panel import build_panel_from_interim

    interim = Path(tempfile.mkdtemp(prefix="csceval-bench-interim-"))
    try:
        dirs = []
        for year in range(years[0], years[1] + 1):
            result = read_record_year(folder, year, salt=SYNTHETIC_SALT)
            out = interim / str(year)
            out.mkdir()
            for kind, frames in (("ssda903", result.episodes), ("cin_census", result.events)):
                for la, frame in frames.items():
                    frame.to_parquet(out / f"{kind}_{la}.parquet", index=False)
            dirs.append(out)
            del result
        population = next(folder.glob("ons_*.csv"))
        return build_panel_from_interim(dirs, population, "monthly")
    finally:
        shutil.rmtree(interim, ignore_errors=True)


def duckdb_query(folder: Path) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect()
    sql = f"""
    with ep as (
      select regexp_extract(filename, 'ssda903/(\\d+)/(\\w+)/', 2) as la_code,
             cast(regexp_extract(filename, 'ssda903/(\\d+)/', 1) as integer) as year,
             CHILD as child, RNE, LS, strptime(DECOM, '%d/%m/%Y')::date as decom,
             case when DEC is null or DEC = '' then null else strptime(DEC, '%d/%m/%Y')::date end as dec
      from read_csv('{folder}/ssda903/*/*/episodes.csv', all_varchar=true, header=true, filename=true)
      where LS not in ('V3', 'V4')
    ), cin as (
      select la_code, cast(regexp_extract(filename, 'cin_census/(\\d+)/', 1) as integer) as year,
             child, event_type, cast(date as date) as d
      from read_csv('{folder}/cin_census/*/*.csv', all_varchar=true, header=true, filename=true)
      where event_type in ('referral', 'cpp_start')
    ), months as (
      select distinct year, unnest(generate_series(make_date(year - 1, 4, 1), make_date(year, 3, 1), interval 1 month))::date as period
      from ep
    ), flows as (
      select la_code, date_trunc('month', d)::date as period, event_type as measure, count(distinct (child, d)) as n
      from cin where d between make_date(year - 1, 4, 1) and make_date(year, 3, 31)
      group by all
      union all
      select la_code, date_trunc('month', decom)::date, 'cla_starts', count(distinct child)
      from ep where RNE = 'S' and decom between make_date(year - 1, 4, 1) and make_date(year, 3, 31)
      group by all
    ), stock as (
      select e.la_code, m.period, 'cla_stock' as measure, count(*) as n
      from ep e join months m on e.year = m.year
      where e.decom <= last_day(m.period) and (e.dec is null or e.dec > last_day(m.period))
      group by all
    )
    select * from flows union all select * from stock
    """
    out = con.execute(sql).df()
    con.close()
    return out


def pair(la_codes=None, years=(2017, 2026), assessments: bool = True) -> Pair:
    import duckdb

    folder, written = _inputs(la_codes, tuple(years), assessments)

    def check(panel: pd.DataFrame, peer: pd.DataFrame) -> str:
        names = {"referral_rate_per_10k": "referral", "cpp_starts_rate_per_10k": "cpp_start",
                 "cla_starts_rate_per_10k": "cla_starts", "cla_rate_per_10k": "cla_stock"}
        ours = panel[panel["outcome"].isin(names)].assign(measure=lambda t: t["outcome"].map(names))
        ours = ours[["la_code", "period", "measure", "numerator"]]
        theirs = peer.assign(period=pd.to_datetime(peer["period"]).astype("datetime64[ns]"),
                             la_code=peer["la_code"].astype(str))
        m = ours.merge(theirs, on=["la_code", "period", "measure"], how="left")
        m["n"] = m["n"].fillna(0)
        same = np.array_equal(m["numerator"].to_numpy(float), m["n"].to_numpy(float))
        return (f"equal ({len(m):,} LA-month-measure cells)" if same
                else f"DIFFERENT in {(m['numerator'] != m['n']).sum():,} of {len(m):,} cells")

    manifest = written["manifest"].read_text()
    import json

    info = json.loads(manifest)
    return Pair(
        "Record-level returns -> LA x month panel",
        f"{info['n_la_years']:,} LA-years: {info['n_ssda903_episodes']:,} SSDA903 episodes, {info['n_cin_events']:,} CIN events "
        f"(generated in {written['seconds']:.0f} s)",
        lambda: ours_pipeline(folder, years), lambda: duckdb_query(folder), "DuckDB " + duckdb.__version__, check,
        notes=["csceval validates, pseudonymises and reconciles every row and builds 19 measures; DuckDB computes 4 with no checks"],
        max_runs=1,
    )


if __name__ == "__main__":  # a quick look without the harness
    import sys

    p = pair(la_codes=sys.argv[1:] or ["336", "821", "846"], years=(2024, 2025))
    t = time.perf_counter(); a = p.ours(); t_ours = time.perf_counter() - t
    t = time.perf_counter(); b = p.peer(); t_peer = time.perf_counter() - t
    print(p.inputs, f"ours {t_ours:.1f} s, DuckDB {t_peer:.1f} s:", p.check(a, b))
