"""Checks of a run configuration beyond its JSON schema.

The schema (workflow/schemas/config.schema.yaml) checks keys and types; :func:`check_config` checks
meaning: LA codes exist, dates are in order, effects refer to configured programmes. Each problem is
reported with the key path that holds it.
"""

from __future__ import annotations

from datetime import date

from csceval import reference


class ConfigError(ValueError):
    """A configuration value that is well-formed but wrong; the message names the key."""


def _as_date(value, key: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{key}: {value!r} is not a valid date (YYYY-MM-DD)") from None


def check_config(config: dict) -> None:
    """Raise :class:`ConfigError` listing every semantic problem in ``config``."""
    problems: list[str] = []
    known = set(reference.la_codes())

    def check_codes(codes, key):
        for i, code in enumerate(codes):
            if str(code) not in known:
                problems.append(f"{key}[{i}]: {code!r} is not the code of an English local authority (csceval.reference)")

    programmes = config.get("programmes", {})
    for name, spec in programmes.items():
        key = f"programmes.{name}"
        seen: dict[str, str] = {}
        for w, wave in enumerate(spec.get("waves", [])):
            wkey = f"{key}.waves[{w}]"
            check_codes(wave.get("la_codes", []), f"{wkey}.la_codes")
            for code in wave.get("la_codes", []):
                if code in seen:
                    problems.append(f"{wkey}.la_codes: {code} is already in {seen[code]}")
                seen[code] = wave.get("name", wkey)
            try:
                _as_date(wave["start"], f"{wkey}.start")
            except ConfigError as err:
                problems.append(str(err))
        try:
            end = _as_date(spec["clean_window_end"], f"{key}.clean_window_end")
            if "window_start" in spec:
                start = _as_date(spec["window_start"], f"{key}.window_start")
                if start >= end:
                    problems.append(f"{key}.window_start: {start} is not before clean_window_end {end}")
        except ConfigError as err:
            problems.append(str(err))

    problems += _design_problems(config)

    for g, group in enumerate(config.get("exclusions", [])):
        check_codes(group.get("la_codes", []), f"exclusions[{g}].la_codes")

    actions = (config.get("data") or {}).get("boundary_changes") or {}
    if actions:
        from csceval.boundaries import check_protected

        treated = [c for spec in programmes.values() for wave in spec.get("waves", []) for c in wave.get("la_codes", [])]
        try:
            check_protected(actions, treated)
        except ValueError as err:
            problems.append(f"data.boundary_changes: {err}")

    sim = config.get("simulate") or {}
    if sim:
        if sim.get("first_year", 2013) >= sim.get("last_year", 2029):
            problems.append(f"simulate.first_year: {sim.get('first_year')} is not before simulate.last_year {sim.get('last_year')}")
        for name in sim.get("effects", {}) or {}:
            if name not in programmes:
                problems.append(f"simulate.effects.{name}: no programme called {name!r} (programmes: {sorted(programmes)})")
        if sim.get("national_rollout"):
            try:
                _as_date(sim["national_rollout"]["start"], "simulate.national_rollout.start")
            except ConfigError as err:
                problems.append(str(err))
    problems += _records_problems(config, known)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def _records_problems(config: dict, known: set) -> list[str]:
    """Record-level returns: sub-annual panels need them; years in order; LA codes exist."""
    problems = []
    data = config.get("data", {})
    source, frequency = data.get("source", "synthetic"), data.get("frequency", "annual")
    if frequency != "annual" and source != "records":
        problems.append(f"data.frequency: {frequency!r} needs record-level returns (data.source: records), not {source!r}")
    years = data.get("records_years")
    if years is not None and len(years) == 2 and years[0] > years[1]:
        problems.append(f"data.records_years: first year {years[0]} is after last year {years[1]}")
    sim = config.get("simulate") or {}
    if source == "records" and data.get("records_dir") is None and years is not None and len(years) == 2:
        first, last = sim.get("first_year", 2013), sim.get("last_year", 2029)
        if years[0] < first or years[1] > last:
            problems.append(f"data.records_years: {years} must lie within simulate.first_year..last_year ({first}-{last}) "
                            "for synthetic returns")
    for i, code in enumerate((sim.get("records") or {}).get("la_codes") or []):
        if str(code) not in known:
            problems.append(f"simulate.records.la_codes[{i}]: {code!r} is not the code of an English local authority")
    return problems + _records_check_problems(config, known)


def _records_check_problems(config: dict, known: set) -> list[str]:
    """data.records_check (synthetic runs only; ignored otherwise): LAs that exist, report in every check
    year and keep their own series in the EES panel; years inside the simulated span."""
    data = config.get("data") or {}
    check = data.get("records_check") or {}
    if not check.get("enabled") or data.get("source", "synthetic") != "synthetic":
        return []
    key = "data.records_check"
    codes = [str(c) for c in check.get("la_codes") or []]
    problems = [] if codes else [f"{key}.la_codes: empty; list the LAs whose returns are checked, or set enabled: false"]
    years = check.get("years") or [2023, 2025]
    sim = config.get("simulate") or {}
    first, last = sim.get("first_year", 2013), sim.get("last_year", 2029)
    if years[0] > years[1]:
        problems.append(f"{key}.years: first year {years[0]} is after last year {years[1]}")
    elif years[0] < first or years[1] > last:
        problems.append(f"{key}.years: {years} must lie within simulate.first_year..last_year ({first}-{last})")
    las = reference.local_authorities().set_index("la_code")
    for i, code in enumerate(codes):
        if code not in known:
            problems.append(f"{key}.la_codes[{i}]: {code!r} is not the code of an English local authority")
            continue
        first_rep = int(las.loc[code, "first_reporting_year"])
        last_rep = las.loc[code, "last_reporting_year"]
        last_rep = None if last_rep is None or str(last_rep) in ("<NA>", "nan", "None") else int(last_rep)
        if first_rep > years[0] or (last_rep is not None and last_rep < years[1]):
            problems.append(f"{key}.la_codes[{i}]: LA {code} does not report in every year {years[0]}-{years[1]} "
                            f"(it reports {first_rep}-{last_rep or ''}): its returns and EES rows would be missing")
    actions = data.get("boundary_changes") or {}
    if actions:
        from csceval.boundaries import affected_las

        try:
            removed = {c: change for change, cs in affected_las(actions).items() for c in cs}
        except ValueError:
            removed = {}   # reported under data.boundary_changes
        for i, code in enumerate(codes):
            if code in removed:
                problems.append(f"{key}.la_codes[{i}]: LA {code} has no series of its own in the EES panel "
                                f"(data.boundary_changes.{removed[code]}: {actions[removed[code]]}); choose another LA")
    return problems


def _design_problems(config: dict) -> list[str]:
    """Cross-field rules of the design block and the programmes' outcome chains."""
    problems: list[str] = []
    for name, spec in (config.get("programmes") or {}).items():
        outcomes = set(spec.get("outcomes", []))
        for outcome in spec.get("outcome_chain") or {}:
            if outcome not in outcomes:
                problems.append(f"programmes.{name}.outcome_chain.{outcome}: not one of the programme's outcomes {sorted(outcomes)}")
    design = config.get("design") or {}
    pools = design.get("pools", ["eligible", "neighbours", "matched"])
    for p in (design.get("mde") or {}).get("pools", ["eligible", "matched"]):
        if p not in pools:
            problems.append(f"design.mde.pools: {p!r} is not built (design.pools: {pools})")
    if (design.get("matching") or {}).get("within") == "neighbours" and "neighbours" not in pools:
        problems.append("design.matching.within: 'neighbours' needs 'neighbours' in design.pools")
    data = config.get("data") or {}
    files = data.get("statistical_neighbours") or {}
    if data.get("source") == "files" and "neighbours" in pools:
        model = str((design.get("neighbours") or {}).get("model", "2025"))
        if not files:
            problems.append("data.statistical_neighbours: a real-data run with the neighbours pool needs the DfE statistical "
                            "neighbour file(s), e.g. {\"2025\": data/raw/ees/sn_model_2025_wide.csv}")
        elif model not in {str(k) for k in files}:
            problems.append(f"design.neighbours.model: {model!r} is not a key of data.statistical_neighbours {sorted(map(str, files))}")
    return problems
