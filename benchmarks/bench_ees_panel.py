"""Ingest: LA open-data files -> tidy rate panel. csceval (read_ees + assemble_panel) vs a DuckDB query.

Both read the same synthetic national-scale EES CSVs (every LA plus synthetic extra units, 2013-2029),
keep Local authority rows, turn DfE symbols into missing values, join the ONS population of the previous
mid-year and compute rates per 10,000. Results must agree to floating-point tolerance.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from _harness import Pair


def _inputs(n_las: int) -> Path:
    from csceval.simulate import simulate_la_returns

    folder = Path(tempfile.mkdtemp(prefix="csceval-bench-ees-"))
    simulate_la_returns(folder, seed=1, first_year=2013, last_year=2029, programmes={}, effects={}, n_las=n_las)
    return folder


def pair(n_las: int = 3000) -> Pair:
    import duckdb

    from csceval.ingest import read_ees
    from csceval.panel import assemble_panel

    folder = _inputs(n_las)
    b1 = next(folder.glob("b1_*.csv"))
    pop = next(folder.glob("ons_*.csv"))

    def ours():
        tables = {p.name: read_ees(p) for p in (b1, pop)}
        panel, _ = assemble_panel(tables, ["cin_rate_per_10k"])
        return panel

    def peer():
        con = duckdb.connect()
        sql = f"""
        with counts as (
          select old_la_code as la_code, cast(time_period as integer) as year,
                 try_cast(At31_episodes as double) as numerator
          from read_csv('{b1}', all_varchar=true, header=true)
          where geographic_level = 'Local authority' and At31_episodes <> 'z'
        ), pop as (
          select old_la_code as la_code, cast(time_period as integer) + 1 as year,
                 try_cast(population_estimate as double) as denominator
          from read_csv('{pop}', all_varchar=true, header=true)
          where geographic_level = 'Local authority'
        )
        select c.la_code, c.year, c.numerator, p.denominator, c.numerator / p.denominator * 10000 as value
        from counts c left join pop p using (la_code, year)
        order by la_code, year
        """
        out = con.execute(sql).df()
        con.close()
        return out

    def check(a: pd.DataFrame, b: pd.DataFrame) -> str:
        a = a.sort_values(["la_code", "period"]).reset_index(drop=True)
        if len(a) != len(b):
            return f"DIFFERENT row counts {len(a)} vs {len(b)}"
        same = np.allclose(a["value"].to_numpy(float), b["value"].to_numpy(float), equal_nan=True, rtol=1e-12)
        return f"equal ({len(a):,} LA-years)" if same else "DIFFERENT values"

    rows = sum(1 for _ in open(b1, encoding="utf-8")) - 1
    return Pair(
        "EES files -> CIN rate panel", f"{n_las:,} units x 17 years ({rows:,} rows in b1)", ours, peer, "DuckDB " + duckdb.__version__, check,
        notes=["csceval also validates every measure cell and keeps DfE symbols as a status; DuckDB only casts"],
    )
