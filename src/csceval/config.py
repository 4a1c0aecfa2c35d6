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
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
