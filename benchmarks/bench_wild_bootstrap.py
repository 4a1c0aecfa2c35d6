"""Wild cluster bootstrap (WCR, Webb weights) of the static TWFE DiD on an LA-shaped panel. csceval vs wildboottest.

Same data: ``csceval.inference.simulate_null_panel`` (150 LAs x 48 quarters, waves of 3 and 7 treated
LAs) plus a small effect on treated cells; clustered by LA. csceval partials out the unit effects
(exact FWL) and runs its fast algorithm; wildboottest bootstraps the statsmodels OLS with unit and
period dummies written out (building that model is done once, outside the timed call, so only the
bootstrap is timed). Both draw the weights with ``numpy.random.default_rng(seed).choice`` in the same
order, so the bootstrap p-values must coincide; the t statistics differ only by the small-sample factor.
csceval is asked for the p-value only (``ci=False``), as wildboottest computes no interval.
"""

from __future__ import annotations

import warnings

import pandas as pd

from _harness import Pair


def pair(n_units: int = 150, n_periods: int = 48, n_boot: int = 9999) -> Pair:
    import statsmodels.api as sm
    from wildboottest.wildboottest import wildboottest

    from csceval.inference import simulate_null_panel, wild_cluster_bootstrap

    df = simulate_null_panel(n_units=n_units, n_periods=n_periods, waves=(3, 7), rng=n_periods,
                             first_wave_period=n_periods - 3)
    treated = (df["first_treated"].notna() & (df["period"] >= df["first_treated"])).astype(float)
    df = df.assign(treated=treated, y=df["y"] + 0.4 * treated, cl=pd.factorize(df["la_code"])[0])
    X = pd.get_dummies(df[["la_code", "period"]].astype(str), drop_first=False, dtype=float)
    X = X.drop(columns=[c for c in X.columns if c.startswith("period_")][:1])
    X.insert(0, "treated", df["treated"].to_numpy())
    model = sm.OLS(df["y"].to_numpy(), X)
    clusters = df["cl"].to_numpy()

    def ours():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return wild_cluster_bootstrap(df, "y", restricted=True, weights="webb", n_boot=n_boot, seed=1, ci=False)

    def peer():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return wildboottest(model, B=n_boot, cluster=clusters, param="treated", weights_type="webb",
                                impose_null=True, seed=1, show=False)

    def check(o, p) -> str:
        pp = float(p["p-value"].iloc[0])
        same = abs(o.p_value - pp) <= 1e-12
        return f"{'equal' if same else 'DIFFERENT'} p-values ({o.p_value:.4f} vs {pp:.4f}, same draws)"

    from importlib.metadata import version

    return Pair(f"wild cluster bootstrap WCR-Webb, {n_boot:,} draws", f"{n_units} LAs x {n_periods} periods, 10 treated",
                ours, peer, f"wildboottest {version('wildboottest')}", check,
                notes=["wildboottest: model with unit and period dummies built outside the timed call"])
