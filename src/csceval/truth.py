"""Compare estimates with the true effects built into the synthetic data.

The simulator writes ``true_effects.csv``: the effect on each treated LA x period x outcome, in the
outcome's unit. Aggregated the way each estimator aggregates, these give the targets the estimates
should recover:

* ``overall``: mean true effect over treated LA x post-treatment periods in the estimation sample
  (the ATT over treated cells, equally weighted);
* ``event_study``: mean true effect over treated LAs at each event time, with event times outside
  the window binned into the endpoints exactly as the event-study estimator bins them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COMPARISON_COLUMNS = [
    "programme", "outcome", "estimator", "aggregation", "event_time", "estimate", "std_error",
    "ci_lower", "ci_upper", "true_value", "error", "covered", "n_treated_cells",
]


def cell_truth(sample: pd.DataFrame, true_effects: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Attach the total true effect to each row of an estimation sample (0 where none was injected)."""
    effects = true_effects[true_effects["outcome"].eq(outcome)].copy()
    effects["period"] = pd.to_datetime(effects["period"]).astype("datetime64[ns]")
    effects["la_code"] = effects["la_code"].astype(str)
    total = effects.groupby(["la_code", "period"], as_index=False)["true_effect"].sum()
    out = sample.merge(total, on=["la_code", "period"], how="left")
    out["true_effect"] = out["true_effect"].fillna(0.0)
    return out


def truth_targets(sample: pd.DataFrame, true_effects: pd.DataFrame, outcome: str, leads: int, lags: int) -> pd.DataFrame:
    """Targets per aggregation for one programme x outcome estimation sample.

    ``sample`` is the estimation sample (columns la_code, period, value, first_treated). Rows with a
    missing value are not estimated on and so are left out of the targets too.
    """
    cells = cell_truth(sample[sample["value"].notna()], true_effects, outcome)
    periods = np.sort(cells["period"].unique())
    index = {p: i for i, p in enumerate(periods)}
    treated = cells[cells["first_treated"].notna()].copy()
    first_idx = treated["first_treated"].map(lambda p: int(np.searchsorted(periods, np.datetime64(p))))
    treated["event_time"] = treated["period"].map(index) - first_idx
    post = treated[treated["event_time"] >= 0]
    rows = [dict(aggregation="overall", event_time=pd.NA, true_value=post["true_effect"].mean(), n_treated_cells=len(post))]
    binned = treated["event_time"].clip(lower=-leads, upper=lags)
    for e, group in treated.groupby(binned):
        rows.append(dict(aggregation="event_study", event_time=int(e), true_value=group["true_effect"].mean(), n_treated_cells=len(group)))
    targets = pd.DataFrame(rows)
    targets["event_time"] = targets["event_time"].astype("Int64")
    controls = cells[cells["first_treated"].isna()]
    targets.attrs["control_contamination"] = float(controls["true_effect"].abs().max()) if len(controls) else 0.0
    return targets


def compare_with_truth(estimates: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """Join tidy estimates (one programme x outcome x estimator) with their targets."""
    keep = estimates[estimates["aggregation"].isin(["overall", "event_study"])].copy()
    keep["event_time"] = keep["event_time"].astype("Int64")
    out = keep.merge(targets, on=["aggregation", "event_time"], how="inner")
    out["error"] = out["estimate"] - out["true_value"]
    covered = (out["ci_lower"] <= out["true_value"]) & (out["true_value"] <= out["ci_upper"])
    out["covered"] = covered.astype("boolean").mask(out["std_error"].isna())
    return out[COMPARISON_COLUMNS]
