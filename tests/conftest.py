"""Shared test set-up: headless plotting, caches kept out of the home folder, paths to real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED_EES = REPO.parent / "shared" / "data" / "ees"
SHARED_REASON = "real DfE files not present at ../shared/data/ees (they are never copied into the repo)"


@pytest.fixture(scope="session")
def shared_ees() -> Path:
    """Folder of the real DfE open-data files; skips the test with a stated reason when absent."""
    if not SHARED_EES.is_dir():
        pytest.skip(SHARED_REASON)
    return SHARED_EES

SHARED_LAIT = REPO.parent / "shared" / "data" / "lait"
SHARED_LAIT_REASON = "real LAIT parquet not present at ../shared/data/lait (it is never copied into the repo)"


@pytest.fixture(scope="session")
def shared_lait() -> Path:
    """Folder of the real LAIT parquet and data dictionary; skips the test with a stated reason when absent."""
    if not (SHARED_LAIT / "bds_long_0.parquet").is_file():
        pytest.skip(SHARED_LAIT_REASON)
    return SHARED_LAIT
