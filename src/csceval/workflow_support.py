"""Small helpers for the Snakemake scripts in workflow/scripts (logging, table I/O)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pandas as pd


def log_to(path) -> logging.Logger:
    """Send logging and stderr of a Snakemake script to its ``log:`` file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the job
    sys.stderr = handle
    logging.basicConfig(
        stream=handle, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", force=True
    )
    logging.captureWarnings(True)
    return logging.getLogger("csceval.workflow")


def read_timing(path) -> pd.DataFrame:
    """Read a treatment_timing.csv written by the design rule, with its types restored."""
    timing = pd.read_csv(path, dtype={"la_code": str, "wave": str, "reason": str}, keep_default_na=False)
    for column in ("start_date", "first_treated"):
        timing[column] = pd.to_datetime(timing[column].replace("", None)).astype("datetime64[ns]")
    return timing


def write_parquet(table: pd.DataFrame, path) -> None:
    """Parquet without pandas' index; same table gives the same bytes."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(path, index=False)
