r"""Postcode centroids and great-circle distances (placement distance from home, SSDA903).

A **postcode-centroid lookup** is a CSV file with one row per postcode, postcode sector or postcode
district and its centroid's latitude and longitude (WGS84 degrees), e.g. an extract of the ONS
Postcode Directory.  Columns (names case-insensitive, the first present of each list is used):

* postcode: ``postcode``, ``pcds``, ``pcd`` -- a full postcode (``SW1A 1AA``), a sector (``SW1A 1``,
  with the space) or a district (``SW1A``);
* latitude: ``latitude``, ``lat``;  longitude: ``longitude``, ``long``, ``lon``.

Postcodes are normalised before matching: upper case, surrounding blanks dropped, runs of blanks
collapsed (``sw1a  1aa`` is ``SW1A 1AA``; ONSPD's fixed-width ``pcd`` works).  A full postcode may be
written without its space; a sector needs it (``SW11`` is the district SW11, not sector ``SW1 1``).
Rows ONSPD marks as having no grid reference (latitude 99.999999) are left out: such a postcode is
"not found".  Anything else that is not a postcode, or not a coordinate in range, is an error naming
the file, row and field; so is one postcode given two different centroids.

A record's postcode is located at the finest level the lookup has: the full postcode, else its
sector, else its district.  Blank, malformed and unmatched postcodes have no location.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from csceval.ingest.errors import InputError

__all__ = ["EARTH_RADIUS_MILES", "haversine_miles", "normalise_postcodes", "read_postcode_lookup", "locate_postcodes",
           "distance_between_postcodes"]

#: Mean Earth radius (IUGG, 6,371.0088 km) in statute miles.
EARTH_RADIUS_MILES = 6371.0088 / 1.609344
#: ONSPD's latitude for a postcode with no grid reference.
ONSPD_NO_LOCATION = 99.999999

POSTCODE_COLUMNS = ("postcode", "pcds", "pcd")
LATITUDE_COLUMNS = ("latitude", "lat")
LONGITUDE_COLUMNS = ("longitude", "long", "lon")

_OUTWARD = r"[A-Z]{1,2}[0-9][A-Z0-9]?"
_UNIT = rf"^(?P<outward>{_OUTWARD})(?P<inward>[0-9][A-Z]{{2}})$"      # matched without spaces
_SECTOR = rf"^(?P<outward>{_OUTWARD}) (?P<digit>[0-9])$"
_DISTRICT = rf"^{_OUTWARD}$"


def haversine_miles(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in miles between points given in degrees (arrays broadcast; NaN in, NaN out).

    Haversine formula on a sphere of radius :data:`EARTH_RADIUS_MILES`.
    """
    phi1, phi2 = np.radians(np.asarray(lat1, dtype=float)), np.radians(np.asarray(lat2, dtype=float))
    dphi = phi2 - phi1
    dlam = np.radians(np.asarray(lon2, dtype=float) - np.asarray(lon1, dtype=float))
    h = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def normalise_postcodes(values) -> pd.DataFrame:
    """Parse postcodes, sectors and districts.

    Returns
    -------
    DataFrame (index of ``values`` when a Series) with ``kind`` (``unit``, ``sector``, ``district``, or
    ``""`` for blank or malformed) and the canonical ``unit`` (``SW1A 1AA``), ``sector`` (``SW1A 1``) and
    ``district`` (``SW1A``) it belongs to (``""`` where not applicable).
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    text = (series.astype("string").fillna("").str.upper().str.strip()
            .str.replace(r"\s+", " ", regex=True))
    unit = text.str.replace(" ", "", regex=False).str.extract(_UNIT)
    sector = text.str.extract(_SECTOR)
    is_unit = unit["outward"].notna()
    is_sector = ~is_unit & sector["outward"].notna()
    is_district = ~is_unit & ~is_sector & text.str.fullmatch(_DISTRICT).fillna(False).astype(bool)
    outward = unit["outward"].where(is_unit, sector["outward"]).where(is_unit | is_sector, text.where(is_district))
    digit = unit["inward"].str[0].where(is_unit, sector["digit"])
    out = pd.DataFrame(index=series.index)
    out["kind"] = np.select([is_unit, is_sector, is_district], ["unit", "sector", "district"], "")
    out["unit"] = (unit["outward"] + " " + unit["inward"]).where(is_unit, "").astype(str)
    out["sector"] = (outward + " " + digit).where(is_unit | is_sector, "").astype(str)
    out["district"] = outward.where(out["kind"].ne(""), "").astype(str)
    return out


def _column(path: Path, header: list[str], names: tuple[str, ...], what: str) -> str:
    lower = {h.strip().lower(): h for h in header}
    for name in names:
        if name in lower:
            return lower[name]
    raise InputError(path, 1, None, f"no {what} column", f"expected one of {list(names)}; columns are {header}")


def read_postcode_lookup(path) -> pd.DataFrame:
    """Read a postcode-centroid CSV (see the module docstring).

    Returns
    -------
    DataFrame indexed by canonical postcode, sector or district (each once) with float ``latitude`` and
    ``longitude``.

    Raises
    ------
    InputError
        Missing file or column, a value that is not a postcode / sector / district, a coordinate that is
        not a number in range, or one postcode with two different centroids (file, row, field).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, None, "postcode lookup file not found")
    header = list(pd.read_csv(path, nrows=0, dtype=str).columns)
    cols = {"postcode": _column(path, header, POSTCODE_COLUMNS, "postcode"),
            "latitude": _column(path, header, LATITUDE_COLUMNS, "latitude"),
            "longitude": _column(path, header, LONGITUDE_COLUMNS, "longitude")}
    raw = pd.read_csv(path, usecols=list(cols.values()), dtype=str, keep_default_na=False)
    rows = np.arange(len(raw)) + 2                              # file line numbers (header is line 1)
    parsed = normalise_postcodes(raw[cols["postcode"]])
    _refuse(path, rows, cols["postcode"], raw[cols["postcode"]], parsed["kind"].eq("").to_numpy(),
            "not a postcode, postcode sector (with its space) or postcode district")
    text = {name: raw[cols[name]].str.strip() for name in ("latitude", "longitude")}
    coords = {name: pd.to_numeric(t, errors="coerce").to_numpy(dtype=float) for name, t in text.items()}
    located = coords["latitude"] != ONSPD_NO_LOCATION
    for name, limit in (("latitude", 90.0), ("longitude", 180.0)):
        bad = ~np.isfinite(coords[name]) | (np.abs(coords[name]) > limit)
        _refuse(path, rows, cols[name], text[name], bad & located, f"not a {name} in degrees (-{limit:g} to {limit:g})")
    key = parsed["unit"].where(parsed["kind"].eq("unit"), parsed["sector"].where(parsed["kind"].eq("sector"),
                                                                                  parsed["district"]))
    table = pd.DataFrame({"key": key.to_numpy(), "latitude": coords["latitude"], "longitude": coords["longitude"],
                          "row": rows})[located]
    table = table.drop_duplicates(["key", "latitude", "longitude"])
    clash = table["key"].duplicated(keep="first").to_numpy()
    _refuse(path, table["row"].to_numpy(), cols["postcode"], table["key"], clash,
            "the same postcode is given two different centroids")
    return table.set_index("key")[["latitude", "longitude"]]


def _refuse(path: Path, rows: np.ndarray, field: str, values: pd.Series, bad: np.ndarray, rule: str) -> None:
    """Raise InputError for the first row flagged ``bad`` (saying how many rows break the rule)."""
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        more = f"; {int(bad.sum()) - 1} more row(s) like it" if bad.sum() > 1 else ""
        raise InputError(path, int(rows[first]), field, rule, f"{values.iloc[first]!r}{more}")


def locate_postcodes(values, lookup: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude of each postcode at the finest level ``lookup`` holds (NaN: no location).

    Each distinct value is parsed and looked up once.
    """
    codes, distinct = pd.factorize(pd.Series(values, dtype="string").fillna(""))
    lat, lon = _locate_distinct(pd.Series(distinct), lookup)
    return lat[codes], lon[codes]


def _locate_distinct(values: pd.Series, lookup: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    parsed = normalise_postcodes(values)
    lat = np.full(len(parsed), np.nan)
    lon = np.full(len(parsed), np.nan)
    for level in ("unit", "sector", "district"):
        todo = np.isnan(lat) & parsed[level].ne("").to_numpy()
        if not todo.any():
            continue
        where = lookup.index.get_indexer(parsed[level].to_numpy()[todo])
        found = where >= 0
        idx = np.flatnonzero(todo)[found]
        lat[idx] = lookup["latitude"].to_numpy()[where[found]]
        lon[idx] = lookup["longitude"].to_numpy()[where[found]]
    return lat, lon


def distance_between_postcodes(home, placed, lookup: pd.DataFrame) -> np.ndarray:
    """Great-circle miles between the centroids of two postcode arrays (NaN where either has no location)."""
    lat1, lon1 = locate_postcodes(home, lookup)
    lat2, lon2 = locate_postcodes(placed, lookup)
    return haversine_miles(lat1, lon1, lat2, lon2)
