r"""A synthetic S251 outturn file with a known economy of scale in the cost of children looked after.

For each LA and financial year with ``n`` children looked after (the panel's stock on 31 March at
the end of the year), the expenditure on children looked after is

.. math:: E = n \times w \times c_0 \, (n / n_0)^{b} \, e^{\sigma z},\qquad z \sim N(0, 1)

with ``w`` = 365.25 / 7 weeks, ``c_0`` the weekly cost of an LA with ``n_0`` children and ``b``
the *scale elasticity*: the log-log slope of cost per child-week on the number of children looked
after, which :func:`csceval.economics.economies_of_scale` should recover. ``z`` is drawn per LA and
year from ``seed``. ``E`` is split over three lines (shares :data:`LINES`) and four kinds of
provision (:data:`PROVISION_SHARES`), rounded to whole pounds, and the "Total Children Looked After"
line is the sum of the rounded lines: the file's total, not ``E``, is what a reader sees. The line
numbers and shares are illustrative, not DfE's. A National row sums the LAs. LAs without a count
get ``x`` (not available) in every money cell; units without a 3-digit LA code (synthetic ``X``
units) are left out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from csceval.economics import WEEKS_PER_YEAR
from csceval.reference import local_authorities

__all__ = ["LINES", "PROVISION_SHARES", "TOTAL_LINE", "synthetic_s251", "write_synthetic_s251"]

#: (line number, description, share of expenditure on children looked after) of the lines written.
LINES = (("3.1.1", "Residential care", 0.40), ("3.1.2", "Fostering services", 0.35),
         ("3.1.3", "Other children looked after services", 0.25))
TOTAL_LINE = "Total Children Looked After"
#: Share of each line's expenditure by kind of provision (the four add up to total_expenditure).
PROVISION_SHARES = {"own_provision": 0.45, "private_provision": 0.40, "other_public_sector_provision": 0.05,
                    "voluntary_provision": 0.10}
_GEO = ["time_period", "time_identifier", "geographic_level", "country_code", "country_name", "region_code",
        "region_name", "old_la_code", "new_la_code", "la_name"]


def _expenditure(children: np.ndarray, *, elasticity: float, weekly_cost: float, reference_children: float,
                 noise_sd: float, rng: np.random.Generator) -> np.ndarray:
    """Yearly expenditure on ``children`` looked after (NaN where the count is missing or not positive)."""
    n = np.asarray(children, dtype=float)
    z = rng.standard_normal(len(n))
    ok = np.isfinite(n) & (n > 0)
    safe = np.where(ok, n, 1.0)
    cost = weekly_cost * (safe / reference_children) ** elasticity * np.exp(noise_sd * z)
    return np.where(ok, safe * WEEKS_PER_YEAR * cost, np.nan)


def _line_rows(geo: list, amount: float) -> list[list]:
    """The component lines and the total of one geography-year: money columns rounded to pounds."""
    rows, totals = [], dict.fromkeys(PROVISION_SHARES, 0)
    for number, description, share in LINES:
        cells = {k: (int(round(amount * share * p)) if np.isfinite(amount) else "x") for k, p in PROVISION_SHARES.items()}
        total = sum(cells.values()) if np.isfinite(amount) else "x"
        rows.append(geo + ["Children looked after", f"{number} {description}", *cells.values(), total])
        for k in totals:
            totals[k] = totals[k] + cells[k] if np.isfinite(amount) else "x"
    grand = sum(totals.values()) if np.isfinite(amount) else "x"
    rows.append(geo + ["Children looked after", TOTAL_LINE, *totals.values(), grand])
    return rows


def synthetic_s251(cla: pd.DataFrame, *, elasticity: float, weekly_cost: float = 2100.0, reference_children: float = 400.0,
                   noise_sd: float = 0.15, seed: int = 0) -> pd.DataFrame:
    """The S251 file (as text cells) for ``cla``: columns ``la_code``, ``year`` (financial year start), ``children``."""
    need = [c for c in ("la_code", "year", "children") if c not in cla.columns]
    if need:
        raise KeyError(f"synthetic_s251: the children looked after table lacks column(s) {need}")
    if weekly_cost <= 0 or reference_children <= 0 or noise_sd < 0:
        raise ValueError("synthetic_s251: weekly_cost and reference_children must be positive and noise_sd non-negative")
    table = cla.assign(la_code=cla["la_code"].astype(str)).sort_values(["year", "la_code"])
    table = table[table["la_code"].str.fullmatch(r"\d{3}")].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    table["expenditure"] = _expenditure(table["children"].to_numpy(), elasticity=elasticity, weekly_cost=weekly_cost,
                                        reference_children=reference_children, noise_sd=noise_sd, rng=rng)
    ref = local_authorities().set_index("la_code")
    rows = []
    for year, group in table.groupby("year", sort=True):
        period = f"{int(year)}{(int(year) + 1) % 100:02d}"
        national = [period, "Financial year", "National", "E92000001", "England", "", "", "", "", ""]
        rows += _line_rows(national, float(np.nansum(group["expenditure"])))
        for code, amount in zip(group["la_code"], group["expenditure"]):
            info = ref.loc[code] if code in ref.index else None
            geo = [period, "Financial year", "Local authority", "E92000001", "England",
                   "" if info is None else info["ons_region_code"], "" if info is None else info["region_name"], code,
                   "" if info is None else info["ons_code"], f"Authority {code}" if info is None else info["la_name"]]
            rows += _line_rows(geo, float(amount))
    columns = [*_GEO, "category_of_expenditure", "description_of_expenditure", *PROVISION_SHARES, "total_expenditure"]
    return pd.DataFrame(rows, columns=columns).astype(str)


def write_synthetic_s251(path, cla: pd.DataFrame, **parameters) -> Path:
    """Write :func:`synthetic_s251` to ``path`` (UTF-8 CSV, as EES publishes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    synthetic_s251(cla, **parameters).to_csv(path, index=False, lineterminator="\n")
    return path
