"""Postcode-centroid lookup and great-circle distances: hand-computed distances, normalisation,
finest-level matching and clear errors for bad lookup rows."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from csceval.geo import (EARTH_RADIUS_MILES, distance_between_postcodes, haversine_miles, locate_postcodes,
                         normalise_postcodes, read_postcode_lookup)
from csceval.ingest.errors import InputError

R = 6371.0088 / 1.609344          # IUGG mean Earth radius, km -> statute miles


def _cosine_law_miles(lat1, lon1, lat2, lon2):
    """Independent great-circle formula (spherical law of cosines), for points far enough apart."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    return R * math.acos(math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl))


def test_earth_radius_is_the_mean_radius_in_miles():
    assert EARTH_RADIUS_MILES == pytest.approx(3958.76, abs=0.01), "distances must use the mean radius in statute miles"


@pytest.mark.parametrize("points, miles, why", [
    ((0, 0, 0, 1), R * math.pi / 180, "one degree of longitude on the equator is R * pi / 180"),
    ((51.0, -1.0, 52.0, -1.0), R * math.pi / 180, "one degree along a meridian is R * pi / 180 at any latitude"),
    ((90, 0, 0, 0), R * math.pi / 2, "pole to equator is a quarter of a great circle"),
    ((0, 0, 0, 180), R * math.pi, "antipodes are half a great circle apart"),
    ((60, 0, 60, 180), R * math.pi / 3, "60N 0E to 60N 180E passes over the pole: 2 x 30 degrees"),
    ((52.0, -1.0, 52.0, -1.0), 0.0, "a point is 0 miles from itself"),
])
def test_haversine_matches_hand_computed_distances(points, miles, why):
    assert haversine_miles(*points) == pytest.approx(miles, rel=1e-12, abs=1e-9), why


def test_haversine_agrees_with_the_law_of_cosines_on_real_places():
    london, paris, edinburgh = (51.5074, -0.1278), (48.8566, 2.3522), (55.9533, -3.1883)
    for a, b in ((london, paris), (london, edinburgh), (paris, edinburgh)):
        assert haversine_miles(*a, *b) == pytest.approx(_cosine_law_miles(*a, *b), rel=1e-9), f"{a} to {b}"
    assert 210 < haversine_miles(*london, *paris) < 216, "London to Paris is about 213 miles as the crow flies"


def test_haversine_is_vectorised_symmetric_and_propagates_missing():
    lat1, lon1 = np.array([51.0, np.nan, 53.0]), np.array([-1.0, 0.0, -2.0])
    lat2, lon2 = np.array([52.0, 52.0, 54.5]), np.array([0.5, 0.0, 1.0])
    d = haversine_miles(lat1, lon1, lat2, lon2)
    assert np.isnan(d[1]) and not np.isnan(d[[0, 2]]).any(), "a missing coordinate gives a missing distance, only there"
    assert np.allclose(d[[0, 2]], haversine_miles(lat2, lon2, lat1, lon1)[[0, 2]]), "distance must not depend on direction"


def test_postcodes_are_normalised_to_one_spelling():
    parsed = normalise_postcodes(pd.Series(["sw1a 1aa", "SW1A1AA", " SW1A  1AA ", "N1  6AA", "SW1A 1", "sw1a", "SW11",
                                            "", None, "12 3AB", "SW1A 1AAA"]))
    assert parsed["unit"].tolist()[:4] == ["SW1A 1AA", "SW1A 1AA", "SW1A 1AA", "N1 6AA"], \
        "case, spacing and ONSPD's fixed-width spelling must not matter for a full postcode"
    assert parsed["kind"].tolist() == ["unit"] * 4 + ["sector", "district", "district", "", "", "", ""], \
        "a sector keeps its space; without one, SW11 is the district SW11; malformed values are not postcodes"
    assert parsed.loc[0, ["sector", "district"]].tolist() == ["SW1A 1", "SW1A"], "a postcode's sector and district"


def _write(tmp_path, text: str, name="lookup.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_lookup_reads_units_sectors_and_districts(tmp_path):
    path = _write(tmp_path, "pcds,lat,long\nsw1a 1aa,51.501,-0.142\nSW1A 2,51.503,-0.127\nM1,53.48,-2.24\n"
                            "ZZ1 1ZZ,99.999999,0.000000\nSW1A1AA,51.501,-0.142\n")
    lookup = read_postcode_lookup(path)
    assert sorted(lookup.index) == ["M1", "SW1A 1AA", "SW1A 2"], \
        "ONSPD column names are accepted, spellings normalised, an exact repeat kept once, no-location rows left out"
    assert lookup.loc["SW1A 2", "latitude"] == 51.503


def test_postcodes_are_located_at_the_finest_level_the_lookup_has(tmp_path):
    lookup = read_postcode_lookup(_write(tmp_path, "postcode,latitude,longitude\nSW1A 1AA,51.0,-0.1\n"
                                                   "SW1A 2,52.0,-0.2\nSW1A,53.0,-0.3\n"))
    lat, _ = locate_postcodes(["sw1a1aa", "SW1A 2BB", "SW1A 3CC", "SW1A", "M1 1AA", "", "not a postcode"], lookup)
    assert lat[:4].tolist() == [51.0, 52.0, 53.0, 53.0], "full postcode, else its sector, else its district"
    assert np.isnan(lat[4:]).all(), "unknown, blank and malformed postcodes have no location"


def test_distance_between_postcodes(tmp_path):
    lookup = read_postcode_lookup(_write(tmp_path, "postcode,latitude,longitude\nAB1 1AA,52.0,-1.0\nAB1 1AB,53.0,-1.0\n"))
    d = distance_between_postcodes(["AB1 1AA", "AB1 1AA", ""], ["AB1 1AB", "ZZ9 9ZZ", "AB1 1AB"], lookup)
    assert d[0] == pytest.approx(R * math.pi / 180), "one degree of latitude apart"
    assert np.isnan(d[1:]).all(), "no distance when either postcode has no centroid"


@pytest.mark.parametrize("text, row, field, rule", [
    ("postcode,latitude,longitude\nSW1A 1AA,51.5,-0.1\nnot a postcode,51.5,-0.1\n", 3, "postcode", "not a postcode"),
    ("postcode,latitude,longitude\nSW1A 1AA,,-0.1\n", 2, "latitude", "not a latitude"),
    ("postcode,latitude,longitude\nSW1A 1AA,51.5,200\n", 2, "longitude", "not a longitude"),
    ("postcode,latitude,longitude\nSW1A 1AA,51.5,-0.1\nsw1a1aa,52.5,-0.1\n", 3, "postcode", "two different centroids"),
    ("pc,latitude,longitude\nSW1A 1AA,51.5,-0.1\n", 1, None, "no postcode column"),
])
def test_bad_lookup_rows_are_refused_with_file_row_and_field(tmp_path, text, row, field, rule):
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=rule) as caught:
        read_postcode_lookup(path)
    assert (caught.value.row, caught.value.field) == (row, field), f"the error must point at row {row}, field {field}"
    assert caught.value.file == str(path)


def test_missing_lookup_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_postcode_lookup(tmp_path / "absent.csv")
