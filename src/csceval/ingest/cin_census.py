"""Reader for the Children in Need (CIN) census, collection years 2017 to 2026, flattened to events.

:func:`read_cin_census` reads the census XML (``Message / Header / Children / Child``, any schema from
2017 to 2026) or a flattened CSV, and returns

* ``events`` -- one row per event of a child's episodes of need (``CINdetails``):

  ============== ===================================================== ==========================
  event_type     date                                                  attributes on the row
  ============== ===================================================== ==========================
  referral       CINreferralDate                                       referral_source,
                                                                       referral_nfa, primary_need
  assessment     Assessments/AssessmentActualStartDate
  s47            Section47/S47ActualStartDate
  icpc           Section47/DateOfInitialCPC (or CINdetails/DateOfInitialCPC)
  cin_plan_start CINPlanDates/CINPlanStartDate
  cin_plan_end   CINPlanDates/CINPlanEndDate
  cpp_start      ChildProtectionPlans/CPPstartDate                     category_of_abuse (initial),
                                                                       number_of_previous_cpp
  cpp_end        ChildProtectionPlans/CPPendDate                       category_of_abuse (latest),
                                                                       number_of_previous_cpp
  closure        CINclosureDate                                        reason_for_closure
  ============== ===================================================== ==========================

  Columns: ``child`` (pseudonym), ``la_code`` (Header/Source/LEA), ``event_type``, ``date``,
  ``cin_episode`` (1, 2, ... : which CINdetails of the child, linking the events of one episode),
  ``referral_source``, ``referral_nfa`` (boolean), ``primary_need``, ``category_of_abuse``,
  ``number_of_previous_cpp`` (Int64), ``reason_for_closure`` (missing on events that do not carry
  them), ``collection_year``, ``source_file``, ``source_row``. An ICPC is one event per episode and date.
* ``children`` -- one row per child: ``child``, ``upn`` (pseudonym), ``sex`` (M/F/U), ``sex_code``
  (as recorded: GenderCurrent 1/2/0/9 to 2025, Sex M/F/U from 2026), ``birth_date``,
  ``expected_birth_date``, ``la_code``, ``collection_year``, ``source_file``, ``source_row``.
* ``quarantine`` and ``reconciliation`` as for the SSDA903 (:mod:`csceval.ingest.quarantine`), with
  tables ``events`` and ``children``.

**Flattened CSV.** One row per event with the columns of ``events`` (``child`` holds the raw LA child
identifier, pseudonymised on reading): required ``child``, ``event_type``, ``date`` and ``la_code`` (unless
``la_code=`` is passed); optional ``cin_episode``, ``referral_source``, ``referral_nfa`` (true/false/1/0),
``primary_need``, ``category_of_abuse``, ``number_of_previous_cpp``, ``reason_for_closure``, ``upn``,
``sex``, ``birth_date``. Dates YYYY-MM-DD (or dd/mm/YYYY). ``children`` is derived: one row per distinct
child (first row's sex / birth date). End-before-start cannot be checked in a CSV (it does not link an
end to its start); every other rule applies.

**Collection year** (year ending 31 March): ``year=``, else the header: ``Year``, or the year of a 31
March ``ReferenceDate`` when the two disagree (the disagreement is noted); a CSV (or an XML without
either) takes the collection year of its latest event date that is not in the future.

**Rules** (quarantine): ``missing_required_value`` (LAchildID, CINreferralDate, ReferralSource,
ReferralNFA, dates of events whose element is present, CPP category of abuse and NumberOfPreviousCPP,
ReasonForClosure with a closure date, the child's sex), ``invalid_date``, ``code_not_valid_for_year``
(ReferralSource, PrimaryNeedCode, ReasonForClosure, Initial/LatestCategoryOfAbuse, ReferralNFA, Sex /
GenderCurrent; e.g. RC9 or 5D before 2023, GenderCurrent 1/2/0/9 in 2026), ``invalid_number``
(NumberOfPreviousCPP negative or not a whole number), ``end_before_start`` (closure before referral,
CPP or CIN plan ending before it starts), ``date_after_collection_year_end``, ``duplicate_child`` (a
second Child with the same LAchildID: that child and its events), ``unknown_la_code`` and
``unknown_event_type`` (CSV rows). A child missing its LAchildID is quarantined with all its events.
Only the fields returned are checked (ethnicity, disabilities and assessment factors are not read).

**Unrecoverable** (:class:`InputError`): missing or empty file, text neither UTF-8 nor cp1252, malformed
XML, a root other than ``Message`` or a Collection other than CIN, no Child records, a missing or unknown
LA code (Header LEA or ``la_code=``; a caller who knows the file's LA can pass ``la_code=`` to replace a
wrong header LEA, which is noted), an unknown collection year, and for CSV: a wrong delimiter, rows of
the wrong length, missing required columns, a header with no rows.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field as dc_field
from pathlib import Path

import numpy as np
import pandas as pd

from csceval.ingest.errors import InputError
from csceval.ingest.quarantine import FileRows, Pseudonymiser, Quarantine, _check_salt, mask_identifiers, pseudonymise
from csceval.ingest.ssda903 import (
    Distinct,
    XmlNode,
    check_la_code,
    codes_for_year,
    decode_text,
    load_schema,
    parse_dates,
    parse_xml,
    read_bytes,
    read_csv_rows,
    scrub_notes,
    year_end,
)

__all__ = ["CINCensusResult", "read_cin_census", "read_cin_census_many", "CIN_EVENT_TYPES", "CIN_YEARS", "cin_code_lists"]

_SCHEMA = load_schema("cin_census")
CIN_YEARS = range(int(_SCHEMA["years"]["first"]), int(_SCHEMA["years"]["last"]) + 1)
CIN_EVENT_TYPES = tuple(_SCHEMA["events"])
_BOOLEAN = {str(k): bool(v) for k, v in _SCHEMA["boolean"].items()}
_SEX_NORMALISED = {str(k): v["normalised"] for k, v in _SCHEMA["code_lists"]["Sex"]["codes"].items()}
_ATTRIBUTES = list(_SCHEMA["attributes"])

EVENT_COLUMNS = [
    "child", "la_code", "event_type", "date", "cin_episode", *_ATTRIBUTES,
    "collection_year", "source_file", "source_row",
]
CHILD_COLUMNS = [
    "child", "upn", "sex", "sex_code", "birth_date", "expected_birth_date",
    "la_code", "collection_year", "source_file", "source_row",
]


#: A whole number the int64 columns can hold (up to 18 digits); anything else breaks ``invalid_number``.
_WHOLE_NUMBER = r"\d{1,18}"


def cin_code_lists(year: int) -> dict[str, frozenset[str]]:
    """The CIN census code lists valid in one collection year (name -> codes)."""
    return {name: codes_for_year(spec, int(year)) for name, spec in _SCHEMA["code_lists"].items()}


@dataclass(frozen=True, eq=False)
class CINCensusResult:
    """What :func:`read_cin_census` read (see the module docstring for the columns)."""

    events: pd.DataFrame
    children: pd.DataFrame
    quarantine: pd.DataFrame
    reconciliation: pd.DataFrame
    year: int
    year_source: str
    la_code: str
    notes: tuple[str, ...] = dc_field(default=())


def _text(element) -> str:
    return "" if element is None else (element.text or "").strip()


def _check_year(path: Path, year, field: str = "year", row=None, how: str = "") -> int:
    try:
        value = int(str(year).strip())
    except (TypeError, ValueError):
        raise InputError(path, row, field, "unknown collection year", f"{year!r} is not a year") from None
    if value not in CIN_YEARS:
        raise InputError(
            path, row, field, "unknown collection year",
            f"{value}{how}; schemas cover {CIN_YEARS.start}-{CIN_YEARS.stop - 1}",
        )
    return value


def _latest_event_year(dates: pd.Series) -> int | None:
    dates = dates[dates <= pd.Timestamp(_dt.date.today())].dropna()
    if dates.empty:
        return None
    latest = dates.max()
    return int(latest.year + (1 if latest.month >= 4 else 0))


# --------------------------------------------------------------------------------------------------
# XML
# --------------------------------------------------------------------------------------------------


_EVENT_PARENTS = {
    event_type: spec["parent"] if isinstance(spec["parent"], list) else [spec["parent"]]
    for event_type, spec in _SCHEMA["events"].items()
}


def _xml_rows(path: Path, root) -> tuple[list[dict], list[dict]]:
    xml = _SCHEMA["xml"]
    cf = xml["child_fields"]
    children, events = [], []
    for block, child_el in enumerate(root.findall(xml["child"])):
        child = XmlNode(child_el)
        sex_el = next((el for el in (child.find(p) for p in cf["sex"]) if el is not None), None)
        id_el = child.find(cf["child"])
        children.append(
            {
                "block": block,
                "child": _text(id_el),
                "upn": _text(child.find(cf["upn"])),
                "sex_code": _text(sex_el),
                "sex_field": sex_el.tag if sex_el is not None else "",
                "birth_date": _text(child.find(cf["birth_date"])),
                "expected_birth_date": _text(child.find(cf["expected_birth_date"])),
                "source_row": int((id_el if id_el is not None else child_el).sourceline or 0),
            }
        )
        raw_child = _text(id_el)
        for episode, details in enumerate(child.findall(xml["episode"]), start=1):
            events.extend(_episode_events(details, block, raw_child, episode))
    return children, events


def _episode_events(details: XmlNode, block: int, raw_child: str, episode: int) -> list[dict]:
    """The events of one CINdetails, event types in schema order, owners in document order."""
    rows = []
    s47_icpc = {_text(n.element) for n in details.findall("Section47/DateOfInitialCPC") if _text(n.element)}
    for event_type, spec in _SCHEMA["events"].items():
        for parent_path in _EVENT_PARENTS[event_type]:
            owners = [details] if parent_path == "." else details.findall(parent_path)
            for owner in owners:
                date_el = owner.find(spec["date"])
                date = _text(date_el)
                if spec.get("optional") and not date:
                    continue
                if event_type == "icpc" and parent_path == "." and date in s47_icpc:
                    continue  # the same conference, recorded again at episode level
                row = {
                    "block": block,
                    "child": raw_child,
                    "event_type": event_type,
                    "date": date,
                    "start": _text(owner.find(spec["start"])) if spec.get("start") else "",
                    "cin_episode": episode,
                    "source_row": int((date_el if date_el is not None else owner.element).sourceline or 0),
                }
                for column, element in spec.get("attributes", {}).items():
                    row[column] = _text(owner.find(element))
                rows.append(row)
    return rows


def _xml_header(path: Path, root, year, la_code, notes) -> tuple[int, str, str, str]:
    header = _SCHEMA["xml"]["header"]
    collection = root.find(header["collection"])
    if collection is not None and _text(collection) and _text(collection) != "CIN":
        raise InputError(path, collection.sourceline, "Collection", "not a CIN census return", f"Collection is {_text(collection)!r}")
    lea_el = root.find(header["la_code"])
    lea = _text(lea_el)
    lea_line = lea_el.sourceline if lea_el is not None else None
    if la_code is not None:
        la = check_la_code(path, la_code)
        if lea and lea != la:
            notes.append(f"{path.name}: header LEA {lea} replaced by la_code {la} given by the caller")
        elif not lea:
            notes.append(f"{path.name}: no header LEA; la_code {la} given by the caller")
    else:
        if not lea:
            raise InputError(path, lea_line, "LEA", "LA code is missing from the header")
        la = check_la_code(path, lea, field="LEA", row=lea_line)
    if year is not None:
        return _check_year(path, year), "given by the caller", la, ""
    year_el = root.find(header["year"])
    ref_el = root.find(header["reference_date"])
    year_text, ref_text = _text(year_el), _text(ref_el)
    ref = parse_dates(pd.Series([ref_text], dtype="str"), ["%Y-%m-%d"]).iloc[0] if ref_text else pd.NaT
    ref_year = int(ref.year) if pd.notna(ref) and ref.month == 3 and ref.day == 31 else None
    if year_text:
        declared = _check_year(path, year_text, "Year", year_el.sourceline, " (header Year)")
        if ref_year is not None and ref_year != declared:
            chosen = _check_year(path, ref_year, "ReferenceDate", ref_el.sourceline, " (header ReferenceDate)")
            notes.append(f"{path.name}: header Year {declared} disagrees with ReferenceDate {ref_text}; collection year {chosen} taken from ReferenceDate")
            return chosen, f"header ReferenceDate {ref_text} (Year {declared} disagrees)", la, ""
        return declared, f"header Year {declared}", la, ""
    if ref_year is not None:
        return _check_year(path, ref_year, "ReferenceDate", ref_el.sourceline), f"header ReferenceDate {ref_text}", la, ""
    return -1, "", la, "infer"


def _read_xml(path: Path, year, la_code, notes):
    raw = read_bytes(path)
    root = parse_xml(path, raw, notes)
    if root.tag != _SCHEMA["xml"]["root"]:
        raise InputError(path, root.sourceline, root.tag, "not a CIN census XML return (root element must be Message)")
    year, year_source, la, todo = _xml_header(path, root, year, la_code, notes)
    children, events = _xml_rows(path, root)
    if not children:
        raise InputError(path, None, "Child", "CIN census holds no Child records")
    children = pd.DataFrame(children).astype({c: "str" for c in ("child", "upn", "sex_code", "sex_field", "birth_date", "expected_birth_date")})
    columns = ["block", "child", "event_type", "date", "start", "cin_episode", "source_row", *_ATTRIBUTES]
    events = pd.DataFrame.from_records(events, columns=columns)
    events = events.sort_values(["block", "cin_episode", "source_row"], kind="stable").reset_index(drop=True)
    for column in ("child", "event_type", "date", "start", *_ATTRIBUTES):
        events[column] = events[column].astype("str").fillna("")
    if todo == "infer":
        inferred = _latest_event_year(parse_dates(events["date"], ["%Y-%m-%d"]))
        if inferred is None:
            raise InputError(path, None, "Year", "collection year cannot be inferred (no Year, ReferenceDate or event date): pass year=")
        year = _check_year(path, inferred, "Year", None, " (inferred from the latest event date)")
        year_source = "inferred from the latest event date"
    field_names = {
        event_type: {"date": spec["date"], "start": spec.get("start"), **spec.get("attributes", {})}
        for event_type, spec in _SCHEMA["events"].items()
    }
    return children, events, year, year_source, la, field_names, ["%Y-%m-%d"]


# --------------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------------


def _read_csv(path: Path, year, la_code, notes):
    frame = _parse_csv(path, la_code, notes)
    _strip_known(frame)
    la = check_la_code(path, la_code) if la_code is not None else None
    if la is not None and frame["la_code"].ne("").any() and frame["la_code"].ne(la).any():
        notes.append(f"{path.name}: la_code column replaced by la_code {la} given by the caller")
    if la is not None:
        frame["la_code"] = la
    formats = list(_SCHEMA["date_formats"]["csv"])
    if year is not None:
        year, year_source = _check_year(path, year), "given by the caller"
    else:
        inferred = _latest_event_year(parse_dates(frame["date"], formats))
        if inferred is None:
            raise InputError(path, None, "date", "collection year cannot be inferred: no valid event date: pass year=")
        year = _check_year(path, inferred, "date", None, " (inferred from the latest event date)")
        year_source = "inferred from the latest event date"
    children, _ = _csv_children(frame, FileRows([path], [len(frame)]))
    return children, frame, year, year_source, la, _CSV_FIELD_NAMES, formats


_CSV_KNOWN = list(dict.fromkeys([*_SCHEMA["csv_columns"]["required"], *_SCHEMA["csv_columns"]["optional"]]))
_CSV_FIELD_NAMES = {
    event_type: {"date": "date", "start": None, **{a: a for a in spec.get("attributes", {})}}
    for event_type, spec in _SCHEMA["events"].items()
}


def _parse_csv(path: Path, la_code, notes, fill: bool = True) -> pd.DataFrame:
    """The rows of a flattened CSV as text, every known column present (``fill``; else only the known
    columns the file has); InputError for unrecoverable input (wrong delimiter or row length, a required
    column missing, no rows)."""
    raw = read_bytes(path)
    text = decode_text(path, raw, notes)
    columns, frame = read_csv_rows(path, text, normalise=str.lower)
    spec = _SCHEMA["csv_columns"]
    required = list(spec["required"]) + ([] if la_code is not None else ["la_code"])
    for column in required:
        if column not in frame.columns:
            raise InputError(path, 1, column, "required column is missing", "see the flattened CSV columns in csceval.ingest.cin_census")
    known = set(spec["required"]) | set(spec["optional"])
    extra = [c for c in columns if c not in known]
    if extra:
        notes.append(f"{path.name}: columns not in the flattened CIN census ignored: {extra}")
    if frame.empty:
        raise InputError(path, None, None, "file has a header but no rows")
    if not fill:
        return frame.drop(columns=extra) if extra else frame
    for column in known:
        if column not in frame.columns:
            frame[column] = ""
    return frame


def _strip_known(frame: pd.DataFrame) -> None:
    for column in _CSV_KNOWN:  # read_csv_rows gives text without missing values
        frame[column] = frame[column].str.strip()


def _csv_children(frame: pd.DataFrame, rows: FileRows) -> tuple[pd.DataFrame, np.ndarray]:
    """Adds ``block`` (one per distinct child of a file, numbered in order of first appearance),
    ``start`` and the numeric ``cin_episode`` to the stripped rows; returns the children (the first row
    of each block) and the positions of those rows."""
    frame["block"] = rows.groups(pd.factorize(frame["child"])[0])
    frame["start"] = ""
    frame["cin_episode_text"] = frame["cin_episode"]   # kept for the rule on its value (_check_csv_codes)
    frame["cin_episode"] = _per_distinct(
        frame["cin_episode"], lambda u: pd.to_numeric(u.where(u.str.fullmatch(_WHOLE_NUMBER).fillna(False)), errors="coerce")
    )
    # blocks are numbered in order of first appearance: the first row of block k is the k-th first row
    at = np.unique(frame["block"].to_numpy(), return_index=True)[1]
    first = frame[["block", "child", "upn", "sex", "birth_date", "la_code", "source_row"]].iloc[at]
    children = pd.DataFrame(
        {
            "block": first["block"].to_numpy(),
            "child": first["child"].array,
            "upn": first["upn"].array,
            "sex_code": first["sex"].array,
            "sex_field": "sex",
            "birth_date": first["birth_date"].array,
            "expected_birth_date": "",
            "la_code": first["la_code"].array,
            "source_row": first["source_row"].to_numpy(),
        }
    )
    return children, at


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def _per_distinct(values: pd.Series, compute) -> np.ndarray:
    """``compute`` applied to each distinct value of ``values`` once (see :class:`Distinct`), spread back
    over the rows as a numpy array."""
    distinct = Distinct(values)
    return distinct.rows(compute(distinct.values))


def _validate_children(children: pd.DataFrame, pseudonyms: Pseudonymiser, path, year, la, quarantine, child_field,
                       optional_sex) -> pd.DataFrame:
    """The accepted children; ``path`` may be a :class:`FileRows` (children of several files)."""
    rows = path if isinstance(path, FileRows) else FileRows([path], [len(children)])
    codes = cin_code_lists(year)["Sex"]
    child = pseudonyms(children["child"])
    upn = pseudonyms(children["upn"])
    out = pd.DataFrame(
        {
            "child": child,
            "upn": upn,
            "sex": pd.Series(_per_distinct(children["sex_code"], lambda u: u.map(_SEX_NORMALISED)), index=children.index,
                             dtype="str"),
            "sex_code": children["sex_code"],
            "birth_date": parse_dates(children["birth_date"], ["%Y-%m-%d", "%d/%m/%Y"] if optional_sex else ["%Y-%m-%d"]),
            "expected_birth_date": parse_dates(children["expected_birth_date"], ["%Y-%m-%d"]),
            "la_code": children["la_code"].astype("str") if "la_code" in children.columns else la,
            "collection_year": np.int64(year),
            "source_file": rows.per_row(rows.files),
            "source_row": children["source_row"].astype("int64").to_numpy(),
        },
        index=children.index,
    )
    check = quarantine.table(out, file=rows, table="children", child=child)
    no_id = children["child"].eq("")
    check.flag(no_id, child_field, "missing_required_value", "")
    check.flag(~no_id & rows.duplicated(child), child_field, "duplicate_child", child)
    sex_field = children["sex_field"].where(children["sex_field"].ne(""), "Sex" if year >= 2026 else "GenderCurrent")
    sex_blank = children["sex_code"].eq("").to_numpy(dtype=bool)
    sex_bad = ~_per_distinct(children["sex_code"], lambda u: u.isin(codes)).astype(bool)
    for name in sex_field.unique():
        at = sex_field.eq(name).to_numpy(dtype=bool)
        if not optional_sex:
            check.flag(at & sex_blank, name, "missing_required_value", "")
        check.flag(at & ~sex_blank & sex_bad, name, "code_not_valid_for_year", children["sex_code"])
    birth_field = "birth_date" if optional_sex else "PersonBirthDate"
    check.flag(children["birth_date"].ne("") & out["birth_date"].isna(), birth_field, "invalid_date", children["birth_date"])
    check.flag(
        children["expected_birth_date"].ne("") & out["expected_birth_date"].isna(), "ExpectedPersonBirthDate",
        "invalid_date", children["expected_birth_date"],
    )
    return check.accepted()[CHILD_COLUMNS].reset_index(drop=True)


def _validate_events(events, children, pseudonyms: Pseudonymiser, path, year, la, quarantine, field_names, formats,
                     child_field, is_csv) -> pd.DataFrame:
    """The accepted events; ``path`` may be a :class:`FileRows` (events of several flattened CSVs)."""
    rows = path if isinstance(path, FileRows) else FileRows([path], [len(events)])
    child = pseudonyms(events["child"])
    date = parse_dates(events["date"], formats)
    start = parse_dates(events["start"], formats)
    out = pd.DataFrame(index=events.index)
    out["child"] = child
    out["la_code"] = events["la_code"].astype("str") if is_csv else la
    out["event_type"] = events["event_type"].astype("str")
    out["date"] = date
    out["cin_episode"] = pd.array(events["cin_episode"], dtype="Int64")
    out["collection_year"] = np.int64(year)
    out["source_file"] = rows.per_row(rows.files)
    out["source_row"] = events["source_row"].astype("int64").to_numpy()
    check = quarantine.table(out, file=rows, table="events", child=child)

    # the child: identifier missing, or a repeated Child block
    no_id = events["child"].eq("").to_numpy(dtype=bool)
    check.flag(no_id, child_field, "missing_required_value", "")
    if not is_csv:
        dup_blocks = children.loc[children["child"].ne("") & children["child"].duplicated(keep="first"), "block"]
        check.flag(events["block"].isin(dup_blocks).to_numpy(dtype=bool) & ~no_id, child_field, "duplicate_child", child)
    else:
        _check_csv_codes(events, check)

    type_codes, type_names = pd.factorize(events["event_type"])
    type_code = {name: code for code, name in enumerate(type_names)}
    blank = events["date"].eq("").to_numpy(dtype=bool)
    invalid = ~blank & date.isna().to_numpy(dtype=bool)
    late = (date > year_end(year)).fillna(False).to_numpy(dtype=bool)
    backwards = (date < start).fillna(False).to_numpy(dtype=bool)
    attributes = {a: Distinct(events[a]) for a in _ATTRIBUTES}
    given = {a: d.rows_where(lambda v: v != "") for a, d in attributes.items()}
    bad = _bad_attribute_values(attributes, year)
    for event_type, spec in _SCHEMA["events"].items():
        if event_type not in type_code:
            continue
        at = type_codes == type_code[event_type]
        names = field_names[event_type]
        check.flag(at & blank, names["date"], "missing_required_value", "")
        check.flag(at & invalid, names["date"], "invalid_date", events["date"])
        check.flag(at & late, names["date"], "date_after_collection_year_end", events["date"])
        if names.get("start"):
            check.flag(at & backwards, names["date"], "end_before_start", events["date"])
        required = set(spec.get("required", []))
        for column, element in spec.get("attributes", {}).items():
            if element in required:
                check.flag(at & ~given[column], names[column], "missing_required_value", "")
            rule = "invalid_number" if _SCHEMA["attributes"][column]["type"] == "integer" else "code_not_valid_for_year"
            check.flag(at & given[column] & bad[column], names[column], rule, events[column])

    for column, distinct in attributes.items():
        carrier = np.zeros(len(type_names) + 1, dtype=bool)  # per event type (last: missing type, code -1)
        carrier[[type_code[t] for t, spec in _SCHEMA["events"].items() if column in spec.get("attributes", {}) and t in type_code]] = True
        out[column] = _attribute_column(distinct, column, carrier[type_codes] & given[column])
    return check.accepted()[EVENT_COLUMNS].reset_index(drop=True)


def _check_csv_codes(events: pd.DataFrame, check) -> None:
    """The flattened CSV's own columns: LA code and event type present and known."""
    from csceval.reference import unknown_la_codes

    la_blank = events["la_code"].eq("").to_numpy(dtype=bool)
    check.flag(la_blank, "la_code", "missing_required_value", "")
    unknown = set(unknown_la_codes(events.loc[~la_blank, "la_code"].unique()))
    check.flag(~la_blank & events["la_code"].isin(unknown).to_numpy(dtype=bool), "la_code", "unknown_la_code", events["la_code"])
    episode = events["cin_episode_text"]
    check.flag((episode.ne("") & events["cin_episode"].isna()).to_numpy(dtype=bool), "cin_episode", "invalid_number", episode)
    et_blank = events["event_type"].eq("").to_numpy(dtype=bool)
    check.flag(et_blank, "event_type", "missing_required_value", "")
    unknown_type = ~events["event_type"].isin(CIN_EVENT_TYPES).to_numpy(dtype=bool)
    check.flag(~et_blank & unknown_type, "event_type", "unknown_event_type", events["event_type"])


def _bad_attribute_values(attributes: dict[str, Distinct], year: int) -> dict[str, np.ndarray]:
    """Per attribute column, whether each row's value breaks the column's rule (code list of the year,
    yes/no spelling, whole number); blank values are judged too (callers look only at given values)."""
    lists = cin_code_lists(year)
    bad = {}
    for column, distinct in attributes.items():
        rule, values = _SCHEMA["attributes"][column], distinct.values
        if rule["type"] == "code":
            bad[column] = ~distinct.rows_where(lists[rule["codes"]].__contains__)
        elif rule["type"] == "boolean":
            bad[column] = ~distinct.rows(values.str.lower().isin(_BOOLEAN).to_numpy(dtype=bool))
        else:
            bad[column] = ~distinct.rows(values.str.fullmatch(_WHOLE_NUMBER).fillna(False).to_numpy(dtype=bool))
    return bad


def _attribute_column(distinct: Distinct, column: str, carried: np.ndarray):
    """One attribute column of the events: the value on rows whose event carries it (``carried``), missing
    elsewhere; yes/no as ``boolean`` and whole numbers as ``Int64``."""
    rule, values = _SCHEMA["attributes"][column], distinct.values
    if rule["type"] == "boolean":
        parsed = distinct.rows(values.str.lower().map(_BOOLEAN).to_numpy(dtype=object))
        missing = ~carried | pd.isna(parsed)
        return pd.arrays.BooleanArray(np.where(missing, False, parsed).astype(bool), missing)
    if rule["type"] == "integer":
        number = pd.to_numeric(values.where(values.str.fullmatch(_WHOLE_NUMBER).fillna(False)), errors="coerce").astype("Int64")
        return number.array.take(np.where(carried, distinct.codes, -1), allow_fill=True)
    return values.array.take(np.where(carried, distinct.codes, -1), allow_fill=True)


def _raw_ids(children: pd.DataFrame, events: pd.DataFrame, is_csv: bool) -> set[str]:
    """Every raw identifier of the file (LAchildID, UPN), to keep them out of quarantine values and notes."""
    columns = [children["child"], children["upn"], events["child"], *([events["upn"]] if is_csv else [])]
    ids = set(np.concatenate([c.to_numpy(dtype=object) for c in columns]).tolist())
    ids.discard("")
    return ids


def read_cin_census(path, *, salt: str, year: int | None = None, la_code: str | None = None) -> CINCensusResult:
    """Read one LA's CIN census (XML, or the flattened CSV), validate, pseudonymise and flatten to events.

    Parameters
    ----------
    path : str or Path
        The census XML (schemas 2017-2026) or a flattened CSV (see the module docstring).
    salt : str
        Secret for :func:`~csceval.ingest.quarantine.pseudonymise` (from the run's configuration).
    year : int, optional
        Collection year (year ending 31 March), 2017-2026; read from the header (or inferred) when omitted.
    la_code : str, optional
        The LA the file belongs to; replaces the header LEA (noted when they differ). Must be a known code.

    Returns
    -------
    CINCensusResult
        ``.events``, ``.children``, ``.quarantine``, ``.reconciliation``, ``.year``, ``.year_source``,
        ``.la_code``, ``.notes``.

    Raises
    ------
    InputError
        For unrecoverable input (see the module docstring); nothing is returned then.
    """
    salt = _check_salt(salt)
    path = Path(path)
    notes: list[str] = []
    is_csv = _is_csv(path)
    reader = _read_csv if is_csv else _read_xml
    children, events, year, year_source, la, field_names, formats = reader(path, year, la_code, notes)
    child_field = "child" if is_csv else "LAchildID"
    pseudonyms = Pseudonymiser(salt)
    quarantine = Quarantine()
    kids = _validate_children(children, pseudonyms, path, year, la if la is not None else "", quarantine, child_field, is_csv)
    evts = _validate_events(events, children, pseudonyms, path, year, la, quarantine, field_names, formats, child_field, is_csv)
    records = quarantine.records
    if len(records) or notes:
        raw_ids = _raw_ids(children, events, is_csv)
        if len(records):
            records["value"] = mask_identifiers(records["value"].tolist(), raw_ids, salt)
        notes = scrub_notes(notes, raw_ids, salt)
    return CINCensusResult(
        events=evts,
        children=kids,
        quarantine=records,
        reconciliation=quarantine.reconciliation,
        year=year,
        year_source=year_source,
        la_code=la if la is not None else "",
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------------
# Many returns of one collection year at once
# --------------------------------------------------------------------------------------------------


def read_cin_census_many(returns, *, salt: str, year: int) -> list[CINCensusResult]:
    """``[read_cin_census(path, salt=salt, year=year, la_code=la_code) for path, la_code in returns]``,
    faster.

    The flattened CSVs are validated together, as one frame (:class:`FileRows` keeps records,
    reconciliation and per-child rules per file), instead of paying the fixed cost of every vectorised
    rule once per LA. Files are read and checked for unrecoverable problems in the order given, so the
    first bad one raises the same :class:`InputError` as the one-at-a-time loop; XML files (and CSVs
    without ``la_code``) are read one at a time. Results are equal to the loop's, frame for frame.
    """
    salt = _check_salt(salt)
    returns = [(Path(path), la_code) for path, la_code in returns]
    if len({str(path) for path, _ in returns}) < len(returns):   # records are told apart by file
        return [read_cin_census(path, salt=salt, year=year, la_code=la_code) for path, la_code in returns]
    results: list[CINCensusResult | None] = []
    parsed: list[list] = []    # [position, path, LA code, notes, rows as text]
    for path, la_code in returns:
        path = Path(path)
        if la_code is None or not _is_csv(path):
            results.append(read_cin_census(path, salt=salt, year=year, la_code=la_code))
            continue
        notes: list[str] = []
        frame = _parse_csv(path, la_code, notes, fill=False)
        la = check_la_code(path, la_code)
        _check_year(path, year)
        parsed.append([len(results), path, la, notes, frame])
        results.append(None)
    if parsed:
        for (i, *_), result in zip(parsed, _read_csv_batch(parsed, int(year), salt)):
            results[i] = result
    return results


def _stack_known(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The files' rows one after another, with every known column (blank where a file lacks it): what
    :func:`_parse_csv` fills in file by file, done once."""
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    for column in _CSV_KNOWN:
        if column not in frame.columns:
            frame[column] = ""
        elif frame[column].hasnans:
            frame[column] = frame[column].fillna("")
    return frame[[*_CSV_KNOWN, "source_row"]]


def _is_csv(path: Path) -> bool:
    """Whether ``path`` is a flattened CSV rather than XML (by suffix, else by its first bytes);
    InputError for a missing file or a folder."""
    if not path.exists() or path.is_dir():
        raise InputError(path, None, None, "file does not exist" if not path.exists() else "expected a file, got a folder")
    with path.open("rb") as handle:
        head = handle.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
    return not (path.suffix.lower() == ".xml" or head.startswith(b"<"))


def _read_csv_batch(parsed: list, year: int, salt: str) -> list[CINCensusResult]:
    """The rest of :func:`read_cin_census` for several parsed flattened CSVs at once, split back per file."""
    paths = [p for _, p, *_ in parsed]
    rows = FileRows(paths, [len(item[-1]) for item in parsed])
    frame = _stack_known([item[-1] for item in parsed])
    for item in parsed:
        item[-1] = None
    _strip_known(frame)
    _replace_la_codes(frame, rows, parsed)
    children, first = _csv_children(frame, rows)
    child_rows = FileRows(paths, np.bincount(rows.code[first], minlength=len(paths)))
    pseudonyms, quarantine = Pseudonymiser(salt), Quarantine()
    formats = list(_SCHEMA["date_formats"]["csv"])
    kids = _validate_children(children, pseudonyms, child_rows, year, "", quarantine, "child", True)
    kid_counts = quarantine.accepted_counts(len(paths))
    evts = _validate_events(frame, children, pseudonyms, rows, year, None, quarantine, _CSV_FIELD_NAMES, formats, "child", True)
    evt_counts = quarantine.accepted_counts(len(paths))
    del children
    records = quarantine.records
    index = {str(p): k for k, p in enumerate(paths)}
    record_file = np.array([index[f] for f in records["file"].tolist()], dtype="int64")
    if len(records):
        records["value"] = _mask_values(records, record_file, frame, rows, salt)
    order = np.argsort(record_file, kind="stable")
    records = records.iloc[order].reset_index(drop=True)
    record_bounds = np.searchsorted(record_file[order], np.arange(len(paths) + 1))
    recon = quarantine.reconciliation
    recon_file = np.array([index[f] for f in recon["file"].tolist()], dtype="int64")
    recon = recon.iloc[np.argsort(recon_file, kind="stable")].reset_index(drop=True)
    kid_bounds, evt_bounds = np.concatenate([[0], np.cumsum(kid_counts)]), np.concatenate([[0], np.cumsum(evt_counts)])
    results = []
    for k, (_, path, la, notes, _) in enumerate(parsed):
        if notes:
            a, b = rows.bounds[k], rows.bounds[k + 1]
            ids = set(frame["child"].iloc[a:b].tolist()) | set(frame["upn"].iloc[a:b].tolist())
            notes = scrub_notes(notes, ids - {""}, salt)
        results.append(CINCensusResult(
            events=evts.iloc[evt_bounds[k]:evt_bounds[k + 1]].reset_index(drop=True),
            children=kids.iloc[kid_bounds[k]:kid_bounds[k + 1]].reset_index(drop=True),
            quarantine=records.iloc[record_bounds[k]:record_bounds[k + 1]].reset_index(drop=True),
            reconciliation=recon.iloc[2 * k:2 * k + 2].reset_index(drop=True),
            year=year,
            year_source="given by the caller",
            la_code=la,
            notes=tuple(notes),
        ))
    return results


def _replace_la_codes(frame: pd.DataFrame, rows: FileRows, parsed: list) -> None:
    """Each file's rows get its LA code, with the note :func:`_read_csv` writes when the file's own
    ``la_code`` column said something else."""
    la_rows = rows.per_row([la for _, _, la, *_ in parsed])
    given = rows.count(frame["la_code"].ne("").to_numpy(dtype=bool)) > 0
    differs = rows.count(frame["la_code"].ne(pd.Series(la_rows, index=frame.index)).to_numpy(dtype=bool)) > 0
    for (_, path, la, notes, _), g, d in zip(parsed, given.tolist(), differs.tolist()):
        if g and d:
            notes.append(f"{path.name}: la_code column replaced by la_code {la} given by the caller")
    frame["la_code"] = la_rows


def _mask_values(records: pd.DataFrame, record_file: np.ndarray, frame: pd.DataFrame, rows: FileRows, salt: str) -> list[str]:
    """:func:`mask_identifiers` of every record's value against the raw identifiers (child, upn) of its
    own file, for all files at once: only identifiers equal to some record's value are looked up."""
    values = records["value"].tolist()
    stripped = [v.strip() for v in values]
    wanted = sorted(set(stripped) - {""})
    found: set[tuple[int, str]] = set()
    for column in ("child", "upn"):
        hit = frame[column].isin(wanted).to_numpy(dtype=bool)
        found.update(zip(rows.code[hit].tolist(), frame[column][hit].tolist()))
    if not found:
        return values
    return [pseudonymise(v, salt) if (k, s) in found else v for v, s, k in zip(values, stripped, record_file.tolist())]
