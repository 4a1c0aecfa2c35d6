"""By-hand comparison: csceval.did.bacon_decomposition vs diff-diff's BaconDecomposition on castle.

pyfixest has no Goodman-Bacon decomposition. Not part of the test suite (needs ``pip install
diff-diff``). Run from the repository root:

    .venv/bin/python tests/reference/bacon/compare_peers.py
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from csceval.did import bacon_decomposition

HERE = Path(__file__).parent
TYPES = {"treated_vs_never": "Treated vs Untreated", "earlier_vs_later": "Earlier vs Later Treated",
         "later_vs_earlier": "Later vs Earlier Treated"}


def main() -> None:
    import diff_diff
    from diff_diff import BaconDecomposition

    d = pd.read_csv(HERE.parent / "data" / "castle.csv")
    ours = bacon_decomposition(d.assign(sid=d["sid"].astype(str)), "l_homicide", unit="sid", time="year",
                               cohort="effyear")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = BaconDecomposition().fit(d, outcome="l_homicide", unit="sid", time="year", first_treat="effyear")
    pdf = peer.to_dataframe()
    print(f"diff-diff {diff_diff.__version__}")
    print(f"TWFE: csceval {ours.twfe_estimate:.10f}, diff-diff {peer.twfe_estimate:.10f}, bacondecomp printed 0.0818")
    pdf["type"] = pdf["comparison_type"].map(TYPES)
    agg = pdf.groupby("type").apply(lambda f: pd.Series({"weight": f["weight"].sum(),
                                                         "avg_est": (f["estimate"] * f["weight"]).sum() / f["weight"].sum()}),
                                    include_groups=False)
    both = ours.by_type.set_index("type").join(agg.add_suffix("_diff_diff"))
    print(both.to_string(float_format=lambda v: f"{v:.7f}"))
    print(f"max |weight diff| {(both['weight'] - both['weight_diff_diff']).abs().max():.2e}, "
          f"max |avg_est diff| {(both['avg_est'] - both['avg_est_diff_diff']).abs().max():.2e}")


if __name__ == "__main__":
    main()
