r"""Regional Care Cooperatives: cooperative-level synthetic control and synthetic DiD.

An RCC programme (``unit: cooperative`` in the config) has one wave per cooperative: its member LAs
and its launch date. Each cooperative is evaluated as **one unit**, against donor units built from
non-member LAs (:mod:`csceval.design.cooperatives`):

1. :func:`cooperatives` reads the cooperatives from the programme's config (code = slug of the wave
   name, e.g. ``greater_manchester``).
2. :func:`cooperative_panel` forms the donor groupings of one cooperative
   (:func:`~csceval.design.cooperatives.donor_groupings`) and aggregates members and donors into
   unit rows by **summing numerators and denominators** and recomputing the rate
   (:func:`~csceval.design.cooperatives.aggregate_units`), never by averaging LA rates.
3. :func:`synth_sample` keeps the programme's window and one outcome, drops donor units with any
   missing cell (synthetic DiD needs a balanced panel; the same units are used for both methods),
   and marks the cooperative as treated from the period containing its launch date (partly exposed
   periods count as treated, as for the LA programmes). No post-period, or fewer than two
   pre-periods, is an error naming the cooperative, its start and the periods available.
4. :func:`run_synth` runs :func:`~csceval.did.synthetic_control` (placebo in space, post/pre
   RMSPE ratio p-value, placebo in time) and :func:`~csceval.did.synthetic_did` (placebo SE) and
   returns the tidy estimates (the estimates contract plus ``treated_unit``), an inference
   summary row per method and each method's placebo effects (:data:`SYNTH_PLACEBO_COLUMNS`).
5. :func:`pool_cooperatives` averages the cooperatives' effects per outcome and method (equal
   weights) and tests the average against the placebo distribution of averages of one placebo effect
   per cooperative (below).

Pooled estimate and its placebo p-value
---------------------------------------
The pooled effect of :math:`J` cooperatives is :math:`\bar\tau = \sum_j w_j\hat\tau_j` with equal weights
:math:`w_j = 1/J` (each cooperative counts once, whatever its size). Its null distribution is built as in
Cavallo, Galiani, Noy & Pantano (2013, "Catastrophic natural disasters and economic growth", REStat),
who average synthetic-control effects over several treated units: for every combination of one placebo
effect per cooperative (placebo :math:`k_j` from cooperative :math:`j`'s own placebo set), the placebo
average :math:`\bar\tau^{(k)} = \sum_j w_j \hat\tau^{placebo}_{j,k_j}`; the two-sided p-value is

.. math:: p = \frac{1 + \#\{k : |\bar\tau^{(k)}| \ge |\bar\tau|\}}{1 + \#\{k\}}.

Under the null of no effect in any cooperative, and with each cooperative exchangeable with its own
placebos, the observed average is one draw from this distribution (counted once). Placebo sets:
synthetic control -- every kept donor refitted as if treated at the cooperative's start (its mean
post-period gap; the per-cooperative test uses the RMSPE ratio instead); synthetic DiD -- the placebo
replications of its standard error (``se_method: placebo``; a random donor as treated each time). All
combinations are used up to :data:`MAX_POOLED_COMBINATIONS`, otherwise that many drawn with ``seed``.
Donor pools of different cooperatives are formed separately and may share LAs; combinations are not
restricted to disjoint donor units.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from csceval.design.cooperatives import aggregate_units, donor_groupings, donor_members
from csceval.design.timing import PERIOD_MONTHS, first_period_containing

__all__ = [
    "MAX_POOLED_COMBINATIONS",
    "POOLED_COLUMNS",
    "SYNTH_FIGURE_KINDS",
    "SYNTH_INFERENCE_COLUMNS",
    "SYNTH_PLACEBO_COLUMNS",
    "SynthRun",
    "cooperative_panel",
    "cooperatives",
    "pool_cooperatives",
    "run_synth",
    "synth_sample",
    "write_synth_figures",
]

#: Figures per cooperative x outcome (file name suffixes): treated vs synthetic paths, gaps over the
#: placebo spaghetti, donor weights, and the synthetic DiD paths with time weights.
SYNTH_FIGURE_KINDS = ("sc_paths", "sc_placebo_gaps", "sc_weights", "sdid_paths")

SYNTH_INFERENCE_COLUMNS = [
    "programme", "outcome", "treated_unit", "estimator", "estimate", "p_value", "std_error", "pre_rmspe",
    "post_rmspe", "rmspe_ratio", "rank", "placebos_used", "placebo_in_time_start", "placebo_in_time_mean_gap",
    "placebo_in_time_ratio", "donor_units", "start_period", "pre_periods", "post_periods", "inference",
]

#: Placebo effects of one cooperative x outcome: ``placebo`` is the donor unit (synthetic control) or
#: the replication number (synthetic DiD).
SYNTH_PLACEBO_COLUMNS = ["programme", "outcome", "treated_unit", "estimator", "placebo", "estimate"]

POOLED_COLUMNS = [
    "programme", "outcome", "estimator", "cooperatives", "weights", "estimate", "p_value", "placebo_combinations",
    "min_p_value", "inference",
]

#: Most placebo combinations :func:`pool_cooperatives` enumerates; beyond, it draws this many.
MAX_POOLED_COMBINATIONS = 200_000


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = f"coop_{slug}"
    return slug


def cooperatives(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{code: {"name", "start", "la_codes"}}`` of a cooperative programme, one per wave (config order)."""
    out: dict[str, dict[str, Any]] = {}
    for wave in spec["waves"]:
        code = _slug(wave["name"])
        if code in out:
            raise ValueError(f"two waves of the programme give the cooperative code {code!r}; rename one wave")
        out[code] = {"name": wave["name"], "start": pd.Timestamp(wave["start"]),
                     "la_codes": [str(c) for c in wave["la_codes"]]}
    return out


def cooperative_panel(
    panel: pd.DataFrame,
    code: str,
    members: list[str],
    *,
    config: Mapping[str, Any],
    donors: Mapping[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Unit panel (cooperative + donor units, :data:`csceval.panel.PANEL_COLUMNS`) and the donor table.

    ``donors`` holds the keyword arguments of :func:`donor_groupings` from the config (``method``,
    ``group_size``, ``seed``, ``exclude_own_region``, ``leftover``) and ``min_units``; ``config``
    (programmes and exclusions) removes every programme LA and excluded LA from the donor pool.

    Donor units have ``group_size`` LAs (default: as many as the cooperative has members). When that
    gives fewer than ``min_units`` donor units, the groups are made smaller, one LA at a time, until
    there are ``min_units`` (or as many as possible): a placebo-in-space p-value cannot be smaller
    than 1 / (1 + donors), so with fewer than 19 donors no test can reject at 5%. The group size
    used is in the ``group_size`` column of the returned donor table.
    """
    settings = dict(donors)
    min_units = int(settings.pop("min_units", 1))
    la_codes = panel["la_code"].astype(str).unique()
    size = int(settings.pop("group_size", None) or len(set(members)))
    best: tuple[int, int, pd.DataFrame] | None = None
    for g in range(size, 0, -1):  # shrink the groups until there are enough donor units
        groupings = donor_groupings(la_codes, members, config=config, group_size=g, **settings)
        n = len(donor_members(groupings))
        if best is None or n > best[1]:
            best = (g, n, groupings)
        if n >= min_units:
            best = (g, n, groupings)
            break
    g, n, groupings = best
    if n == 0:
        raise ValueError(
            f"cooperative {code!r}: no donor unit could be formed from the panel's {len(la_codes)} LAs (settings "
            f"{dict(donors)}); set synth.donors.exclude_own_region: false or use more LAs")
    groupings = groupings.assign(group_size=g)
    donor_units = donor_members(groupings)
    units = aggregate_units(panel, {code: members, **donor_units}, keep_other_las=False)
    return units, groupings


def synth_sample(
    units: pd.DataFrame,
    outcome: str,
    code: str,
    start,
    window_start,
    window_end,
    frequency: str = "annual",
) -> tuple[pd.DataFrame, list[str]]:
    """Balanced estimation sample of one outcome: ``la_code``, ``period``, ``value``, ``treated``.

    Returns the sample and notes (donor units dropped for missing cells).
    """
    rows = units[units["outcome"].eq(outcome)].copy()
    if rows.empty:
        raise ValueError(f"outcome {outcome!r} is not in the panel")
    period_end = rows["period"] + pd.DateOffset(months=PERIOD_MONTHS[frequency]) - pd.Timedelta(days=1)
    rows = rows[(rows["period"] >= pd.Timestamp(window_start)) & (period_end <= pd.Timestamp(window_end))]
    periods = sorted(rows["period"].unique())
    if not periods:
        raise ValueError(f"no {outcome} periods between {window_start} and {window_end}")
    first = first_period_containing(start, periods)
    last = pd.Timestamp(periods[-1])
    if pd.isna(first) or pd.Timestamp(start) > last + pd.DateOffset(months=PERIOD_MONTHS[frequency]) - pd.Timedelta(days=1):
        raise ValueError(
            f"cooperative {code!r} starts {pd.Timestamp(start).date()}, but the last {frequency} period in the window "
            f"starts {last.date()}: there is no post-treatment period to estimate. Extend the data "
            "(simulate.last_year for synthetic runs) or the programme's clean_window_end")
    n_pre = sum(pd.Timestamp(p) < first for p in periods)
    if n_pre < 2:
        raise ValueError(f"cooperative {code!r} starts in period {pd.Timestamp(first).date()}: fewer than 2 pre-periods "
                         f"in the window from {window_start}")
    wide = rows.pivot_table(index="la_code", columns="period", values="value", aggfunc="first").reindex(columns=periods)
    if code not in wide.index or wide.loc[code].isna().any():
        gaps = [] if code not in wide.index else [str(pd.Timestamp(p).date()) for p in wide.columns[wide.loc[code].isna()]]
        raise ValueError(f"cooperative {code!r} has no {outcome} value in period(s) {gaps or 'all'} (a member's cell is "
                         "suppressed or missing); it cannot be estimated")
    incomplete = [u for u in wide.index if u != code and wide.loc[u].isna().any()]
    notes = [f"donor unit(s) {incomplete} dropped: a missing or suppressed cell in the window"] if incomplete else []
    keep = [u for u in wide.index if u not in incomplete]
    sample = wide.loc[keep].stack().rename("value").reset_index()
    sample.columns = ["la_code", "period", "value"]
    sample["treated"] = ((sample["la_code"] == code) & (sample["period"] >= first)).astype(int)
    return sample.sort_values(["la_code", "period"], ignore_index=True), notes


@dataclass(frozen=True)
class SynthRun:
    """Results of :func:`run_synth` for one cooperative x outcome."""

    sc: Any
    sdid: Any
    estimates: pd.DataFrame
    inference: pd.DataFrame
    weights: pd.DataFrame
    placebos: pd.DataFrame


def run_synth(
    sample: pd.DataFrame,
    settings: Mapping[str, Any],
    *,
    programme: str,
    outcome: str,
    code: str,
    alpha: float = 0.05,
) -> SynthRun:
    """Synthetic control and synthetic DiD of one cooperative (``settings`` = the config's ``synth`` block)."""
    from csceval.did.synthetic_control import synthetic_control
    from csceval.did.synthetic_did import synthetic_did

    sc_cfg = settings.get("synthetic_control", {})
    sdid_cfg = settings.get("synthetic_did", {})
    seed = int(settings.get("seed", 1))
    pre = sample.loc[(sample["la_code"] == code) & (sample["treated"] == 0), "period"].nunique()
    post = sample.loc[(sample["la_code"] == code) & (sample["treated"] == 1), "period"].nunique()
    shift = sc_cfg.get("placebo_in_time_shift")
    if shift is not None and not 1 <= int(shift) < pre:
        shift = None
    data = sample.rename(columns={"value": outcome})
    sc = synthetic_control(
        data, outcome, unit="la_code", time="period", treated="treated", v_method=sc_cfg.get("v_method", "nested"),
        placebo_in_space=True, placebo_in_time=int(shift) if shift is not None else None, alpha=alpha, seed=seed,
        rmspe_cutoff=sc_cfg.get("rmspe_cutoff"),
    )
    sdid = synthetic_did(data, outcome, unit="la_code", time="period", treated="treated",
                         se_method=sdid_cfg.get("se_method", "placebo"), n_reps=int(sdid_cfg.get("n_reps", 200)),
                         seed=seed, alpha=alpha)
    tidy = pd.concat([r.tidy(programme=programme) for r in (sc, sdid)], ignore_index=True)
    tidy["outcome"] = outcome
    tidy.insert(1, "treated_unit", code)
    start = sample.loc[sample["treated"] == 1, "period"].min()
    n_donors = sample["la_code"].nunique() - 1
    r = sc.rmspe[(sc.rmspe["role"] == "treated") & (sc.rmspe["unit"] == code)].iloc[0]
    n_placebos = int(((sc.rmspe["role"] == "placebo") & sc.rmspe["kept"]).sum())
    pit = sc.placebo_in_time
    common = {"programme": programme, "outcome": outcome, "treated_unit": code, "donor_units": n_donors,
              "start_period": start, "pre_periods": pre, "post_periods": post}
    inf_rows = [
        {**common, "estimator": "synthetic_control", "estimate": sc.overall.estimate, "p_value": sc.overall.p_value,
         "std_error": np.nan, "pre_rmspe": r["pre_rmspe"], "post_rmspe": r["post_rmspe"], "rmspe_ratio": r["ratio"],
         "rank": r.get("rank", np.nan), "placebos_used": n_placebos,
         "placebo_in_time_start": pit["fake_start"].iloc[0] if pit is not None and len(pit) else pd.NaT,
         "placebo_in_time_mean_gap": pit["mean_gap"].iloc[0] if pit is not None and len(pit) else np.nan,
         "placebo_in_time_ratio": pit["ratio"].iloc[0] if pit is not None and len(pit) else np.nan,
         "inference": sc.inference},
        {**common, "estimator": "synthetic_did", "estimate": sdid.overall.estimate, "p_value": sdid.overall.p_value,
         "std_error": sdid.overall.std_error, "pre_rmspe": np.nan, "post_rmspe": np.nan, "rmspe_ratio": np.nan,
         "rank": np.nan, "placebos_used": int(sdid_cfg.get("n_reps", 200)), "placebo_in_time_start": pd.NaT,
         "placebo_in_time_mean_gap": np.nan, "placebo_in_time_ratio": np.nan, "inference": sdid.inference},
    ]
    inference = pd.DataFrame(inf_rows, columns=SYNTH_INFERENCE_COLUMNS)
    inference["placebo_in_time_start"] = pd.to_datetime(inference["placebo_in_time_start"])
    w_sc = sc.weights.assign(estimator="synthetic_control").rename(columns={"donor": "donor_unit"})
    w_sdid = sdid.unit_weights.rename(columns={"unit": "donor_unit"}).assign(treated_unit=code, estimator="synthetic_did")
    weights = pd.concat([w_sc, w_sdid], ignore_index=True)[["treated_unit", "estimator", "donor_unit", "weight"]]
    weights.insert(0, "outcome", outcome)
    weights.insert(0, "programme", programme)
    placebos = _placebo_effects(sc, sdid, se_method=sdid_cfg.get("se_method", "placebo")).assign(
        programme=programme, outcome=outcome, treated_unit=code)[SYNTH_PLACEBO_COLUMNS]
    return SynthRun(sc=sc, sdid=sdid, estimates=tidy, inference=inference, weights=weights, placebos=placebos)


def _placebo_effects(sc, sdid, *, se_method: str) -> pd.DataFrame:
    """Placebo effects of both methods: each kept synthetic-control placebo's mean post-period gap, and the
    synthetic DiD placebo replications (none unless ``se_method`` is ``placebo``)."""
    gaps = sc.placebos[sc.placebos["kept"] & (sc.placebos["event_time"] >= 0)]
    sc_effects = gaps.groupby("placebo_unit", sort=True)["gap"].mean()
    frames = [pd.DataFrame({"estimator": "synthetic_control", "placebo": sc_effects.index.astype(str),
                            "estimate": sc_effects.to_numpy(float)})]
    if se_method == "placebo" and sdid.replicates is not None:
        reps = np.asarray(sdid.replicates, float)
        reps = reps[np.isfinite(reps)]
        frames.append(pd.DataFrame({"estimator": "synthetic_did", "placebo": [f"replication {b + 1}" for b in range(len(reps))],
                                    "estimate": reps}))
    return pd.concat(frames, ignore_index=True)


def _placebo_averages(sets: list[np.ndarray], weights: np.ndarray, seed: int) -> np.ndarray:
    """Weighted averages of one placebo effect per cooperative: every combination, or
    :data:`MAX_POOLED_COMBINATIONS` drawn with ``seed`` when there are more."""
    n_total = int(np.prod([len(v) for v in sets], dtype=float))
    if n_total <= MAX_POOLED_COMBINATIONS:
        grids = np.meshgrid(*sets, indexing="ij")
        return sum(w * g.ravel() for w, g in zip(weights, grids))
    rng = np.random.default_rng(seed)
    return sum(w * rng.choice(v, size=MAX_POOLED_COMBINATIONS) for w, v in zip(weights, sets))


def pool_cooperatives(inference: pd.DataFrame, placebos: pd.DataFrame, *, seed: int = 1) -> pd.DataFrame:
    """Equal-weight average of the cooperatives' effects per programme x outcome x method, with its placebo p-value.

    Parameters
    ----------
    inference : DataFrame
        :data:`SYNTH_INFERENCE_COLUMNS` rows of every cooperative (``estimate`` = its effect).
    placebos : DataFrame
        :data:`SYNTH_PLACEBO_COLUMNS` rows of the same cooperatives.
    seed : int
        Seed of the drawn combinations (only when there are more than :data:`MAX_POOLED_COMBINATIONS`).

    Returns
    -------
    DataFrame
        :data:`POOLED_COLUMNS`, one row per programme x outcome x estimator (see the module docstring for
        the test); ``p_value`` is missing, with the reason in ``inference``, when a cooperative has no
        placebo effects for that method.
    """
    keys = ["programme", "outcome", "estimator"]
    missing = [c for c in [*keys, "treated_unit", "estimate"] if c not in inference.columns or c not in placebos.columns]
    if missing:
        raise ValueError(f"pooling the cooperatives needs the columns {missing} in both the inference and placebo tables")
    rows = []
    for key, group in inference.groupby(keys, sort=True):
        group = group.sort_values("treated_unit")
        units = group["treated_unit"].astype(str).tolist()
        if len(set(units)) != len(units):
            raise ValueError(f"{dict(zip(keys, key))}: cooperative(s) listed twice in the inference table: {units}")
        weights = np.full(len(units), 1.0 / len(units))
        observed = float(np.dot(weights, group["estimate"].to_numpy(float)))
        mine = placebos[(placebos[keys] == pd.Series(key, index=keys)).all(axis=1)]
        sets = [mine.loc[mine["treated_unit"].astype(str).eq(u), "estimate"].dropna().to_numpy(float) for u in units]
        row = {**dict(zip(keys, key)), "cooperatives": "; ".join(units),
               "weights": "; ".join(f"{u} {w:.3g}" for u, w in zip(units, weights)), "estimate": observed,
               "p_value": np.nan, "placebo_combinations": 0, "min_p_value": np.nan}
        empty = [u for u, v in zip(units, sets) if len(v) == 0]
        if empty:
            row["inference"] = f"no placebo effects for {empty}: pooled p-value not computed"
        else:
            averages = _placebo_averages(sets, weights, seed)
            exceed = int(np.sum(np.abs(averages) >= abs(observed) - 1e-12 * abs(observed)))
            row.update(p_value=(1 + exceed) / (1 + len(averages)), placebo_combinations=len(averages),
                       min_p_value=1 / (1 + len(averages)))
            drawn = "all" if len(averages) == int(np.prod([len(v) for v in sets], dtype=float)) else "randomly drawn"
            row["inference"] = (f"equal-weight average over {len(units)} cooperatives; two-sided placebo p-value against "
                                f"{drawn} {len(averages)} averages of one placebo effect per cooperative "
                                f"({', '.join(str(len(v)) for v in sets)} placebos; Cavallo et al. 2013)")
        rows.append(row)
    return pd.DataFrame(rows, columns=POOLED_COLUMNS)


def write_synth_figures(run: SynthRun, figure_paths, alt_text_paths, *, name: str, outcome: str,
                        synthetic: bool = False, dpi: int = 150) -> list[str]:
    """Draw the :data:`SYNTH_FIGURE_KINDS` figures of one run; each alt-text path ``<base>_<kind>.txt``
    gives the figure's ``<base>_<kind>.png/.svg`` (which must be among ``figure_paths``).

    ``synthetic=True`` (the default synthetic data, which carry no RCC effect) adds to each alt text
    that the true effect is zero.
    """
    from csceval.report import synth_figures as sf
    from csceval.report.figures import save_figure

    truth = (" These are synthetic data with no effect built in for the cooperative: the true effect is zero."
             if synthetic else "")
    from csceval.panel import OUTCOMES

    outcome = OUTCOMES[outcome].short_label if outcome in OUTCOMES else outcome
    draw = {
        "sc_paths": (lambda: sf.sc_paths_figure(run.sc, title=f"{name}: actual and synthetic {outcome}",
                                                ylabel=outcome),
                     lambda: sf.alt_text_sc_paths(run.sc)),
        "sc_placebo_gaps": (lambda: sf.placebo_gaps_figure(run.sc, title=f"{name}: gap in {outcome} against placebo donors",
                                                           ylabel=f"Gap in {outcome}"),
                            lambda: sf.alt_text_placebo_gaps(run.sc)),
        "sc_weights": (lambda: sf.donor_weights_figure(run.sc.weights, title=f"{name}: donor weights ({outcome})"),
                       lambda: sf.alt_text_donor_weights(run.sc.weights)),
        "sdid_paths": (lambda: sf.sdid_paths_figure(run.sdid, title=f"{name}: synthetic DiD, {outcome} "
                                                    f"(estimate {run.sdid.overall.estimate:.3g})", ylabel=outcome),
                       lambda: sf.alt_text_sdid_paths(run.sdid)),
    }
    wanted = {str(p) for p in figure_paths}
    written = []
    for alt in map(str, alt_text_paths):
        kind = next((k for k in SYNTH_FIGURE_KINDS if alt.endswith(f"_{k}.txt")), None)
        if kind is None:
            raise ValueError(f"alt-text path {alt!r} does not end in _<kind>.txt for a kind of {SYNTH_FIGURE_KINDS}")
        base = alt[: -len(".txt")]
        missing = {f"{base}.png", f"{base}.svg"} - wanted
        if missing:
            raise ValueError(f"figure files {sorted(missing)} are not among the declared outputs")
        fig_fn, alt_fn = draw[kind]
        written += [str(p) for p in save_figure(fig_fn(), base, dpi=dpi)]
        with open(alt, "w", encoding="utf-8") as handle:
            handle.write(alt_fn() + truth + "\n")
        written.append(alt)
    return written
