r"""Goodman-Bacon (2021) decomposition of the static TWFE estimate, as R ``bacondecomp::bacon()``.

In a balanced panel with a binary, absorbing treatment and no covariates, the static two-way fixed
effects coefficient is a weighted average of all 2x2 difference-in-differences comparisons between
timing groups (cohorts) and the never-treated group, with weights proportional to group sizes and
the variance of treatment within each comparison (Goodman-Bacon 2021, Theorem 1). "Later vs Earlier
Treated" comparisons use already-treated units as controls; with dynamic effects they are biased, and
their weight shows how much the TWFE estimate leans on them.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csceval.did._panel import _G, _T, _UNIT, _Y, prepare_panel
from csceval.did._results import EstimationResult, OverallEstimate

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["BaconResult", "bacon_decomposition"]

#: Comparison types, as bacondecomp labels them.
COMPARISON_TYPES: tuple[str, ...] = (
    "Earlier vs Later Treated",
    "Later vs Earlier Treated",
    "Later vs Always Treated",
    "Treated vs Untreated",
)
INFERENCE = "Goodman-Bacon decomposition (no SE)"


@dataclass(frozen=True, eq=False)
class BaconResult:
    """Result of :func:`bacon_decomposition`.

    Attributes
    ----------
    table : DataFrame
        One row per 2x2 comparison: ``type`` (see :data:`COMPARISON_TYPES`), ``treated_cohort``
        (first treated period of the group whose treatment switches on in the comparison),
        ``comparison_cohort`` (that of the control group; missing for never-treated),
        ``comparison`` (text: a period, ``"never treated"`` or ``"always treated"``), ``estimate``
        (the 2x2 DiD), ``weight`` (sums to 1), ``n_treated_units``, ``n_comparison_units``.
    twfe_estimate : float
        The static TWFE coefficient; equals ``(table.estimate * table.weight).sum()``.
    by_type : DataFrame
        ``type``, ``weight`` (total), ``avg_est`` (weighted average estimate), as bacondecomp prints.
    """

    outcome: str
    table: pd.DataFrame
    twfe_estimate: float
    by_type: pd.DataFrame
    n_treated: int
    n_control: int
    n_obs: int
    time_dtype: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        """Weights and weighted average estimates by comparison type (bacondecomp's printout)."""
        lines = ["Goodman-Bacon decomposition of the static TWFE estimate", "=" * 60]
        shown = self.by_type.copy()
        shown.index = range(1, len(shown) + 1)
        lines.append(shown.to_string(float_format=lambda v: f"{v:.5f}"))
        lines.append("-" * 60)
        lines.append(f"TWFE estimate = weighted sum of the 2x2 estimates = {self.twfe_estimate:.6f}")
        lines.append(f"{len(self.table)} comparisons; {self.n_treated} treated and {self.n_control} never-treated units; "
                     f"{self.n_obs} observations")
        for note in self.metadata.get("notes", ()):
            lines.extend(textwrap.wrap(f"Note: {note}", width=80, subsequent_indent="      "))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def as_estimation_result(self) -> EstimationResult:
        """The TWFE coefficient as an :class:`EstimationResult` (one overall row, no SE)."""
        row = {
            "aggregation": "overall", "cohort": None, "period": None, "event_time": pd.NA,
            "estimate": self.twfe_estimate, "std_error": np.nan, "ci_lower": np.nan, "ci_upper": np.nan,
            "p_value": np.nan, "inference": INFERENCE,
        }
        return EstimationResult(
            estimator="bacon_decomposition",
            outcome=self.outcome,
            estimates=pd.DataFrame([row]),
            overall=OverallEstimate(self.twfe_estimate),
            inference=INFERENCE,
            n_treated=self.n_treated,
            n_control=self.n_control,
            n_obs=self.n_obs,
            n_dropped_missing=0,
            label="Goodman-Bacon decomposition",
            time_dtype=self.time_dtype,
        )

    def tidy(self, programme: str | None = None) -> pd.DataFrame:
        """Estimates-table contract: one ``overall`` row holding the TWFE coefficient, without SE."""
        return self.as_estimation_result().tidy(programme)

    def plot(self, **kwargs: Any) -> Figure:
        """Scatter of the 2x2 estimates against their weights (:func:`csceval.report.figures.bacon_figure`)."""
        from csceval.report.figures import bacon_figure

        kwargs.setdefault("title", f"Goodman-Bacon decomposition: {self.outcome}")
        return bacon_figure(self.table, twfe_estimate=self.twfe_estimate, **kwargs)


def _twfe_balanced(y: np.ndarray, d: np.ndarray) -> float:
    """Static TWFE coefficient in a balanced (N, T) panel by the within transformation."""
    dd = d - d.mean(axis=1, keepdims=True) - d.mean(axis=0, keepdims=True) + d.mean()
    return float((dd * y).sum() / (dd**2).sum())


def complete_units(df: pd.DataFrame, outcome: str, unit: str = "la_code", time: str = "period") -> tuple[pd.DataFrame, list]:
    """Keep the units observed with a non-missing ``outcome`` in every period of ``df``.

    The decomposition needs a balanced panel; this is the documented way to get one from a sample
    with gaps (an LA created by a boundary change, a suppressed cell). Returns the kept rows and the
    sorted list of dropped units, so the caller can say which units the figure leaves out.
    """
    periods = df[time].nunique()
    observed = df[df[outcome].notna()].groupby(unit)[time].nunique()
    keep = observed.index[observed.eq(periods)]
    dropped = sorted(set(df[unit].unique()) - set(keep))
    return df[df[unit].isin(keep)].copy(), dropped


def bacon_decomposition(
    df: pd.DataFrame,
    outcome: str,
    unit: str = "la_code",
    time: str = "period",
    cohort: str = "first_treated",
) -> BaconResult:
    r"""Goodman-Bacon (2021) decomposition of the static TWFE estimate, as ``bacondecomp::bacon``.

    With timing groups :math:`k` (first treated in period :math:`t_k`), the never-treated group
    :math:`U`, group shares :math:`n_k` and treated-time shares :math:`\bar D_k = (T - t_k)/T`
    (periods indexed :math:`0..T-1`), the TWFE coefficient of
    :math:`y_{it} = \alpha_i + \lambda_t + \beta D_{it} + \varepsilon_{it}` decomposes as

    .. math::

        \hat\beta^{DD} = \sum_{k} s_{kU}\hat\beta_{kU}
            + \sum_{k}\sum_{l > k}\big(s^k_{kl}\hat\beta^k_{kl} + s^l_{kl}\hat\beta^l_{kl}\big),
        \qquad \sum s = 1,

    with the 2x2 estimates (:math:`\bar y^{W}_g` = mean outcome of group :math:`g` over periods
    :math:`W`; PRE :math:`= t < t_k`, MID :math:`= t_k \le t < t_l`, POST :math:`= t \ge t_l`)

    .. math::

        \hat\beta_{kU} &= (\bar y^{t\ge t_k}_k - \bar y^{t<t_k}_k) - (\bar y^{t\ge t_k}_U - \bar y^{t<t_k}_U)
            \quad\text{(Treated vs Untreated)}\\
        \hat\beta^k_{kl} &= (\bar y^{MID}_k - \bar y^{PRE}_k) - (\bar y^{MID}_l - \bar y^{PRE}_l)
            \quad\text{(Earlier vs Later Treated)}\\
        \hat\beta^l_{kl} &= (\bar y^{POST}_l - \bar y^{MID}_l) - (\bar y^{POST}_k - \bar y^{MID}_k)
            \quad\text{(Later vs Earlier Treated; Later vs Always Treated if } t_k = 0)

    and weights proportional to

    .. math::

        s_{kU} &\propto (n_k + n_U)^2\, n_{kU}(1-n_{kU})\, \bar D_k(1-\bar D_k)\\
        s^k_{kl} &\propto \big((n_k + n_l)(1-\bar D_l)\big)^2 n_{kl}(1-n_{kl})
            \frac{\bar D_k - \bar D_l}{1-\bar D_l}\frac{1-\bar D_k}{1-\bar D_l}\\
        s^l_{kl} &\propto \big((n_k + n_l)\bar D_k\big)^2 n_{kl}(1-n_{kl})
            \frac{\bar D_l}{\bar D_k}\frac{\bar D_k-\bar D_l}{\bar D_k},

    :math:`n_{ab} = n_a/(n_a+n_b)`, normalised to sum to one (Goodman-Bacon 2021, eq. 10).

    Parameters
    ----------
    df, outcome, unit, time, cohort
        As in :func:`csceval.did.twfe`. No covariates (bacondecomp's controlled decomposition is not
        implemented).

    Returns
    -------
    BaconResult
        ``.table``, ``.twfe_estimate``, ``.by_type``, ``.summary()``, ``.tidy()``, ``.plot()``.

    Raises
    ------
    ValueError
        If the panel is not balanced (every unit observed with a non-missing outcome in every
        period: drop or fill first), if there are no treated units or no variation in treatment
        timing to compare, plus the input checks of :func:`csceval.did.twfe`.
    AssertionError
        If the weights do not sum to one or the weighted sum differs from the TWFE coefficient
        (an internal check of Theorem 1; it cannot fail on valid input).

    Notes
    -----
    Units first treated in the first observed period form the "always treated" group (control in
    "Later vs Always Treated" comparisons); units first treated after the last observed period are
    never treated within the window.
    """
    panel = prepare_panel(df, outcome, unit, time, cohort)
    data = panel.data
    n_units = data[_UNIT].nunique()
    n_periods = len(panel.times)
    if panel.n_dropped_missing_outcome or len(data) != n_units * n_periods:
        per_unit = data.groupby(_UNIT)[_T].nunique()
        short = per_unit[per_unit < n_periods]
        raise ValueError(
            "the Goodman-Bacon decomposition needs a balanced panel (every unit observed with a non-missing "
            f"{outcome!r} in each of the {n_periods} periods): {panel.n_dropped_missing_outcome} row(s) have a missing "
            f"outcome and {len(short)} unit(s) lack periods (e.g. {list(short.index[:5])}); drop those units or "
            "periods first"
        )
    wide_y = data.pivot(index=_UNIT, columns=_T, values=_Y).sort_index(axis=1)
    g_unit = data.groupby(_UNIT)[_G].first().reindex(wide_y.index)
    Y = wide_y.to_numpy()
    T = n_periods
    tgrid = np.arange(T)
    gvals = g_unit.to_numpy()
    D = (~np.isnan(gvals))[:, None] & (tgrid[None, :] >= np.nan_to_num(gvals, nan=np.inf)[:, None])
    D = D.astype(float)
    if D.sum() == 0:
        raise ValueError(f"no treated units: every unit's cohort ({cohort!r}) is 0/missing or after the last period")
    if np.all(D.std(axis=0) == 0) or np.all(D.std(axis=1) == 0):
        raise ValueError("no variation in treatment across units within periods: nothing to decompose")
    beta_twfe = _twfe_balanced(Y, D)

    N = Y.shape[0]
    groups: dict[Any, np.ndarray] = {}
    for g in sorted(set(gvals[~np.isnan(gvals)].astype(int))):
        groups[g] = gvals == g
    never = np.isnan(gvals)
    means = {g: Y[m].mean(axis=0) for g, m in groups.items()}
    share = {g: m.sum() / N for g, m in groups.items()}
    dbar = {g: (T - g) / T for g in groups}
    rows = []

    def label(g: int) -> Any:
        return panel.times[g]

    if never.any():
        yU = Y[never].mean(axis=0)
        nU = never.sum() / N
        for k in groups:
            if k == 0:
                continue  # always treated: no within-window variation against U
            pre, post = tgrid < k, tgrid >= k
            est = (means[k][post].mean() - means[k][pre].mean()) - (yU[post].mean() - yU[pre].mean())
            nkU = share[k] / (share[k] + nU)
            w = (share[k] + nU) ** 2 * nkU * (1 - nkU) * dbar[k] * (1 - dbar[k])
            rows.append(("Treated vs Untreated", k, None, "never treated", est, w, groups[k].sum(), never.sum()))
    ks = sorted(groups)
    for i, k in enumerate(ks):
        for l in ks[i + 1:]:
            nkl = share[k] / (share[k] + share[l])
            pre, mid, post = tgrid < k, (tgrid >= k) & (tgrid < l), tgrid >= l
            if k > 0:
                est = (means[k][mid].mean() - means[k][pre].mean()) - (means[l][mid].mean() - means[l][pre].mean())
                w = ((share[k] + share[l]) * (1 - dbar[l])) ** 2 * nkl * (1 - nkl) \
                    * (dbar[k] - dbar[l]) / (1 - dbar[l]) * (1 - dbar[k]) / (1 - dbar[l])
                rows.append(("Earlier vs Later Treated", k, l, str(label(l)), est, w, groups[k].sum(), groups[l].sum()))
            est = (means[l][post].mean() - means[l][mid].mean()) - (means[k][post].mean() - means[k][mid].mean())
            w = ((share[k] + share[l]) * dbar[k]) ** 2 * nkl * (1 - nkl) * (dbar[l] / dbar[k]) \
                * (dbar[k] - dbar[l]) / dbar[k]
            kind = "Later vs Always Treated" if k == 0 else "Later vs Earlier Treated"
            rows.append((kind, l, k, "always treated" if k == 0 else str(label(k)), est, w, groups[l].sum(),
                         groups[k].sum()))
    if not rows:
        raise ValueError("no 2x2 comparison has treatment variation (e.g. a single cohort treated from the first "
                         "period and no never-treated units)")
    table = pd.DataFrame(rows, columns=["type", "_treated_idx", "_comparison_idx", "comparison", "estimate", "weight",
                                        "n_treated_units", "n_comparison_units"])
    total = table["weight"].sum()
    table["weight"] = table["weight"] / total
    table["treated_cohort"] = [label(int(g)) for g in table["_treated_idx"]]
    table["comparison_cohort"] = [None if pd.isna(g) else label(int(g)) for g in table["_comparison_idx"]]
    if pd.api.types.is_datetime64_any_dtype(panel.times):
        table["treated_cohort"] = pd.to_datetime(table["treated_cohort"])
        table["comparison_cohort"] = pd.to_datetime(table["comparison_cohort"])
    table = table[["type", "treated_cohort", "comparison_cohort", "comparison", "estimate", "weight",
                   "n_treated_units", "n_comparison_units"]].sort_values(
        ["type", "treated_cohort"], kind="stable").reset_index(drop=True)
    weighted = float((table["estimate"] * table["weight"]).sum())
    assert abs(table["weight"].sum() - 1.0) < 1e-10, "Bacon weights do not sum to 1"
    assert abs(weighted - beta_twfe) <= 1e-8 * max(1.0, abs(beta_twfe)), (
        f"Theorem 1 violated: weighted sum of 2x2 estimates {weighted!r} != TWFE coefficient {beta_twfe!r}"
    )
    by_type = (
        table.groupby("type", sort=True)
        .apply(lambda f: pd.Series({"weight": f["weight"].sum(),
                                    "avg_est": (f["estimate"] * f["weight"]).sum() / f["weight"].sum()}),
               include_groups=False)
        .reset_index()
    )
    n_treated = int((~never).sum())
    notes = list(panel.notes)
    if 0 in groups:
        notes.append(f"{int(groups[0].sum())} unit(s) treated from the first period form the 'always treated' group")
    return BaconResult(
        outcome=outcome,
        table=table,
        twfe_estimate=beta_twfe,
        by_type=by_type,
        n_treated=n_treated,
        n_control=int(never.sum()),
        n_obs=int(Y.size),
        time_dtype=panel.time_dtype,
        metadata={"unit": unit, "time": time, "cohort": cohort, "n_periods": T, "weighted_sum": weighted,
                  "notes": tuple(notes)},
    )
