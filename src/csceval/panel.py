"""The tidy LA x period x outcome panel built from DfE open-data files.

Contract (``results/panel/*.parquet``): ``la_code`` (old 3-digit DfE code, str), ``period`` (start date
of the period: reporting year 2024, ending 31 March 2024, starts 2023-04-01), ``outcome``, ``value``,
``numerator``, ``denominator``, ``status`` (EES symbol of whichever input was missing, or ``""``).

Rates are recomputed from the LA counts and the ONS 0-17 mid-year population estimate of the
calendar year before the reporting year (the DfE convention), unrounded, rather than taken from the
published rounded rates.
"""

from __future__ import annotations

import logging
from fnmatch import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from csceval.ingest import InputError, read_ees

log = logging.getLogger(__name__)

PANEL_COLUMNS = ["la_code", "period", "outcome", "value", "numerator", "denominator", "status"]
PER_10K = 10_000.0


@dataclass(frozen=True)
class OutcomeSpec:
    """Where an outcome comes from in the EES files and what it means."""

    label: str
    short_label: str
    file_pattern: str
    measure: str
    filters: dict[str, str] = field(default_factory=dict)
    unit: str = "per 10,000 children aged 0-17"
    collection: str = ""


POPULATION = OutcomeSpec(
    label="Children aged 0-17 (ONS mid-year estimate)",
    short_label="Children aged 0-17",
    file_pattern="ons_mid-year_population_estimates_*.csv",
    measure="population_estimate",
    unit="children",
    collection="ONS mid-year population estimates",
)

#: Outcome name -> definition. Names say what the outcome is in the domain.
OUTCOMES: dict[str, OutcomeSpec] = {
    "cin_rate_per_10k": OutcomeSpec(
        "Children in need at 31 March per 10,000 children", "Children in need (31 March)", "b1_children_in_need_*.csv", "At31_episodes",
        collection="Children in need census",
    ),
    "referral_rate_per_10k": OutcomeSpec(
        "Referrals to children's social care in the year per 10,000 children", "Referrals",
        "c1_children_in_need_referrals_and_rereferrals_*.csv", "referral_count",
        collection="Children in need census",
    ),
    "cpp_rate_per_10k": OutcomeSpec(
        "Children on a child protection plan at 31 March per 10,000 children", "Children on a child protection plan (31 March)",
        "d5_cpps_at31march_by_duration_*.csv", "CPP_At31", collection="Children in need census",
    ),
    "cpp_starts_rate_per_10k": OutcomeSpec(
        "Child protection plans started in the year per 10,000 children", "Child protection plans started",
        "d3_cpps_subsequent_plan_*.csv", "CPP_start", collection="Children in need census",
    ),
    "cla_rate_per_10k": OutcomeSpec(
        "Children looked after at 31 March per 10,000 children", "Children looked after (31 March)",
        "cla_number_and_rate_per_10k_children*.csv", "children_count",
        {"population_type": "Children looked after on 31 March each year"},
        collection="SSDA903 (children looked after)",
    ),
    "cla_starts_rate_per_10k": OutcomeSpec(
        "Children starting to be looked after in the year per 10,000 children", "Children starting to be looked after",
        "cla_number_and_rate_per_10k_children*.csv", "children_count",
        {"population_type": "Children starting to be looked after each year"},
        collection="SSDA903 (children looked after)",
    ),
}


def reporting_year_start(year) -> pd.Timestamp:
    """Start date of a DfE reporting year (the year ending 31 March ``year``)."""
    return pd.Timestamp(int(year) - 1, 4, 1)


def period_reporting_year(period) -> int:
    """Reporting year (ending 31 March) of an annual period given by its start date."""
    return pd.Timestamp(period).year + 1


def find_input(ees_dir: Path, spec: OutcomeSpec) -> Path:
    """The one file in ``ees_dir`` matching ``spec.file_pattern``."""
    matches = sorted(Path(ees_dir).glob(spec.file_pattern))
    if not matches:
        raise InputError(ees_dir / spec.file_pattern, None, None, f"no file matches {spec.file_pattern!r} ({spec.label})")
    if len(matches) > 1:
        names = ", ".join(m.name for m in matches)
        raise InputError(
            ees_dir / spec.file_pattern, None, None,
            "more than one release of this file is present; keep one", names,
        )
    return matches[0]


def find_inputs(ees_dir: Path, spec: OutcomeSpec) -> list[Path]:
    """Every release of the file matching ``spec.file_pattern`` in ``ees_dir`` (oldest first).

    Several releases may sit side by side (e.g. ``..._2013_to_2024.csv`` and ``..._2013_to_2025.csv``);
    :func:`combine_releases` then keeps the newest value of each cell. Their names must say which release
    they are (:func:`csceval.ingest.release_from_name`), or the order would be a guess.
    """
    from csceval.ingest.releases import release_from_name

    matches = sorted(Path(ees_dir).glob(spec.file_pattern))
    if not matches:
        raise InputError(ees_dir / spec.file_pattern, None, None, f"no file matches {spec.file_pattern!r} ({spec.label})")
    if len(matches) > 1:
        releases = [release_from_name(m) for m in matches]
        if len(set(releases)) < len(releases):
            raise InputError(ees_dir / spec.file_pattern, None, None, "two files claim the same release; keep one",
                             ", ".join(m.name for m in matches))
        matches = [m for _, m in sorted(zip(releases, matches))]
    return matches


def combine_releases(tables: dict[str, pd.DataFrame], outcomes=None) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Merge several releases of the same file into one table where the newest release of each cell wins.

    ``tables`` maps file names to tables read with :func:`read_ees`. For every input the panel needs
    (population and ``outcomes``), files matching its pattern are combined with
    :func:`csceval.ingest.resolve_revisions` and kept under the newest file's name. Returns the tables and
    the log of every cell whose value or symbol changed between releases (with a ``file_pattern`` column).
    """
    from csceval.ingest.releases import release_from_name, resolve_revisions

    outcomes = list(OUTCOMES) if outcomes is None else list(outcomes)
    out = dict(tables)
    logs = []
    for pattern in dict.fromkeys(spec.file_pattern for spec in [POPULATION, *(OUTCOMES[o] for o in outcomes)]):
        names = sorted(n for n in out if fnmatch(n, pattern))
        if len(names) < 2:
            continue
        releases = {release_from_name(n): n for n in names}
        resolved, revised = resolve_revisions({release: out[name] for release, name in releases.items()})
        newest = releases[max(releases)]
        for name in names:
            del out[name]
        out[newest] = resolved.drop(columns="release")
        logs.append(revised.assign(file_pattern=pattern))
        log.info("%s: %d releases (%s), newest wins; %d cells revised", pattern, len(names), ", ".join(sorted(releases)), len(revised))
    revisions = pd.concat(logs, ignore_index=True) if logs else pd.DataFrame(columns=["file_pattern"])
    return out, revisions


def _la_rows(table: pd.DataFrame, spec: OutcomeSpec, path: Path) -> pd.DataFrame:
    rows = table[table["geographic_level"].eq("Local authority") & table["measure"].eq(spec.measure)]
    for column, wanted in spec.filters.items():
        if column not in rows.columns:
            raise InputError(path, 1, column, "breakdown column needed to select the outcome is missing")
        rows = rows[rows[column].eq(wanted)]
    if rows.empty:
        raise InputError(path, None, spec.measure, f"no Local authority rows for measure {spec.measure!r} with {spec.filters}")
    if not rows["time_period"].str.fullmatch(r"\d{4}").all():
        bad = rows.loc[~rows["time_period"].str.fullmatch(r"\d{4}")].iloc[0]
        raise InputError(path, int(bad["source_row"]), "time_period", "expected a 4-digit reporting year", repr(bad["time_period"]))
    duplicated = rows.duplicated(["la_code", "time_period"], keep=False)
    if duplicated.any():
        bad = rows.loc[duplicated].iloc[1]
        raise InputError(path, int(bad["source_row"]), "old_la_code", "more than one row for this LA and year", f"{bad['la_code']} {bad['time_period']}")
    return rows


SOURCE_COLUMNS = ["outcome", "file", "measure", "filters", "la_rows", "suppressed_or_missing", "years"]


def _matching(tables: dict[str, pd.DataFrame], spec: OutcomeSpec) -> tuple[str, pd.DataFrame]:
    names = sorted(n for n in tables if fnmatch(n, spec.file_pattern))
    if not names:
        raise InputError(spec.file_pattern, None, None, f"no input file matches {spec.file_pattern!r} ({spec.label})")
    if len(names) > 1:
        raise InputError(spec.file_pattern, None, None, "more than one release of this file is present; keep one", ", ".join(names))
    return names[0], tables[names[0]]


def assemble_panel(tables: dict[str, pd.DataFrame], outcomes=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the tidy annual LA panel from EES files already read with :func:`read_ees`.

    Parameters
    ----------
    tables : file name (as published, e.g. ``b1_children_in_need_2013_to_2025.csv``) -> long table.
    outcomes : outcome names (keys of :data:`OUTCOMES`); all by default.

    Returns
    -------
    panel : DataFrame with :data:`PANEL_COLUMNS`, sorted by outcome, la_code, period. Rows whose LA
        count is ``z`` (the authority did not exist that year) are dropped; other symbols keep their
        row with a missing value and the symbol in ``status``.
    sources : one row per outcome naming the file and measure it came from (provenance).
    """
    outcomes = list(OUTCOMES) if outcomes is None else list(outcomes)
    unknown = [o for o in outcomes if o not in OUTCOMES]
    if unknown:
        raise ValueError(f"unknown outcome(s) {unknown}; known: {sorted(OUTCOMES)}")

    pop_name, pop_table = _matching(tables, POPULATION)
    pop = _la_rows(pop_table, POPULATION, Path(pop_name))
    pop = pop.assign(reporting_year=pop["time_period"].astype(int) + 1)
    pop = pop[["la_code", "reporting_year", "value", "status"]].rename(columns={"value": "denominator", "status": "den_status"})

    pieces, sources = [], []
    for name in outcomes:
        spec = OUTCOMES[name]
        file_name, table = _matching(tables, spec)
        path = Path(file_name)
        rows = _la_rows(table, spec, path)
        rows = rows[rows["status"].ne("z")]
        if (rows["value"] < 0).any():
            bad = rows.loc[rows["value"] < 0].iloc[0]
            raise InputError(path, int(bad["source_row"]), spec.measure, "count is negative", repr(bad["value"]))
        rows = rows.assign(reporting_year=rows["time_period"].astype(int))
        merged = rows.merge(pop, on=["la_code", "reporting_year"], how="left", validate="one_to_one")
        merged["den_status"] = merged["den_status"].fillna("x").replace("", "x")
        denominator = merged["denominator"].where(merged["denominator"] > 0)
        status = np.where(merged["status"].ne(""), merged["status"], np.where(denominator.isna(), merged["den_status"], ""))
        piece = pd.DataFrame(
            {
                "la_code": merged["la_code"].astype(str),
                "period": merged["reporting_year"].map(reporting_year_start),
                "outcome": name,
                "value": (merged["value"] / denominator * PER_10K).astype(float),
                "numerator": merged["value"].astype(float),
                "denominator": merged["denominator"].astype(float),
                "status": pd.Series(status, index=merged.index).astype(str),
            }
        )
        pieces.append(piece)
        sources.append(
            dict(
                outcome=name, file=file_name, measure=spec.measure,
                filters="; ".join(f"{k} = {v}" for k, v in spec.filters.items()),
                la_rows=len(piece), suppressed_or_missing=int(piece["value"].isna().sum()),
                years=f"{merged['reporting_year'].min()}-{merged['reporting_year'].max()}",
            )
        )
        log.info("%s: %d LA rows from %s (%d without a value)", name, len(piece), file_name, piece["value"].isna().sum())
    sources.append(
        dict(
            outcome="(denominator of every rate)", file=pop_name, measure=POPULATION.measure, filters="",
            la_rows=len(pop), suppressed_or_missing=int(pop["denominator"].isna().sum()),
            years=f"{pop['reporting_year'].min()}-{pop['reporting_year'].max()} (reporting years served)",
        )
    )
    panel = pd.concat(pieces, ignore_index=True)
    panel["period"] = pd.to_datetime(panel["period"]).astype("datetime64[ns]")
    panel = panel.sort_values(["outcome", "la_code", "period"], ignore_index=True)[PANEL_COLUMNS]
    return panel, pd.DataFrame(sources, columns=SOURCE_COLUMNS)


def build_ees_panel(ees_dir, outcomes=None) -> pd.DataFrame:
    """Read the EES files in ``ees_dir`` and build the panel (see :func:`assemble_panel`)."""
    ees_dir = Path(ees_dir)
    outcomes = list(OUTCOMES) if outcomes is None else list(outcomes)
    specs = [POPULATION] + [OUTCOMES[o] for o in outcomes if o in OUTCOMES]
    paths = {path for spec in specs for path in find_inputs(ees_dir, spec)}
    tables, _ = combine_releases({p.name: read_ees(p) for p in sorted(paths)}, outcomes)
    panel, _ = assemble_panel(tables, outcomes)
    return panel
