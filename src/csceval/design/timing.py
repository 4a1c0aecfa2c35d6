"""Treatment timing and the units each programme's estimation uses.

A programme's config lists waves (start date, LAs). For a panel of periods given by their start
dates, a unit's ``first_treated`` period is the period that contains its wave's start date: a wave
starting on 1 July 2023 is first treated in reporting year 2024 (period starting 1 April 2023). Partly
exposed periods therefore count as treated, which keeps them out of the pre-period.

Roles: ``treated`` (in one of the programme's waves), ``comparison`` (never treated by this
programme and eligible), ``excluded`` (with the reason: treated by another programme before this
programme's clean window ends, or a configured exclusion such as a tiny LA).
"""

from __future__ import annotations

import pandas as pd

TIMING_COLUMNS = ["programme", "la_code", "role", "wave", "start_date", "date_status", "first_treated", "reason"]


def first_period_containing(start, periods) -> pd.Timestamp:
    """The latest period start on or before ``start`` (periods are period start dates).

    Returns NaT when ``start`` is before the first period or after the last period ends (taken as
    one period length after the last start).
    """
    start = pd.Timestamp(start)
    periods = pd.DatetimeIndex(sorted(pd.to_datetime(pd.Index(periods).unique())))
    if len(periods) == 0 or start < periods[0]:
        return pd.NaT
    step = periods[-1] - periods[-2] if len(periods) > 1 else pd.Timedelta(days=366)
    if start >= periods[-1] + step:
        return pd.NaT
    return periods[periods <= start][-1]


def treatment_timing(programme: str, config: dict, la_codes, periods) -> pd.DataFrame:
    """Role, wave and first treated period of every LA for one programme.

    Parameters
    ----------
    programme : key of ``config["programmes"]``.
    config : the validated run configuration.
    la_codes : LAs present in the panel.
    periods : period start dates present in the panel.

    Returns
    -------
    DataFrame with :data:`TIMING_COLUMNS`, one row per LA in ``la_codes`` plus any treated LA missing
    from the panel (role ``treated``, reason saying it has no data).
    """
    spec = config["programmes"][programme]
    window_end = pd.Timestamp(spec["clean_window_end"])
    la_codes = sorted(set(map(str, la_codes)))
    rows: dict[str, dict] = {}

    for wave in spec["waves"]:
        start = pd.Timestamp(wave["start"])
        for code in wave["la_codes"]:
            first = first_period_containing(start, periods)
            reason = "" if code in la_codes else "treated LA has no data in the panel"
            if start > window_end:
                reason = "starts after the clean window ends: no treated periods are estimated"
            rows[code] = dict(
                programme=programme, la_code=code, role="treated", wave=wave["name"], start_date=start,
                date_status=wave["date_status"], first_treated=first, reason=reason,
            )

    other_treated: dict[str, str] = {}
    for other, other_spec in config["programmes"].items():
        if other == programme:
            continue
        for wave in other_spec["waves"]:
            if pd.Timestamp(wave["start"]) <= window_end:
                for code in wave["la_codes"]:
                    other_treated.setdefault(
                        code, f"treated by {other} ({other_spec['name']}, {wave['name']}) from {wave['start']}, within this programme's window"
                    )
    excluded: dict[str, str] = {}
    for group in config.get("exclusions", []):
        for code in group["la_codes"]:
            excluded.setdefault(code, group["reason"])

    for code in la_codes:
        if code in rows:
            continue
        reason = other_treated.get(code) or excluded.get(code)
        rows[code] = dict(
            programme=programme, la_code=code, role="excluded" if reason else "comparison", wave="",
            start_date=pd.NaT, date_status="", first_treated=pd.NaT, reason=reason or "",
        )
    table = pd.DataFrame(list(rows.values()), columns=TIMING_COLUMNS)
    table["start_date"] = pd.to_datetime(table["start_date"]).astype("datetime64[ns]")
    table["first_treated"] = pd.to_datetime(table["first_treated"]).astype("datetime64[ns]")
    return table.sort_values(["role", "la_code"], key=lambda s: s.map({"treated": 0, "comparison": 1, "excluded": 2}) if s.name == "role" else s, ignore_index=True)


PERIOD_MONTHS = {"annual": 12, "quarterly": 3, "monthly": 1}


def estimation_sample(
    panel: pd.DataFrame, timing: pd.DataFrame, outcome: str, window_start, window_end, frequency: str = "annual"
) -> pd.DataFrame:
    """Rows of one outcome for treated and comparison LAs whose periods lie wholly in the window.

    A period is kept when it starts on or after ``window_start`` and ends (the day before the next
    period starts) on or before ``window_end``.

    Returns the panel rows with ``first_treated`` attached (NaT for comparison LAs); missing values
    (suppressed cells) are kept for the estimator to drop and count.
    """
    units = timing.loc[timing["role"].isin(["treated", "comparison"]), ["la_code", "first_treated"]]
    rows = panel[panel["outcome"].eq(outcome)]
    period_end = rows["period"] + pd.DateOffset(months=PERIOD_MONTHS[frequency]) - pd.Timedelta(days=1)
    rows = rows[(rows["period"] >= pd.Timestamp(window_start)) & (period_end <= pd.Timestamp(window_end))]
    return rows.merge(units, on="la_code", how="inner").sort_values(["la_code", "period"], ignore_index=True)
