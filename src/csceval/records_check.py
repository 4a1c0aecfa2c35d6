r"""Check the record-level path against the LA-level synthetic series (rule ``records_check``).

In a synthetic run the estimates use the LA-level series of the EES-format files
(``results/panel/ees_annual.parquet``).  The record-level path -- synthetic SSDA903 and CIN census
returns (:func:`csceval.simulate.records.simulate_record_returns`), read by the validated readers one
collection year at a time (:func:`csceval.ingest.records.read_record_year`) and aggregated to a panel
(:mod:`csceval.records_panel`) -- must give the same numbers for every LA x year x outcome both can
produce, or the record path and the EES path are measuring different things.

Why the comparison is exact
---------------------------
Both paths come from one in-memory model (:func:`csceval.simulate._model.la_level_model`: same seed,
populations, effects and counts).  The simulator writes each LA x collection-year return so that,
counted the DfE way, it reproduces the model counts *exactly*; the EES files publish LA counts
*unrounded* (only national and regional rows are rounded to 10, and the panel reads LA rows), and both
panels recompute the rate from the count and the same ONS mid-year population.  So the numerator and
the denominator must be equal integers.  The rate is compared with a relative tolerance of
:data:`RELATIVE_TOLERANCE` only to absorb a different order of floating-point operations; a single
child more or less moves a rate by far more than that.  The one legitimate gap is disclosure control:
an EES count of 1 to 5 is published as ``c`` (and one more cell of an additive group may be
suppressed with it), so the EES panel has no value; such a row is ``ees_suppressed`` and passes,
because there is nothing to compare.

The same model also gives the truth: the records' ``true_effects.csv`` must equal the EES one row for
row.  And the readers must have accounted for every row of the returns: ``rows_read = rows_accepted +
rows_quarantined`` for every file and table, and none quarantined -- the synthetic returns are written
to the readers' rules, so a quarantined row is a disagreement between the simulator and a reader.

Outputs are aggregates only (LA, year, outcome, counts and rates): no child identifier can reach them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["RELATIVE_TOLERANCE", "CHECK_COLUMNS", "PASSING", "RecordsCheckError", "RecordsCheck",
           "compare_panels", "reconciliation_summary", "reconciliation_problems", "truth_problems",
           "run_records_check", "summary_markdown", "simulated_la_codes"]

#: Largest relative difference of two rates that still agree (float rounding only; see module docstring).
RELATIVE_TOLERANCE = 1e-9

CHECK_COLUMNS = ["la_code", "year", "outcome", "records_value", "ees_value", "difference", "records_numerator",
                 "ees_numerator", "records_denominator", "ees_denominator", "status"]
#: Statuses that pass: equal numbers, or nothing to compare because EES suppressed the count.
PASSING = ("agree", "ees_suppressed")
STATUS_ORDER = ["agree", "ees_suppressed", "disagree", "missing_records", "missing_ees"]
RECONCILIATION_COLUMNS = ["la_code", "collection", "rows_read", "rows_accepted", "rows_quarantined"]
COLLECTIONS = ("SSDA903", "CIN census")
#: At most this many problems are spelled out in the error message (all are in the log and the table).
MAX_LISTED = 20


class RecordsCheckError(ValueError):
    """The record-level path disagrees with the LA-level series; the message names LA, year and outcome."""


@dataclass
class RecordsCheck:
    """Result of :func:`run_records_check`: the tidy comparison, the reconciliation and every problem found."""

    table: pd.DataFrame
    reconciliation: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    truth_rows: int = 0
    not_compared: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise :class:`RecordsCheckError` listing the problems (the first :data:`MAX_LISTED`)."""
        if self.passed:
            return
        listed = self.problems[:MAX_LISTED]
        more = len(self.problems) - len(listed)
        raise RecordsCheckError(
            f"records check failed: {len(self.problems)} problem(s); the record-level path does not reproduce the "
            "LA-level synthetic series:\n  " + "\n  ".join(listed) + (f"\n  ... and {more} more" if more else ""))


# --------------------------------------------------------------------------------------------------
# panels
# --------------------------------------------------------------------------------------------------
def _annual_rows(panel: pd.DataFrame, la_codes, years, outcomes) -> pd.DataFrame:
    """Rows of an annual tidy panel for the LAs, collection years (period start + 1) and outcomes."""
    out = panel.assign(la_code=panel["la_code"].astype(str),
                       year=pd.to_datetime(panel["period"]).dt.year.astype(int) + 1)
    keep = out["la_code"].isin([str(c) for c in la_codes]) & out["year"].isin(list(years)) & out["outcome"].isin(outcomes)
    out = out.loc[keep, ["la_code", "year", "outcome", "value", "numerator", "denominator", "status"]]
    duplicated = out.duplicated(["la_code", "year", "outcome"])
    if duplicated.any():
        row = out[duplicated].iloc[0]
        raise RecordsCheckError(f"panel has more than one row for LA {row['la_code']}, {row['year']}, {row['outcome']}: "
                                "an annual panel has one row per LA x year x outcome")
    return out


def _status(m: pd.DataFrame, rtol: float) -> np.ndarray:
    """Status of each merged row (see :func:`compare_panels`)."""
    in_records, in_ees = m["_rec"].notna().to_numpy(), m["_ees"].notna().to_numpy()
    suppressed = in_ees & m["ees_value"].isna().to_numpy() & m["ees_status"].fillna("").ne("").to_numpy()
    same = (m["records_numerator"].to_numpy() == m["ees_numerator"].to_numpy()) \
        & (m["records_denominator"].to_numpy() == m["ees_denominator"].to_numpy()) \
        & np.isclose(m["records_value"].to_numpy(dtype=float), m["ees_value"].to_numpy(dtype=float), rtol=rtol, atol=0.0)
    return np.select([~in_records, ~in_ees, suppressed, same], ["missing_records", "missing_ees", "ees_suppressed", "agree"],
                     "disagree")


def compare_panels(records: pd.DataFrame, ees: pd.DataFrame, la_codes, years, outcomes,
                   rtol: float = RELATIVE_TOLERANCE) -> pd.DataFrame:
    """One row per LA x collection year x outcome: the records value, the EES value and a status.

    ``records`` and ``ees`` are annual tidy panels (:data:`csceval.panel.PANEL_COLUMNS`); ``years`` are
    collection years (year ending 31 March).  Every LA x year x outcome of the grid must be in both
    panels (``missing_records`` / ``missing_ees`` otherwise).  Statuses: ``agree`` (equal numerator and
    denominator, rates within ``rtol``), ``ees_suppressed`` (EES has a symbol and no value: nothing to
    compare), ``disagree``.  ``difference`` is records minus EES.
    """
    la_codes, years, outcomes = [str(c) for c in la_codes], [int(y) for y in years], list(outcomes)
    grid = pd.MultiIndex.from_product([sorted(la_codes), sorted(years), outcomes], names=["la_code", "year", "outcome"])
    grid = grid.to_frame(index=False)
    rec = _annual_rows(records, la_codes, years, outcomes).drop(columns="status")
    rec = rec.rename(columns={"value": "records_value", "numerator": "records_numerator",
                              "denominator": "records_denominator"})
    pub = _annual_rows(ees, la_codes, years, outcomes).rename(
        columns={"value": "ees_value", "numerator": "ees_numerator", "denominator": "ees_denominator",
                 "status": "ees_status"})
    keys = ["la_code", "year", "outcome"]
    m = grid.merge(rec.assign(_rec=True), on=keys, how="left").merge(pub.assign(_ees=True), on=keys, how="left")
    m["status"] = _status(m, rtol)
    m["difference"] = m["records_value"] - m["ees_value"]
    return m[CHECK_COLUMNS].reset_index(drop=True)


def _comparison_problems(table: pd.DataFrame) -> list[str]:
    bad = table[~table["status"].isin(PASSING)]
    problems = []
    for row in bad.itertuples(index=False):
        if row.status == "disagree":
            problems.append(
                f"LA {row.la_code}, {row.year}, {row.outcome}: records {row.records_value:.6g} "
                f"({row.records_numerator:.0f} / {row.records_denominator:.0f}) != EES {row.ees_value:.6g} "
                f"({row.ees_numerator:.0f} / {row.ees_denominator:.0f})")
        else:
            where = "the records panel" if row.status == "missing_records" else "the EES panel"
            problems.append(f"LA {row.la_code}, {row.year}, {row.outcome}: no row in {where}")
    return problems


# --------------------------------------------------------------------------------------------------
# reconciliation and truth
# --------------------------------------------------------------------------------------------------
def reconciliation_summary(reconciliation: pd.DataFrame) -> pd.DataFrame:
    """Rows read, accepted and quarantined per collection year x collection (files counted)."""
    totals = reconciliation.groupby(["collection_year", "collection"], sort=True).agg(
        files=("la_code", "nunique"), rows_read=("rows_read", "sum"), rows_accepted=("rows_accepted", "sum"),
        rows_quarantined=("rows_quarantined", "sum"))
    return totals.reset_index()


def reconciliation_problems(reconciliation: pd.DataFrame, la_codes, years) -> list[str]:
    """Every LA x year must have both returns read, every row accounted for, none quarantined.

    ``reconciliation`` is the concatenation of the ``<year>_reconciliation.csv`` files of rule
    ``ingest_records`` (columns ``collection_year`` plus :data:`RECONCILIATION_COLUMNS`).
    """
    missing = [c for c in ["collection_year", *RECONCILIATION_COLUMNS] if c not in reconciliation.columns]
    if missing:
        return [f"reconciliation tables lack column(s) {missing}: cannot tell whether every row was read"]
    recon = reconciliation.assign(la_code=reconciliation["la_code"].astype(str))
    problems = []
    present = set(zip(recon["la_code"], recon["collection_year"].astype(int), recon["collection"]))
    for la in sorted(str(c) for c in la_codes):
        for year in sorted(int(y) for y in years):
            for collection in COLLECTIONS:
                if (la, year, collection) not in present:
                    problems.append(f"LA {la}, {year}, {collection}: no return was read (not in the reconciliation)")
    for row in recon.itertuples(index=False):
        where = f"LA {row.la_code}, {row.collection_year}, {row.collection}"
        table = f" table {row.table}" if "table" in recon.columns else ""
        if row.rows_read != row.rows_accepted + row.rows_quarantined:
            problems.append(f"{where}{table}: rows read {row.rows_read} != accepted {row.rows_accepted} + quarantined "
                            f"{row.rows_quarantined}")
        if row.rows_quarantined:
            problems.append(f"{where}{table}: {row.rows_quarantined} row(s) quarantined from synthetic returns (see "
                            "results/ingest/records/<year>_quarantine.csv): simulator and reader disagree")
    return problems


def truth_problems(records_truth: pd.DataFrame, ees_truth: pd.DataFrame) -> list[str]:
    """The true effects written with the records must be those written with the EES files, cell for cell."""
    if list(records_truth.columns) != list(ees_truth.columns):
        return [f"true effects: columns differ (records {list(records_truth.columns)}, EES {list(ees_truth.columns)})"]
    if len(records_truth) != len(ees_truth):
        return [f"true effects: {len(records_truth)} rows with the records, {len(ees_truth)} with the EES files"]
    a, b = records_truth.reset_index(drop=True), ees_truth.reset_index(drop=True)
    differs = (a.ne(b) & ~(a.isna() & b.isna())).any(axis=1)
    if not differs.any():
        return []
    i = int(np.flatnonzero(differs.to_numpy())[0])
    return [f"true effects: {int(differs.sum())} row(s) differ, first at row {i + 1}: records "
            f"{a.iloc[i].to_dict()} != EES {b.iloc[i].to_dict()}"]


# --------------------------------------------------------------------------------------------------
# the whole check
# --------------------------------------------------------------------------------------------------
def run_records_check(records: pd.DataFrame, ees: pd.DataFrame, reconciliation: pd.DataFrame, la_codes, years,
                      outcomes, records_truth: pd.DataFrame | None = None, ees_truth: pd.DataFrame | None = None,
                      rtol: float = RELATIVE_TOLERANCE) -> RecordsCheck:
    """Compare the panels for every outcome both can produce (of ``outcomes``), check the reconciliation and truth.

    Outcomes the records panel has but the EES panel lacks are listed in ``not_compared``; an outcome of
    ``outcomes`` the records panel cannot produce at all is a problem (the record path lost a measure).
    """
    ees_outcomes = set(ees["outcome"])
    record_outcomes = set(records["outcome"])
    compared = [o for o in outcomes if o in ees_outcomes]
    problems = [f"outcome {o}: the EES panel has it, the records panel does not" for o in compared
                if o not in record_outcomes]
    table = compare_panels(records, ees, la_codes, years, compared, rtol=rtol)
    problems += _comparison_problems(table)
    problems += reconciliation_problems(reconciliation, la_codes, years)
    truth_rows = 0
    if records_truth is not None and ees_truth is not None:
        problems += truth_problems(records_truth, ees_truth)
        truth_rows = len(ees_truth)
    not_compared = sorted(record_outcomes - set(compared))
    return RecordsCheck(table, reconciliation_summary(reconciliation), problems, truth_rows, not_compared)


def _markdown_table(frame: pd.DataFrame) -> list[str]:
    cells = frame.astype(str)
    lines = ["| " + " | ".join(cells.columns) + " |", "|" + "|".join("---" for _ in cells.columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False)]
    return lines


def summary_markdown(check: RecordsCheck, la_codes, years) -> str:
    """A short human-readable account of the check: verdict, counts by outcome and status, reconciliation."""
    table = check.table
    n_pass = int(table["status"].isin(PASSING).sum())
    verdict = "PASS" if check.passed else f"FAIL ({len(check.problems)} problem(s))"
    years = sorted(int(y) for y in years)
    lines = [
        "# Records check: the record-level path against the LA-level synthetic series",
        "",
        f"**{verdict}.** {n_pass} of {len(table)} LA x year x outcome comparisons pass.",
        "",
        f"Synthetic SSDA903 and CIN census returns of LAs {', '.join(sorted(str(c) for c in la_codes))}, collection "
        f"years {years[0]}-{years[-1]}, read by the validated readers (rule ingest_records), aggregated to "
        "results/panel/records_annual.parquet (rule records_panel) and compared with "
        "results/panel/ees_annual.parquet, the panel the estimates use.",
        "Both come from the same LA-level model and the EES files publish LA counts unrounded, so numerators and "
        f"denominators must be equal and rates equal to a relative {RELATIVE_TOLERANCE:g} (floating point only); "
        "an EES cell suppressed for disclosure (1-5) has nothing to compare (ees_suppressed, passes).",
        "",
        "## By outcome",
        "",
    ]
    counts = pd.crosstab(table["outcome"], pd.Categorical(table["status"], categories=STATUS_ORDER), dropna=False)
    counts = counts.loc[:, counts.sum(axis=0).gt(0) | counts.columns.isin(PASSING[:1])]
    lines += _markdown_table(counts.reset_index().rename(columns={"row_0": "outcome"}))
    lines += ["", "## Reconciliation (rows read = accepted + quarantined)", ""]
    lines += _markdown_table(check.reconciliation)
    lines += [""]
    if check.truth_rows:
        lines.append(f"True effects: the records' true_effects.csv was compared with the EES one ({check.truth_rows} rows).")
    if check.not_compared:
        lines.append("Not compared (the EES panel has no series for them): " + ", ".join(check.not_compared) + ".")
    if check.problems:
        lines += ["", "## Problems", "", *[f"- {p}" for p in check.problems[:MAX_LISTED]]]
        if len(check.problems) > MAX_LISTED:
            lines.append(f"- ... and {len(check.problems) - MAX_LISTED} more (see the log)")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# which LAs the synthetic model simulates (workflow parse time)
# --------------------------------------------------------------------------------------------------
def simulated_la_codes(simulate: dict, programmes: dict) -> set[str]:
    """Real LA codes the synthetic model simulates: every LA reporting in the span, or with ``n_las`` the
    programmes' LAs plus the seeded sample (the same draw as :func:`csceval.simulate._model.la_level_model`).

    The workflow uses it to keep the records check to LAs that have returns when a small test run
    simulates only a sample of LAs.
    """
    from csceval.simulate._dgp import real_units
    from csceval.simulate._model import sample_units

    years = np.arange(int(simulate.get("first_year", 2013)), int(simulate.get("last_year", 2029)) + 1)
    units = real_units()
    span = {str(c) for c in units.code[units.reports(years).any(axis=1)]}
    n_las = simulate.get("n_las")
    if n_las is None or int(n_las) >= len(span):
        return span
    programme_codes = sorted({str(c) for spec in programmes.values() for wave in spec.get("waves", [])
                              for c in wave.get("la_codes", [])})
    return set(sample_units(span, programme_codes, int(n_las), int(simulate.get("seed", 20230701))))
