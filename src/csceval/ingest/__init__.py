"""Ingest of local-authority returns: DfE open-data files (and, later, SSDA903 and CIN census records)."""

from csceval.ingest.cin_census import CINCensusResult, read_cin_census
from csceval.ingest.ees import EES_SYMBOLS, read_ees
from csceval.ingest.errors import InputError
from csceval.ingest.lait import read_lait
from csceval.ingest.releases import release_from_name, resolve_revisions
from csceval.ingest.ssda903 import SSDA903Result, read_ssda903

__all__ = ["CINCensusResult", "EES_SYMBOLS", "InputError", "SSDA903Result", "read_cin_census", "read_ees", "read_lait", "read_ssda903", "release_from_name", "resolve_revisions"]
