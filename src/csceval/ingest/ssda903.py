"""Reader for the SSDA903 return (children looked after), collection years 2017 to 2026.

:func:`read_ssda903` reads one local authority's return in any of its usual forms:

* a folder of CSV tables named as DfE / LA systems write them (``episodes.csv``, ``header.csv``,
  ``uasc.csv``, ``missing.csv``, ``reviews.csv``, ``oc2.csv``, ``oc3.csv``, ``ad1.csv``,
  ``placed_for_adoption.csv``, ``previous_permanence.csv``, ``sw_episodes.csv``; names such as
  ``SSDA903_2025_episodes.csv`` work too). A file is matched to a table by its columns (names only
  break ties), so odd file names are fine. Other files in the folder are listed in ``notes``.
* one such CSV file;
* the XML form ``EXPSSDA903 -> CHILD -> HEADER / EPISODE / ...`` (placement in ``<PL>``, child in
  ``<CHILDID>``).

The layout of every year (tables, fields, required fields, code lists, date formats, XML element
names) is data: ``schemas/ssda903.yaml``, expanded per year by :func:`schema_for_year`.

**Collection year.** The year ending 31 March that the return covers (2024-25 is 2025). Pass
``year=``; when it is ``None`` the year is inferred from the data: the collection year of the latest
episode start date (DECOM) that is not in the future, i.e. ``DECOM.year + 1`` for DECOM in April to
December and ``DECOM.year`` for January to March. (DECOM rather than DEC: a return holds episodes that
start by 31 March of its year, whereas a mistyped DEC can fall anywhere.) How the year was found is in
``result.year_source``. A year outside 2017-2026, or no usable DECOM, is an :class:`InputError`.

**Rules.** A row that breaks a rule is quarantined (``result.quarantine``: file, table, row (line),
record (position in its table), child (pseudonym), field (as named in the file: ``PL`` and ``CHILDID``
in XML), rule, value; rules in :data:`csceval.ingest.quarantine.RULES`):

* ``missing_required_value`` - a required field (``required: true`` in the schema) is blank;
* ``invalid_date`` - not a real date in the file's format (``31/02/2024``, ``2024-02-01`` in a CSV);
* ``code_not_valid_for_year`` - a code outside the field's list for that year (K3 before 2025, H5 or
  P2 from 2025, Z1 from 2026, SEX 1/2 from 2025, M/F/U before 2025, E45-E48 before 2019...);
* ``invalid_number`` - a numeric field (SDQ_SCORE 0-40, NB_ADOPTR 1-2) that is negative, out of range
  or not a whole number;
* ``duplicate_child`` - a second row for the same child in a one-row-per-child table (header, uasc,
  oc2, oc3, ad1, previous_permanence); the first row is kept;
* episodes only: ``end_before_start`` (DEC before DECOM), ``date_after_collection_year_end`` (DECOM or
  DEC after 31 March of the collection year), ``episodes_out_of_order`` (an episode starting before the
  previous row of the same child in the file), ``overlapping_episodes`` (an episode starting before an
  earlier-starting episode of the same child has ended; the later one is quarantined). The sequence
  rules look at every episode with a valid DECOM and a valid (or blank) DEC not before it.

Unrecoverable problems raise :class:`InputError` naming file, line, field and rule, with no partial
output: missing file, empty file, text that is neither UTF-8 nor cp1252, a single column (wrong
delimiter), a row with more or fewer fields than the header, a column named twice, a missing required
column, columns that match no table (e.g. no header row), two files for one table, an episodes file
with no rows, malformed XML, a root other than ``EXPSSDA903``, an XML return without EPISODE records,
a table that does not exist in the collection year
(e.g. SWEpisodes before 2024, when it is the only file), an unknown LA code, and an unknown or
uninferable collection year.

**Encodings.** UTF-8 (with or without BOM) is read as is. DfE returns exported from Windows systems
are often cp1252: text that is not UTF-8 but decodes as cp1252 is accepted and a note says so
(``result.notes`` and the ``csceval.ingest`` log). Bytes that are neither (e.g. 0x81, or NUL bytes of a
UTF-16 file) are refused.

**Privacy.** CHILD, UPN (except the UPN-unknown codes UN1-UN10) and SW_ID are replaced by salted
pseudonyms (:func:`csceval.ingest.quarantine.pseudonymise`) as soon as they are read; raw values never
reach a returned frame, a quarantine record, a note or an error message. Dates of birth and the
HOME_POST / PL_POST postcodes (needed for placement distance) are kept: the frames are record-level
data for ``results/interim`` only, never for publication.
"""

from __future__ import annotations

import csv
import datetime as _dt
import logging
import re
from dataclasses import dataclass, field as dc_field
from functools import cache
from importlib import resources
from io import BytesIO, StringIO
from itertools import repeat
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import yaml
from lxml import etree

from csceval.ingest.errors import InputError
from csceval.ingest.quarantine import FileRows, Pseudonymiser, Quarantine, _check_salt, mask_identifiers, pseudonymise

__all__ = ["SSDA903Result", "read_ssda903", "read_ssda903_many", "schema_for_year", "SSDA903_TABLES", "YEARS"]

log = logging.getLogger("csceval.ingest")

# --------------------------------------------------------------------------------------------------
# Schema (data in schemas/*.yaml)
# --------------------------------------------------------------------------------------------------


@cache
def load_schema(name: str) -> dict:
    """The parsed YAML schema ``schemas/<name>.yaml`` shipped with csceval.ingest."""
    text = resources.files("csceval.ingest").joinpath("schemas", f"{name}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def in_year(item: dict, year: int) -> bool:
    """Whether a schema item (table, field or code with optional ``from`` / ``to``) holds in ``year``."""
    return int(item.get("from", 0)) <= year <= int(item.get("to", 9999))


def codes_for_year(code_list: dict, year: int) -> frozenset[str]:
    """The codes of one code list (``{codes: {code: {from, to, ...}}}``) valid in ``year``."""
    return frozenset(str(code) for code, spec in code_list["codes"].items() if in_year(spec or {}, year))


_SCHEMA = load_schema("ssda903")
YEARS = range(int(_SCHEMA["years"]["first"]), int(_SCHEMA["years"]["last"]) + 1)
SSDA903_TABLES = tuple(_SCHEMA["tables"])


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    required: bool
    xml: str
    codes: frozenset[str] | None = None
    min: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    fields: dict[str, FieldSpec]
    file_names: tuple[str, ...]
    one_row_per_child: bool
    xml: dict

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields.values() if f.required]


@cache
def schema_for_year(year: int) -> dict[str, TableSpec]:
    """The SSDA903 layout of one collection year: table name -> :class:`TableSpec`.

    Raises ``KeyError`` for a year the schema does not cover.
    """
    year = int(year)
    if year not in YEARS:
        raise KeyError(f"no SSDA903 schema for collection year {year} (covered: {YEARS.start}-{YEARS.stop - 1})")
    tables: dict[str, TableSpec] = {}
    for name, spec in _SCHEMA["tables"].items():
        if not in_year(spec, year):
            continue
        fields = {}
        for fname, fspec in spec["fields"].items():
            if not in_year(fspec, year):
                continue
            codes = codes_for_year(_SCHEMA["code_lists"][fspec["codes"]], year) if fspec.get("codes") else None
            fields[fname] = FieldSpec(
                name=fname, type=fspec["type"], required=bool(fspec.get("required", False)), xml=fspec.get("xml", fname),
                codes=codes, min=fspec.get("min"), max=fspec.get("max"),
            )
        tables[name] = TableSpec(
            name=name, fields=fields, file_names=tuple(spec.get("file_names", [name])),
            one_row_per_child=bool(spec.get("one_row_per_child", False)), xml=spec.get("xml", {}),
        )
    return tables


# --------------------------------------------------------------------------------------------------
# Shared input helpers (also used by csceval.ingest.cin_census)
# --------------------------------------------------------------------------------------------------


def read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise InputError(path, None, None, "file does not exist")
    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(path, None, None, "file is empty")
    return raw


def decode_text(path: Path, raw: bytes, notes: list[str]) -> str:
    """UTF-8 (BOM allowed); else cp1252 with a note; else InputError."""
    if b"\x00" in raw:
        at = raw.index(b"\x00")
        raise InputError(
            path, raw[:at].count(b"\n") + 1, None, "file is neither UTF-8 nor cp1252 text",
            f"NUL byte at offset {at} (UTF-16 or binary file?)",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        first_bad = err.start
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError as err:
        raise InputError(
            path, raw[: err.start].count(b"\n") + 1, None, "file is neither UTF-8 nor cp1252 text",
            f"byte 0x{raw[err.start]:02x} at offset {err.start}",
        ) from None
    line = raw[:first_bad].count(b"\n") + 1
    note = (
        f"{path.name}: not UTF-8 (byte 0x{raw[first_bad]:02x} at offset {first_bad}, line {line}); "
        "decoded as Windows cp1252"
    )
    notes.append(note)
    log.warning(note)
    return text


_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def read_csv_rows(path: Path, text: str, normalise=str.upper) -> tuple[list[str], pd.DataFrame]:
    """Read a comma-separated table as text.

    Returns the (normalised) header names and a frame of strings with one row per non-blank line
    plus ``source_row`` (the line number; the header is line 1). Raises InputError for a single
    column with another delimiter, a column named twice, or a row of the wrong length.

    A clean file (see :func:`_parse_clean_body`) is read by pyarrow in one pass. Otherwise every line's
    separators are counted at C speed and only lines whose count differs from the header's, or that
    hold a quote, are looked at one by one (blank, quoted or wrong length), in file order.
    """
    first_break = _LINE_BREAKS.search(text)
    header_line = text[: first_break.start()] if first_break else text
    if not header_line.strip():
        raise InputError(path, 1, None, "first line is blank: expected the header row")
    names = [normalise(n.strip()) for n in next(csv.reader([header_line]))]
    if len(names) == 1:
        for delim, word in _DELIMITERS.items():
            if delim in header_line:
                raise InputError(
                    path, 1, None, "file has a single column: wrong delimiter (expected comma)",
                    f"the header looks {word}-separated",
                )
    seen = set()
    for name in names:
        if name in seen:
            raise InputError(path, 1, name, "column appears twice in the header")
        seen.add(name)
    clean = _parse_clean_body(path, text, names)
    if clean is not None:
        clean["source_row"] = np.arange(2, len(clean) + 2, dtype="int64")
        return names, clean
    body = text.splitlines()[1:]
    keep = _check_row_lengths(path, body, names)
    if not keep.any():
        frame = pd.DataFrame({n: pd.Series(dtype="str") for n in names})
        frame["source_row"] = pd.Series(dtype="int64")
        return names, frame
    kept = body if keep.all() else [line for line, k in zip(body, keep) if k]
    frame = _parse_rows(path, "\n".join(kept), names, quoted='"' in text)
    if len(frame) != len(kept):  # pragma: no cover - only with quoted fields spanning lines
        raise InputError(path, None, None, "quoted field spans lines: rows cannot be numbered")
    frame["source_row"] = np.flatnonzero(keep).astype("int64") + 2
    return names, frame


_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")   # where str.splitlines splits
# str.splitlines also splits at these (UTF-8 encoded): a file holding one takes the line-by-line path
_ODD_LINE_BREAKS = tuple(ch.encode("utf-8") for ch in "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_ODD_ASCII_LINE_BREAKS = tuple(odd for odd in _ODD_LINE_BREAKS if len(odd) == 1)


def _has_odd_line_break(data: bytes) -> bool:
    """Whether UTF-8 ``data`` holds one of :data:`_ODD_LINE_BREAKS`. Pure ASCII (checked in one fast pass)
    cannot hold the multi-byte ones, so most files need only the single-byte searches."""
    return any(odd in data for odd in (_ODD_ASCII_LINE_BREAKS if data.isascii() else _ODD_LINE_BREAKS))


def _parse_clean_body(path: Path, text: str, names: list[str]) -> pd.DataFrame | None:
    """The rows of a clean file in one pass of pyarrow's CSV reader, or None when the file needs the
    line-by-line path.

    Clean: more than one column, no quote, lines ended by ``\\n`` or ``\\r\\n`` only, no blank line, and
    every row as long as the header (pyarrow refuses a row of another length). Row i is then line i + 2.
    """
    if len(names) < 2 or '"' in text:
        return None
    data = text.encode("utf-8")
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if _has_odd_line_break(data):
        return None
    start, end = data.find(b"\n") + 1, len(data)
    while end > start and data[end - 1] == ord("\n"):  # trailing newlines end the last row
        end -= 1
    if not start or end == start or data[start] == ord("\n") or data.find(b"\n\n", start, end) >= 0:
        return None
    try:
        return _parse_rows(path, pa.py_buffer(data)[start:end], names, quoted=False)
    except pa.ArrowInvalid:  # a row of another length: the line-by-line path names it
        return None


def _check_row_lengths(path: Path, body: list[str], names: list[str]) -> np.ndarray:
    """Which body lines hold a row (False for blank lines); InputError for a row of the wrong length.

    A line with exactly the header's number of commas and no quote is a row of the right length; the
    others (few in a sound file) are checked one by one, in file order, so the first bad line is reported.
    """
    n_sep = len(names) - 1
    counts = np.fromiter(map(str.count, body, repeat(",")), dtype=np.int64, count=len(body))
    suspect = counts != n_sep
    quotes = np.fromiter(map(str.__contains__, body, repeat('"')), dtype=bool, count=len(body))
    suspect |= quotes
    if n_sep == 0:
        suspect[:] = True  # without separators a blank line looks like a row
    keep = np.ones(len(body), dtype=bool)
    for i in np.flatnonzero(suspect):
        line, number = body[i], int(i) + 2
        if not line.strip():
            keep[i] = False
            continue
        count = int(counts[i])
        if '"' in line:  # commas inside quotes do not separate fields
            count = len(next(csv.reader([line]))) - 1
        if count < n_sep:
            raise InputError(
                path, number, names[count + 1], "row has fewer fields than the header (truncated row?)",
                f"{count + 1} fields, header has {n_sep + 1}",
            )
        if count > n_sep:
            raise InputError(path, number, None, "row has more fields than the header", f"{count + 1} fields, header has {n_sep + 1}")
    return keep


def _parse_rows(path: Path, body, names: list[str], quoted: bool) -> pd.DataFrame:
    """The rows of ``body`` (text, or UTF-8 in a pyarrow buffer; one row per line, lengths already
    checked) as a frame of strings.

    Without quotes pyarrow's CSV reader splits the fields (no quote handling needed); a file with quotes
    goes through pandas' C parser, which unquotes fields the way the row-length check counted them.
    """
    if not quoted:
        table = pacsv.read_csv(
            pa.BufferReader(body) if isinstance(body, pa.Buffer) else BytesIO(body.encode("utf-8")),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pacsv.ParseOptions(quote_char=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False),
        )
        return table.to_pandas()
    try:
        return pd.read_csv(
            StringIO(body), header=None, names=names, dtype=str, keep_default_na=False,
            skip_blank_lines=False, engine="c",
        )
    except pd.errors.ParserError:  # pragma: no cover - the line scan catches these first
        raise InputError(path, None, None, "row has a different number of fields than the header") from None


_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")


def parse_xml(path: Path, raw: bytes, notes: list[str]):
    """Parse XML safely (no entities, no network). cp1252 bytes in a file that says (or defaults to)
    UTF-8 are accepted with a note, as for CSV."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True)
    try:
        return etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as err:
        message = str(err)
        if not re.search(r"(not proper UTF-8|Invalid bytes|encoding|Char 0x)", message, re.I):
            line = getattr(err, "lineno", None) or (err.position[0] if getattr(err, "position", None) else None)
            raise InputError(path, line, None, "file is not well-formed XML", message) from None
    text = decode_text(path, raw, notes)
    text = _XML_DECL.sub("", text, count=1)
    try:
        return etree.fromstring(text, parser)
    except etree.XMLSyntaxError as err:
        line = getattr(err, "lineno", None)
        raise InputError(path, line, None, "file is not well-formed XML", str(err)) from None


class XmlNode:
    """An XML element with its direct children grouped by tag (built on first use), for the many lookups
    made on each record. :meth:`find` and :meth:`findall` take a path of tags (``a/b``) and answer as
    ``Element.find`` / ``Element.findall`` do (document order); :meth:`first` is ``find`` as a node."""

    __slots__ = ("element", "_by_tag")

    def __init__(self, element):
        self.element = element
        self._by_tag: dict | None = None

    def children(self, tag: str) -> list[XmlNode]:
        """The direct children named ``tag``, as nodes."""
        if self._by_tag is None:
            self._by_tag = {}
            for el in self.element:
                self._by_tag.setdefault(el.tag, []).append(XmlNode(el))
        return self._by_tag.get(tag, [])

    def findall(self, path: str) -> list[XmlNode]:
        head, _, rest = path.partition("/")
        nodes = self.children(head)
        return nodes if not rest else [found for node in nodes for found in node.findall(rest)]

    def first(self, path: str) -> XmlNode | None:
        head, _, rest = path.partition("/")
        for node in self.children(head):
            found = node if not rest else node.first(rest)
            if found is not None:
                return found
        return None

    def find(self, path: str):
        """The first element at ``path``, or None."""
        node = self.first(path)
        return None if node is None else node.element


_DATE_PATTERNS = {
    "%d/%m/%Y": re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$"),
    "%Y-%m-%d": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
}


def parse_dates(values: pd.Series, formats) -> pd.Series:
    """Parse text dates in any of ``formats`` (tried in order); blank or invalid -> NaT.

    Each distinct text is parsed once (a return holds a few hundred distinct dates) and the result is
    spread back over the rows by position. A text is parsed with the first format whose pattern it
    matches and that gives a real date.
    """
    codes, uniques = pd.factorize(values)
    texts = pd.Series(uniques, dtype="str")
    parsed = np.full(len(texts) + 1, np.datetime64("NaT"), dtype="datetime64[us]")  # last: missing values (code -1)
    todo = np.flatnonzero(texts.ne("").to_numpy(dtype=bool))  # a blank text is no date in any format
    for fmt in formats:
        if not len(todo):
            break
        hits = todo[texts.iloc[todo].str.fullmatch(_DATE_PATTERNS[fmt].pattern).fillna(False).to_numpy(dtype=bool)]
        if len(hits):
            got = pd.to_datetime(texts.iloc[hits], format=fmt, errors="coerce")
            parsed[hits] = got.to_numpy().astype("datetime64[us]")
            todo = todo[np.isnat(parsed[todo])]
    return pd.Series(parsed[codes], index=values.index, dtype="datetime64[us]")


class Distinct:
    """A text column seen as its distinct values and, per row, the position of its value among them.

    ``values`` holds the distinct values as strings (stripped of surrounding whitespace, missing -> ``""``,
    when ``strip``; else as they are, missing staying missing) and ``codes`` each row's position in
    ``values``: a rule is checked once per distinct value and spread over the rows with :meth:`rows`.
    """

    def __init__(self, column: pd.Series, strip: bool = False):
        self.codes, uniques = pd.factorize(column, use_na_sentinel=False)
        values = pd.Series(uniques, dtype="str")
        self.values = values.fillna("").str.strip() if strip else values

    def rows(self, per_value) -> np.ndarray:
        """A result computed per distinct value (array-like aligned with ``values``), spread over the rows."""
        return np.asarray(per_value)[self.codes]

    def rows_where(self, predicate) -> np.ndarray:
        """Whether each row's value satisfies ``predicate`` (a plain function of one value), as booleans;
        for simple tests (blank, in a code list) cheaper than a pandas operation on ``values``."""
        return np.fromiter(map(predicate, self.values.tolist()), dtype=bool, count=len(self.values))[self.codes]

    def column(self, index) -> pd.Series:
        """The (stripped) text of every row, as a Series on ``index``."""
        return pd.Series(self.values.array.take(self.codes), index=index, dtype="str")


def year_end(year: int) -> pd.Timestamp:
    return pd.Timestamp(year=year, month=3, day=31)


def check_la_code(path: Path, la_code, field: str = "la_code", row: int | None = None) -> str | None:
    if la_code is None:
        return None
    from csceval.reference import unknown_la_codes

    code = str(la_code).strip()
    if not code or unknown_la_codes([code]):
        raise InputError(path, row, field, "unknown LA code", f"{code!r} is not an old 3-digit DfE LA code")
    return code


# --------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SSDA903Result:
    """What :func:`read_ssda903` read.

    Each table attribute is a DataFrame of the accepted rows of that table, or ``None`` when the input
    did not contain the table. Columns: ``child`` (pseudonym), the table's DfE fields in schema order
    (dates as ``datetime64``, SDQ_SCORE / NB_ADOPTR as ``Int64``, codes and text as strings; UPN and SW_ID
    pseudonymised as ``upn`` / ``sw_id``), then ``la_code``, ``collection_year``, ``source_file`` and
    ``source_row``. Rows keep the order of the file.
    """

    episodes: pd.DataFrame | None
    header: pd.DataFrame | None
    uasc: pd.DataFrame | None
    missing: pd.DataFrame | None
    reviews: pd.DataFrame | None
    oc2: pd.DataFrame | None
    oc3: pd.DataFrame | None
    ad1: pd.DataFrame | None
    placed_for_adoption: pd.DataFrame | None
    previous_permanence: pd.DataFrame | None
    sw_episodes: pd.DataFrame | None
    quarantine: pd.DataFrame
    reconciliation: pd.DataFrame
    year: int
    year_source: str
    la_code: str | None
    notes: tuple[str, ...] = dc_field(default=())

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables present in the input, by name."""
        return {name: getattr(self, name) for name in SSDA903_TABLES if getattr(self, name) is not None}


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


@dataclass
class _RawTable:
    table: str
    file: Path                   # or FileRows: the same table of several LAs' returns (read_ssda903_many)
    frame: pd.DataFrame          # strings, one column per schema field, plus source_row
    date_formats: tuple[str, ...]
    display: dict[str, str] = dc_field(default_factory=dict)   # field -> its name in the file (XML element)

    def name_of(self, fieldname: str) -> str:
        return self.display.get(fieldname, fieldname)


def _all_fields(table: str) -> dict:
    return _SCHEMA["tables"][table]["fields"]


def _identify_table(path: Path, columns: list[str]) -> str:
    """The SSDA903 table a CSV holds, from its columns (file name breaks ties)."""
    stem = path.stem.lower()
    cols = set(columns)
    best, best_key = None, None
    for name, spec in _SCHEMA["tables"].items():
        fields = set(spec["fields"])
        overlap = len(cols & fields)
        if not overlap:
            continue
        named = any(stem == alias or stem.endswith("_" + alias) for alias in spec.get("file_names", [name]))
        key = (overlap - len(fields - cols) * 0.01, named, -len(fields))
        if best_key is None or key > best_key:
            best, best_key = name, key
    if best is None or best_key[0] < 2:
        # The header is not echoed: a file without a header row would show a row of data (child identifiers).
        raise InputError(
            path, 1, None, "columns match no SSDA903 table",
            f"fewer than 2 of its {len(columns)} column names are SSDA903 field names (no header row?)",
        )
    return best


def _read_csv_table(path: Path, notes: list[str]) -> _RawTable:
    raw = read_bytes(path)
    text = decode_text(path, raw, notes)
    columns, frame = read_csv_rows(path, text)
    table = _identify_table(path, columns)
    fields = _all_fields(table)
    for fname, fspec in fields.items():
        if fname not in frame.columns:
            if fspec.get("required"):
                raise InputError(path, 1, fname, "required column is missing", f"the header looks like the {table} table")
            frame[fname] = ""
            notes.append(f"{path.name}: optional column {fname} is absent; read as blank")
    extra = [c for c in columns if c not in fields]
    if extra:
        notes.append(f"{path.name}: columns not in the {table} table ignored: {extra}")
    frame = frame[[*fields, "source_row"]]
    if frame.empty:
        if table == "episodes":
            raise InputError(path, None, None, "file has a header but no rows")
        notes.append(f"{path.name}: {table} table has a header but no rows")
    return _RawTable(table, path, frame, tuple(_SCHEMA["date_formats"]["csv"]))


def _text(element) -> str:
    if element is None:
        return ""
    return (element.text or "").strip()


def _read_xml(path: Path, notes: list[str]) -> list[_RawTable]:
    raw = read_bytes(path)
    root = parse_xml(path, raw, notes)
    xml = _SCHEMA["xml"]
    if root.tag != xml["root"]:
        raise InputError(path, root.sourceline, root.tag, "not an SSDA903 XML return (root element must be EXPSSDA903)")
    header_fields = _all_fields("header")
    inherit = {f: header_fields[f].get("xml", f) for f in xml["inherit"]}
    rows: dict[str, list] = {name: [] for name in _SCHEMA["tables"]}
    for child_el in root.findall(xml["child"]):
        child = XmlNode(child_el)
        header = child.first(xml["header"])
        for name, spec in _SCHEMA["tables"].items():
            path_spec = spec["xml"]["path"]
            fields = spec["fields"]
            if path_spec == xml["header"]:
                if header is None:
                    records = [child] if name == "header" else []
                else:
                    records = [header]
                    if "when_any" in spec["xml"] or "when_flag" in spec["xml"]:
                        flag = spec["xml"].get("when_flag")
                        present = any(_text(header.find(f)) for f in spec["xml"].get("when_any", []))
                        if flag and _text(header.find(flag)) == "1":
                            present = True
                        if not present:
                            records = []
            elif path_spec.startswith(xml["header"] + "/"):
                records = header.findall(path_spec.split("/", 1)[1]) if header is not None else []
            else:
                records = child.findall(path_spec)
            for record in records:
                values = {}
                for fname, fspec in fields.items():
                    element = record.find(fspec.get("xml", fname))
                    if element is None and fname in inherit and header is not None:
                        element = header.find(inherit[fname])
                    values[fname] = _text(element)
                line = record.element.sourceline
                if record is header and "when_any" in spec["xml"]:
                    first = next((header.find(f) for f in spec["xml"]["when_any"] if header.find(f) is not None), None)
                    line = first.sourceline if first is not None else line
                values["source_row"] = int(line or 0)
                rows[name].append(values)
    if not any(rows.values()):
        raise InputError(path, None, None, "XML return holds no CHILD records")
    if not rows["episodes"]:
        raise InputError(path, None, "EPISODE", "XML return holds no EPISODE records")
    out = []
    for name, records in rows.items():
        if not records:
            continue
        columns = [*_all_fields(name), "source_row"]
        frame = pd.DataFrame.from_records(records, columns=columns)
        frame = frame.astype({c: "str" for c in columns if c != "source_row"})
        frame["source_row"] = frame["source_row"].astype("int64")
        display = {
            f: (header_fields[f].get("xml", f) if f in inherit else spec.get("xml", f))
            for f, spec in _all_fields(name).items()
        }
        out.append(_RawTable(name, path, frame, tuple(_SCHEMA["date_formats"]["xml"]), display))
    return out


def _collect(path: Path, notes: list[str]) -> list[_RawTable]:
    if not path.exists():
        raise InputError(path, None, None, "file does not exist")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        csvs = [p for p in files if p.suffix.lower() == ".csv"]
        for other in files:
            if other not in csvs:
                notes.append(f"{other.name}: not a CSV table; ignored in a folder of CSV tables")
        if not csvs:
            raise InputError(path, None, None, "folder holds no CSV tables")
        tables = [_read_csv_table(p, notes) for p in csvs]
        seen: dict[str, Path] = {}
        for t in tables:
            if t.table in seen:
                raise InputError(t.file, None, None, "two files hold the same table", f"{t.table} also in {seen[t.table].name}")
            seen[t.table] = t.file
        return tables
    head = path.read_bytes()[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if path.suffix.lower() == ".xml" or head.startswith(b"<"):
        return _read_xml(path, notes)
    return [_read_csv_table(path, notes)]


def _infer_year(raw_tables: list[_RawTable], path: Path) -> tuple[int, str]:
    episodes = next((t for t in raw_tables if t.table == "episodes"), None)
    if episodes is None:
        raise InputError(path, None, "DECOM", "collection year cannot be inferred without an episodes table: pass year=")
    decom = parse_dates(episodes.frame["DECOM"].str.strip(), episodes.date_formats)
    decom = decom[decom <= pd.Timestamp(_dt.date.today())]
    if decom.dropna().empty:
        raise InputError(episodes.file, None, "DECOM", "collection year cannot be inferred: no valid DECOM date: pass year=")
    latest = decom.max()
    year = int(latest.year + (1 if latest.month >= 4 else 0))
    return year, f"inferred from the latest DECOM ({latest:%d/%m/%Y}) in {episodes.file.name}"


def _validate(raw: _RawTable, spec: TableSpec, year: int, la_code, pseudonyms: Pseudonymiser,
              quarantine: Quarantine) -> pd.DataFrame:
    """The accepted rows of one table; ``raw.file`` may be a :class:`FileRows` (then ``la_code`` is a
    list, one code per file) to check the table of several returns at once."""
    frame = raw.frame
    rows = raw.file if isinstance(raw.file, FileRows) else FileRows([raw.file], [len(frame)])
    la_codes = la_code if isinstance(la_code, list) else [la_code]
    distinct = {name: Distinct(frame[name], strip=True) for name in spec.fields}
    text = {name: d.column(frame.index) for name, d in distinct.items()}
    child = pseudonyms(text["CHILD"])
    columns: dict[str, object] = {"child": child}
    shown: dict[str, pd.Series] = {"CHILD": child}
    numbers: dict[str, pd.Series] = {}
    for name, fspec in spec.fields.items():
        if name == "CHILD":
            continue
        values, d = text[name], distinct[name]
        shown[name] = values
        if fspec.type == "id":
            keep_code = np.zeros(len(values), dtype=bool)
            if name == "UPN":  # UN1-UN10 say why a UPN is unknown: codes, kept as they are
                keep_code = d.rows(d.values.str.fullmatch(r"UN(10|[1-9])").fillna(False))
            hashed = pseudonyms(values)
            columns[name.lower()] = shown[name] = hashed.where(~keep_code, values)
        elif fspec.type == "date":
            columns[name] = pd.Series(d.rows(parse_dates(d.values, raw.date_formats).to_numpy()), index=frame.index)
        elif fspec.type == "integer":
            whole = d.values.where(d.values.str.fullmatch(r"[0-9]+").fillna(False))
            number = pd.to_numeric(whole, errors="coerce").astype("Int64").array
            columns[name] = numbers[name] = pd.Series(number.take(d.codes), index=frame.index)
        else:
            columns[name] = values
    out = pd.DataFrame(columns, index=frame.index)
    out["la_code"] = rows.per_row([code if code is not None else "" for code in la_codes])
    out["la_code"] = out["la_code"].astype("str")
    out["collection_year"] = np.int64(year)
    out["source_file"] = rows.per_row(rows.files)
    out["source_row"] = frame["source_row"].to_numpy()
    check = quarantine.table(out, file=rows, table=spec.name, child=child)
    shown_as = raw.name_of

    for name, fspec in spec.fields.items():
        values, d = text[name], distinct[name]
        blank = d.rows_where(lambda v: v == "")
        if fspec.required:
            check.flag(blank, shown_as(name), "missing_required_value", shown[name])
        if fspec.type == "date":
            check.flag(~blank & out[name].isna().to_numpy(dtype=bool), shown_as(name), "invalid_date", values)
        elif fspec.type == "partial_date":
            ok = d.rows(d.values.str.fullmatch(r"(\d{2}|zz)/(\d{2}|zz)/\d{4}").fillna(False))
            check.flag(~blank & ~ok, shown_as(name), "invalid_date", values)
        elif fspec.type == "code":
            check.flag(~blank & ~d.rows_where(fspec.codes.__contains__), shown_as(name), "code_not_valid_for_year", values)
        elif fspec.type == "integer":
            number = numbers[name]
            bad = number.isna().to_numpy(dtype=bool).copy()
            if fspec.min is not None:
                bad |= (number < fspec.min).fillna(False).to_numpy(dtype=bool)
            if fspec.max is not None:
                bad |= (number > fspec.max).fillna(False).to_numpy(dtype=bool)
            check.flag(~blank & bad, shown_as(name), "invalid_number", values)

    if spec.one_row_per_child:
        has_id = child.ne("")
        check.flag(has_id & rows.duplicated(child), shown_as("CHILD"), "duplicate_child", child)

    if spec.name == "episodes":
        _episode_rules(out, text, check, year, shown_as)
    return check.accepted()


def _episode_rules(out: pd.DataFrame, text: dict, check, year: int, shown_as=lambda name: name) -> None:
    decom, dec = out["DECOM"], out["DEC"]
    dec_given = text["DEC"].ne("")
    backwards = (dec < decom).fillna(False)
    check.flag(backwards, shown_as("DEC"), "end_before_start", text["DEC"])
    end = year_end(year)
    check.flag((decom > end).fillna(False), shown_as("DECOM"), "date_after_collection_year_end", text["DECOM"])
    check.flag((dec > end).fillna(False), shown_as("DEC"), "date_after_collection_year_end", text["DEC"])

    usable = decom.notna() & out["child"].ne("") & ~backwards & ~(dec_given & dec.isna())
    if not usable.any():
        return
    pos = np.flatnonzero(usable.to_numpy())
    groups = check.rows.groups(pd.factorize(out.loc[usable, "child"])[0], pos)  # a child within one file
    start = decom[usable].to_numpy().astype("datetime64[us]").astype("int64")
    stop = dec[usable].to_numpy().astype("datetime64[us]")
    stop = np.where(np.isnat(stop), np.iinfo("int64").max, stop.astype("int64"))  # open episodes never end
    # episodes_out_of_order: in file order, a start before the latest start seen so far for the child
    order = np.argsort(groups, kind="stable")
    latest, seen = _previous_max(groups[order], start[order])
    mask = np.zeros(len(out), dtype=bool)
    mask[pos[order][seen & (start[order] < latest)]] = True
    check.flag(mask, shown_as("DECOM"), "episodes_out_of_order", text["DECOM"])
    # overlapping_episodes: in date order, a start before the latest end of the child's earlier episodes
    order = np.lexsort((pos, start, groups))
    latest, seen = _previous_max(groups[order], stop[order])
    mask = np.zeros(len(out), dtype=bool)
    mask[pos[order][seen & (start[order] < latest)]] = True
    check.flag(mask, shown_as("DECOM"), "overlapping_episodes", text["DECOM"])


def _previous_max(groups: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by group: the largest value among the earlier rows of the row's group, and whether
    there is an earlier row. One running maximum over keys ``group * k + rank of value`` (k distinct values)
    does every group at once, since each group's keys lie above all earlier groups' keys."""
    distinct, rank = np.unique(values, return_inverse=True)
    k = len(distinct)
    running = np.maximum.accumulate(groups.astype("int64") * k + rank)
    seen = np.zeros(len(values), dtype=bool)
    seen[1:] = groups[1:] == groups[:-1]
    at = np.flatnonzero(seen)
    latest = np.zeros(len(values), dtype=values.dtype)
    latest[at] = distinct[running[at - 1] - groups[at].astype("int64") * k]
    return latest, seen


def scrub_notes(notes: list[str], raw_ids: set[str], salt: str) -> list[str]:
    """Replace any raw identifier appearing as a word in a note by its pseudonym (e.g. an ignored column
    whose name is a data value)."""
    def fix(match):
        word = match.group(0)
        return pseudonymise(word, salt) if word in raw_ids else word

    return [re.sub(r"[A-Za-z0-9_]+", fix, note) for note in notes]


def _raw_ids(raw_tables: list[_RawTable]) -> set[str]:
    ids: set[str] = set()
    for t in raw_tables:
        for name in ("CHILD", "UPN", "SW_ID"):
            if name in t.frame.columns:
                ids.update(t.frame[name].astype("str").fillna("").str.strip().unique().tolist())
    ids.discard("")
    return ids


def read_ssda903(path, year: int | None = None, la_code: str | None = None, *, salt: str) -> SSDA903Result:
    """Read one LA's SSDA903 return (CSV file, folder of CSV tables, or XML), validate and pseudonymise.

    Parameters
    ----------
    path : str or Path
        A CSV table, a folder of one LA's CSV tables, or the XML return.
    year : int, optional
        Collection year (year ending 31 March: 2024-25 is 2025), 2017-2026. Inferred from the latest
        DECOM when omitted (see the module docstring); ``result.year_source`` says how.
    la_code : str, optional
        Old 3-digit DfE code of the LA the return belongs to (the 903 files do not carry it). Must be a
        known code; written to every table's ``la_code`` column (``""`` when not given).
    salt : str
        Secret for :func:`~csceval.ingest.quarantine.pseudonymise` (from the run's configuration).

    Returns
    -------
    SSDA903Result
        ``.episodes``, ``.header`` and the other tables present, ``.quarantine`` (one row per rule
        breach: file, table, row, child, field, rule, value), ``.reconciliation`` (file, table,
        rows_read, rows_accepted, rows_quarantined; read = accepted + quarantined), ``.year``,
        ``.year_source``, ``.la_code``, ``.notes``.

    Raises
    ------
    InputError
        For unrecoverable input (see the module docstring); nothing is returned then.
    """
    salt = _check_salt(salt)
    return _read_one(_prepare(Path(path), year, la_code), salt)


def _read_one(ret: "_Return", salt: str) -> SSDA903Result:
    """Validate one prepared return on its own."""
    schema = schema_for_year(ret.year)
    quarantine = Quarantine()
    tables: dict[str, pd.DataFrame | None] = {name: None for name in SSDA903_TABLES}
    pseudonyms = Pseudonymiser(salt)
    for raw in ret.usable:
        tables[raw.table] = _validate(raw, schema[raw.table], ret.year, ret.la, pseudonyms, quarantine).reset_index(drop=True)
    records = quarantine.records
    notes = ret.notes
    if len(records) or notes:
        raw_ids = _raw_ids(ret.raw_tables)
        if len(records) and raw_ids:
            records["value"] = mask_identifiers(records["value"].tolist(), raw_ids, salt)
        notes = scrub_notes(notes, raw_ids, salt)
    return _result(ret, tables, records, quarantine.reconciliation, notes)


@dataclass
class _Return:
    """One LA's return read from disk and checked for unrecoverable problems, not yet validated."""

    path: Path
    la: str | None
    year: int
    year_source: str
    notes: list[str]
    raw_tables: list[_RawTable]
    usable: list[_RawTable]      # the raw tables that are part of the collection year's return


def _prepare(path: Path, year, la_code) -> _Return:
    """Everything :func:`read_ssda903` does before the row rules: LA code and year checks, reading and
    parsing the files, matching them to tables. Raises :class:`InputError` for unrecoverable input."""
    notes: list[str] = []
    la = check_la_code(path, la_code)
    if year is not None:
        try:
            year = int(year)
        except (TypeError, ValueError):
            raise InputError(path, None, "year", "unknown collection year", f"{year!r} is not a year") from None
        if year not in YEARS:
            raise InputError(path, None, "year", "unknown collection year", f"{year}; schemas cover {YEARS.start}-{YEARS.stop - 1}")
    raw_tables = _collect(path, notes)
    if year is None:
        year, year_source = _infer_year(raw_tables, path)
        if year not in YEARS:
            raise InputError(
                path, None, "DECOM", "unknown collection year",
                f"{year} ({year_source}); schemas cover {YEARS.start}-{YEARS.stop - 1}: pass year=",
            )
    else:
        year_source = "given by the caller"
    schema = schema_for_year(year)
    usable = []
    for raw in raw_tables:
        if raw.table not in schema:
            if len(raw_tables) == 1:
                raise InputError(
                    raw.file, None, None, "table is not part of the SSDA903 return in this collection year",
                    f"{raw.table} in {year}",
                )
            notes.append(f"{raw.file.name}: {raw.table} is not part of the {year} return; not read")
            continue
        usable.append(raw)
    return _Return(path, la, year, year_source, notes, raw_tables, usable)


def _result(ret: _Return, tables: dict, records: pd.DataFrame, reconciliation: pd.DataFrame, notes: list[str]) -> SSDA903Result:
    for note in notes:
        log.info(note)
    return SSDA903Result(
        **tables,
        quarantine=records,
        reconciliation=reconciliation,
        year=ret.year,
        year_source=ret.year_source,
        la_code=ret.la,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------------
# Many returns of one collection year at once
# --------------------------------------------------------------------------------------------------


_CSV_DATE_FORMATS = tuple(_SCHEMA["date_formats"]["csv"])
_ID_FIELDS = ("CHILD", "UPN", "SW_ID")


def read_ssda903_many(returns, year: int, *, salt: str) -> list[SSDA903Result]:
    """``[read_ssda903(path, year, la_code, salt=salt) for path, la_code in returns]``, faster.

    A year's returns of every LA hold the same few tables, so each table of all the CSV returns is
    validated once, as one frame (:class:`FileRows` keeps records, reconciliation and per-child rules
    per file), instead of paying the fixed cost of every vectorised rule once per LA. Files are read
    and checked for unrecoverable problems in the order given, so the first bad one raises the same
    :class:`InputError` as the one-at-a-time loop; XML returns are read one at a time. Results are
    equal to the loop's, frame for frame.
    """
    salt = _check_salt(salt)
    year = int(year)
    rets = [_prepare(Path(path), year, la_code) for path, la_code in returns]
    batch = [i for i, ret in enumerate(rets) if ret.usable and all(_batchable(t) for t in ret.raw_tables)]
    files = [str(raw.file) for i in batch for raw in rets[i].raw_tables]
    if len(set(files)) < len(files):   # a file given twice: records are told apart by file, so one at a time
        batch = []
    results: list[SSDA903Result | None] = [None] * len(rets)
    for i, result in zip(batch, _read_batch([rets[i] for i in batch], year, salt)):
        results[i] = result
    for i, ret in enumerate(rets):
        if results[i] is None:
            results[i] = _read_one(ret, salt)
    return results


def _batchable(raw: _RawTable) -> bool:
    return isinstance(raw.file, Path) and raw.date_formats == _CSV_DATE_FORMATS and not raw.display


def _read_batch(rets: list[_Return], year: int, salt: str) -> list[SSDA903Result]:
    """Validate the CSV returns ``rets`` table by table, then split everything back per return."""
    if not rets:
        return []
    schema = schema_for_year(year)
    quarantine, pseudonyms = Quarantine(), Pseudonymiser(salt)
    owner = {}                 # file -> (return, position of its table among the return's usable tables)
    for k, ret in enumerate(rets):
        owner.update({str(raw.file): (k, j) for j, raw in enumerate(ret.usable)})
    stacked: dict[str, tuple[pd.DataFrame, FileRows, list[int]]] = {}
    accepted: dict[str, tuple[pd.DataFrame, np.ndarray]] = {}
    for name in SSDA903_TABLES:
        parts = [(k, raw) for k, ret in enumerate(rets) for raw in ret.raw_tables if raw.table == name]
        if not parts:
            continue
        frames = [raw.frame for _, raw in parts]
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
        rows = FileRows([raw.file for _, raw in parts], [len(f) for f in frames])
        stacked[name] = (frame[[c for c in _ID_FIELDS if c in frame.columns]], rows, [k for k, _ in parts])
        if name in schema:
            raw = _RawTable(name, rows, frame, _CSV_DATE_FORMATS)
            las = [rets[k].la for k, _ in parts]
            kept = _validate(raw, schema[name], year, las, pseudonyms, quarantine)
            accepted[name] = (kept, quarantine.accepted_counts(len(parts)))
        del frame, frames, parts
    for ret in rets:
        ret.raw_tables, ret.usable = [], []      # the stacked frames hold the rows now
    records = quarantine.records
    if len(records):
        records["value"] = _mask_values(records, stacked, owner, salt)
    record_ret = _return_of(records["file"], owner)
    recon = quarantine.reconciliation
    recon_key = [owner[f] for f in recon["file"].tolist()]
    recon = recon.iloc[np.lexsort(([j for _, j in recon_key], [k for k, _ in recon_key]))].reset_index(drop=True)
    record_slices = _slices(np.sort(record_ret, kind="stable"), len(rets))
    records = records.iloc[np.argsort(record_ret, kind="stable")].reset_index(drop=True)
    recon_slices = _slices(np.array(sorted(k for k, _ in recon_key), dtype="int64"), len(rets))
    table_slices = {name: _per_return(stacked[name][2], counts, len(rets)) for name, (_, counts) in accepted.items()}
    results = []
    for k, ret in enumerate(rets):
        tables: dict[str, pd.DataFrame | None] = {name: None for name in SSDA903_TABLES}
        for name, (frame, _) in accepted.items():
            if table_slices[name][k] is not None:
                a, b = table_slices[name][k]
                tables[name] = frame.iloc[a:b].reset_index(drop=True)
        notes = ret.notes
        if notes:
            notes = scrub_notes(notes, _return_raw_ids(k, stacked), salt)
        own = records.iloc[record_slices[k]].reset_index(drop=True)
        results.append(_result(ret, tables, own, recon.iloc[recon_slices[k]].reset_index(drop=True), notes))
    return results


def _return_of(files: pd.Series, owner: dict) -> np.ndarray:
    """The return (position in the batch) each record's file belongs to."""
    return np.array([owner[f][0] for f in files.tolist()], dtype="int64")


def _slices(sorted_keys: np.ndarray, n: int) -> list[slice]:
    """For keys 0..n-1 sorted: the slice of each key."""
    bounds = np.searchsorted(sorted_keys, np.arange(n + 1))
    return [slice(int(bounds[k]), int(bounds[k + 1])) for k in range(n)]


def _per_return(file_returns: list[int], counts: np.ndarray, n: int) -> list[tuple[int, int] | None]:
    """Row range, in a table's accepted rows (file order), of each return's file (None: no such file)."""
    out: list[tuple[int, int] | None] = [None] * n
    stops = np.cumsum(counts)
    for k, stop, count in zip(file_returns, stops.tolist(), counts.tolist()):
        out[k] = (stop - count, stop)
    return out


def _mask_values(records: pd.DataFrame, stacked: dict, owner: dict, salt: str) -> list[str]:
    """:func:`mask_identifiers` of every record's value against the raw identifiers of its own return
    (CHILD, UPN, SW_ID of all its tables), found for all returns at once: only identifiers equal to some
    record's value matter, so each identifier column is searched once for those values."""
    values = records["value"].tolist()
    stripped = [v.strip() for v in values]
    wanted = sorted(set(stripped) - {""})
    found: set[tuple[int, str]] = set()
    for ids, rows, file_returns in stacked.values():
        returns = np.asarray(file_returns, dtype="int64")[rows.code]
        for name in ids.columns:
            text = ids[name].astype("str").fillna("").str.strip()
            hit = text.isin(wanted).to_numpy(dtype=bool)
            found.update(zip(returns[hit].tolist(), text[hit].tolist()))
    if not found:
        return values
    ret = _return_of(records["file"], owner).tolist()
    return [pseudonymise(v, salt) if (k, s) in found else v for v, s, k in zip(values, stripped, ret)]


def _return_raw_ids(k: int, stacked: dict) -> set[str]:
    """The raw identifiers of return ``k`` (as :func:`_raw_ids` finds them), from the stacked tables."""
    ids: set[str] = set()
    for frame, rows, file_returns in stacked.values():
        for f, owner in enumerate(file_returns):
            if owner == k:
                part = frame.iloc[rows.bounds[f]:rows.bounds[f + 1]]
                for name in part.columns:
                    ids.update(part[name].astype("str").fillna("").str.strip().unique().tolist())
    ids.discard("")
    return ids
