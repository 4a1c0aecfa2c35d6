"""Consistent LA series across the boundary changes of 2019-2023.

Three changes break an LA series inside the evaluation window (``csceval.reference.boundary_changes``):

* ``2019_dorset`` (reorganisation): Bournemouth (837), Poole (836) and Dorset county (835) became
  Bournemouth, Christchurch and Poole (839) and the Dorset unitary (838). Christchurch moved from the
  county into BCP, so no old LA maps onto a new one;
* ``2021_northamptonshire`` (split): Northamptonshire (928) became North (940) and West (941)
  Northamptonshire;
* ``2023_cumbria`` (split): Cumbria (909) became Cumberland (942) and Westmorland and Furness (943).

Per change, the config chooses one action (``data.boundary_changes``):

``keep``
    Leave the series as published: predecessors stop and successors start at the change. Estimators
    that need a balanced panel (Callaway-Sant'Anna, the Bacon decomposition) then leave these LAs out.
``aggregate``
    For a split, sum the successors' numerators and denominators after the change into the
    predecessor's geography and code, and recompute the rate, so the old LA has one unbroken series
    (:func:`csceval.design.cooperatives.aggregate_units`' rules: a suppressed or missing successor
    cell makes the aggregate missing, never a partial sum). Not defined for a reorganisation: no LA
    code covers the combined Dorset area, and merging would mix Dorset (an FFfC pathfinder) with BCP.
``drop``
    Remove every predecessor and successor LA from the panel.

Code-only changes (Buckinghamshire, North Yorkshire, Somerset keep their DfE code) need nothing.
Every action is logged in a table the panel rule writes next to the panel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from csceval.panel import PANEL_COLUMNS
from csceval.reference import boundary_changes

__all__ = ["ACTIONS", "HARMONISATION_COLUMNS", "harmonise_boundaries"]

ACTIONS = ("keep", "aggregate", "drop")
HARMONISATION_COLUMNS = ["change_id", "action", "predecessors", "successors", "rows_before", "rows_after", "note"]


def _changes(actions: Mapping[str, str]) -> pd.DataFrame:
    changes = boundary_changes()
    changes = changes[changes["kind"].ne("code_change")].set_index("change_id")
    unknown = sorted(set(actions) - set(changes.index))
    if unknown:
        raise ValueError(
            f"unknown boundary change(s) {unknown}; changes that break a series: {sorted(changes.index)}"
        )
    for change_id, action in actions.items():
        if action not in ACTIONS:
            raise ValueError(f"boundary change {change_id}: action {action!r} is not one of {list(ACTIONS)}")
        if action == "aggregate" and changes.loc[change_id, "kind"] != "split":
            raise ValueError(
                f"boundary change {change_id} is a {changes.loc[change_id, 'kind']}, not a split: no single LA code "
                "covers the combined area, so it cannot be aggregated; choose keep or drop"
            )
    return changes


def affected_las(actions: Mapping[str, str]) -> dict[str, list[str]]:
    """LA codes that disappear from the panel under ``actions`` (change id -> codes): the successors of an
    aggregated split, every LA of a dropped change."""
    changes = _changes(actions)
    out = {}
    for change_id, action in actions.items():
        row = changes.loc[change_id]
        if action == "aggregate":
            out[change_id] = list(row["successors"])
        elif action == "drop":
            out[change_id] = [*row["predecessors"], *row["successors"]]
    return out


def check_protected(actions: Mapping[str, str], protected: Iterable[str]) -> None:
    """Refuse actions that would remove an LA a programme treats (e.g. dropping 2019_dorset while Dorset
    is an FFfC pathfinder): the treated unit would vanish from the estimation without a trace."""
    protected = {str(c) for c in protected}
    for change_id, codes in affected_las(actions).items():
        hit = sorted(protected & set(codes))
        if hit:
            raise ValueError(
                f"boundary change {change_id}: action {actions[change_id]!r} would remove treated LA(s) {hit} from the "
                "panel; choose keep for this change"
            )


def harmonise_boundaries(panel: pd.DataFrame, actions: Mapping[str, str],
                         protected: Iterable[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the configured action to each boundary change; return the panel and a log of what was done.

    ``panel`` has :data:`csceval.panel.PANEL_COLUMNS`; ``actions`` maps change ids to keep / aggregate /
    drop (changes not named are kept); ``protected`` LAs (the programmes' treated LAs) may not be removed.
    """
    from csceval.design.cooperatives import aggregate_units

    changes = _changes(actions)
    check_protected(actions, protected)
    data = panel[PANEL_COLUMNS].copy()
    data["la_code"] = data["la_code"].astype(str)
    log = []
    for change_id, action in actions.items():
        row = changes.loc[change_id]
        pred, succ = list(row["predecessors"]), list(row["successors"])
        involved = data["la_code"].isin(pred + succ)
        before = int(involved.sum())
        note = ""
        if action == "drop":
            data = data[~involved]
            note = f"LAs {', '.join(pred + succ)} removed: their series break on {row['effective_date']:%Y-%m-%d}"
        elif action == "aggregate":
            successors = data[data["la_code"].isin(succ)]
            present = sorted(set(successors["la_code"]))
            if successors.empty:
                note = "no successor rows in the panel: nothing to aggregate"
            else:
                if present != sorted(succ):
                    raise ValueError(
                        f"boundary change {change_id}: successor(s) {sorted(set(succ) - set(present))} have no rows in the "
                        "panel, so their sum would not cover the predecessor's area"
                    )
                combined = aggregate_units(successors, {pred[0]: succ}, keep_other_las=False)
                overlap = combined.merge(data[data["la_code"].eq(pred[0])], on=["la_code", "period", "outcome"])
                if len(overlap):
                    first = overlap.iloc[0]
                    raise ValueError(
                        f"boundary change {change_id}: LA {pred[0]} and its successors both have {first['outcome']} for "
                        f"{first['period']:%Y-%m-%d}; cannot tell which series to use"
                    )
                data = pd.concat([data[~data["la_code"].isin(succ)], combined], ignore_index=True)
                note = (f"LAs {', '.join(succ)} summed into {pred[0]} from {row['effective_date']:%Y-%m-%d} "
                        "(numerators and denominators, rate recomputed)")
        else:
            note = "kept as published: predecessor series stop and successor series start at the change"
        after = int(data["la_code"].isin(pred + succ).sum())
        log.append(dict(change_id=change_id, action=action, predecessors=";".join(pred), successors=";".join(succ),
                        rows_before=before, rows_after=after, note=note))
    out = data.sort_values(["outcome", "la_code", "period"], ignore_index=True)[PANEL_COLUMNS]
    return out, pd.DataFrame(log, columns=HARMONISATION_COLUMNS)
