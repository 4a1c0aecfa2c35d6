"""Ingest of local-authority returns: DfE open-data files (and, later, SSDA903 and CIN census records)."""

from csceval.ingest.ees import EES_SYMBOLS, read_ees
from csceval.ingest.errors import InputError

__all__ = ["EES_SYMBOLS", "InputError", "read_ees"]
