"""Ingest of local-authority returns: DfE open-data files, SSDA903 and CIN census records."""

from csceval.ingest.cin_census import CINCensusResult, read_cin_census, read_cin_census_many
from csceval.ingest.ees import EES_SYMBOLS, read_ees
from csceval.ingest.errors import InputError
from csceval.ingest.lait import read_lait
from csceval.ingest.records import RecordYear, read_record_year
from csceval.ingest.releases import release_from_name, resolve_revisions
from csceval.ingest.ssda903 import SSDA903Result, read_ssda903, read_ssda903_many

__all__ = ["CINCensusResult", "EES_SYMBOLS", "InputError", "RecordYear", "SSDA903Result", "read_cin_census",
           "read_cin_census_many", "read_ees", "read_lait", "read_record_year", "read_ssda903", "read_ssda903_many",
           "release_from_name", "resolve_revisions"]
