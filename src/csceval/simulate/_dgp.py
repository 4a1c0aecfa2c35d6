"""The data-generating process: LA universe, populations, latent rates, effects and counts.

Everything here works on arrays ``[unit, year]`` (and ``[outcome, unit, year]``); the EES writers in
:mod:`csceval.simulate._ees` only format them.  See :mod:`csceval.simulate` for the model.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import ndtri

from ._calibration import (
    OUTCOMES,
    derived_parameters,
    interpolate_path,
    load_calibration,
    national_path,
)

PER_10K = 10_000.0
EFFECT_SCALES = ("relative", "absolute")
NATIONAL_ROLLOUT = "national_rollout"

#: The 9 ONS regions plus Inner/Outer London, in the order of the EES files' Regional rows.
REGION_CODES = (
    "E12000001", "E12000002", "E12000003", "E12000004", "E12000005",
    "E12000006", "E12000007", "E12000008", "E12000009", "E13000001", "E13000002",
)


# --------------------------------------------------------------------------------------------
# random streams
# --------------------------------------------------------------------------------------------
def rng(seed: int, *names: str) -> np.random.Generator:
    """An independent PCG64 stream for one named component.

    The stream is ``SeedSequence(seed, spawn_key=(crc32(name_1), crc32(name_2), ...))``: the same
    mechanism as ``SeedSequence.spawn`` (children differ only in their spawn key), but keyed by the
    component's name instead of its position, so adding an outcome, a programme or a file does not
    change any other component's draws.
    """
    key = tuple(zlib.crc32(str(n).encode("utf-8")) for n in names)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))


# --------------------------------------------------------------------------------------------
# LA universe
# --------------------------------------------------------------------------------------------
@dataclass
class Units:
    """The simulated units (real LAs first, in la_code order, then synthetic X units)."""

    code: np.ndarray            # old 3-digit DfE code (str), or X0001...
    name: np.ndarray
    region_code: np.ndarray     # EES LA-level region (London boroughs: Inner/Outer London)
    region_name: np.ndarray
    ons_region_code: np.ndarray # one of the 9 ONS regions
    ons_region_name: np.ndarray
    ons_code: np.ndarray        # current (or last) GSS code
    former_ons_code: np.ndarray # "" if none
    ons_code_changed: list      # date or None
    first_year: np.ndarray      # first reporting year (int)
    last_year: np.ndarray       # last reporting year (int; 9999 while current)
    is_real: np.ndarray         # bool

    def __len__(self) -> int:
        return len(self.code)

    def subset(self, idx: np.ndarray) -> "Units":
        return Units(**{k: (np.asarray(v)[idx] if not isinstance(v, list) else [v[i] for i in idx])
                        for k, v in self.__dict__.items()})

    def reports(self, years: np.ndarray) -> np.ndarray:
        """Boolean ``[unit, year]``: does the unit report in that reporting year?"""
        y = np.asarray(years)[None, :]
        return (self.first_year[:, None] <= y) & (y <= self.last_year[:, None])

    def ons_code_in(self, year: int) -> np.ndarray:
        """GSS codes as EES writes them for reporting year ``year`` (code valid on 31 March)."""
        ref = dt.date(int(year), 3, 31)
        out = self.ons_code.copy()
        for i, (former, changed) in enumerate(zip(self.former_ons_code, self.ons_code_changed)):
            if former and changed is not None and ref < changed:
                out[i] = former
        return out


def real_units() -> Units:
    """All LAs in :func:`csceval.reference.local_authorities`, in la_code order."""
    from csceval.reference import local_authorities

    la = local_authorities().sort_values("la_code", kind="stable").reset_index(drop=True)
    first = la["first_reporting_year"].astype(int).to_numpy()
    # The reference table starts in 2013: an LA reporting from the table's first year is taken to
    # report in earlier years too (only matters for first_year < 2013).
    first = np.where(first == first.min(), -9999, first)
    last = la["last_reporting_year"].astype("float").fillna(9999).astype(int).to_numpy()
    changed = [None if pd.isna(d) else pd.Timestamp(d).date() for d in la["ons_code_changed"]]
    return Units(
        code=la["la_code"].astype(str).to_numpy(dtype=object),
        name=la["la_name"].astype(str).to_numpy(dtype=object),
        region_code=la["region_code"].astype(str).to_numpy(dtype=object),
        region_name=la["region_name"].astype(str).to_numpy(dtype=object),
        ons_region_code=la["ons_region_code"].astype(str).to_numpy(dtype=object),
        ons_region_name=la["ons_region_name"].astype(str).to_numpy(dtype=object),
        ons_code=la["ons_code"].astype(str).to_numpy(dtype=object),
        former_ons_code=la["former_ons_code"].astype(str).to_numpy(dtype=object),
        ons_code_changed=changed,
        first_year=first,
        last_year=last,
        is_real=np.ones(len(la), dtype=bool),
    )


def extra_units(real: Units, n_extra: int, seed: int) -> Units:
    """``n_extra`` synthetic units X0001, X0002, ... (NOT real LAs), in regions drawn like the real ones."""
    current = real.last_year == 9999
    ons_regions, counts = np.unique(real.ons_region_code[current], return_counts=True)
    g = rng(seed, "extra_units", "region")
    reg = g.choice(ons_regions, size=n_extra, p=counts / counts.sum())
    inner_share = np.mean(real.region_code[current & (real.ons_region_code == "E12000007")] == "E13000001")
    inner = g.random(n_extra) < inner_share
    names_of = dict(zip(real.ons_region_code, real.ons_region_name)) | dict(zip(real.region_code, real.region_name))
    region = np.where(reg == "E12000007", np.where(inner, "E13000001", "E13000002"), reg).astype(object)
    width = max(4, len(str(n_extra)))
    codes = np.array([f"X{i:0{width}d}" for i in range(1, n_extra + 1)], dtype=object)
    return Units(
        code=codes,
        name=np.array([f"Synthetic authority {c}" for c in codes], dtype=object),
        region_code=region,
        region_name=np.array([names_of[r] for r in region], dtype=object),
        ons_region_code=reg.astype(object),
        ons_region_name=np.array([names_of[r] for r in reg], dtype=object),
        ons_code=np.array([f"X{i:08d}" for i in range(1, n_extra + 1)], dtype=object),
        former_ons_code=np.array([""] * n_extra, dtype=object),
        ons_code_changed=[None] * n_extra,
        first_year=np.full(n_extra, -9999),
        last_year=np.full(n_extra, 9999),
        is_real=np.zeros(n_extra, dtype=bool),
    )


def _concat(a: Units, b: Units) -> Units:
    return Units(**{k: (list(v) + list(getattr(b, k)) if isinstance(v, list)
                        else np.concatenate([v, getattr(b, k)])) for k, v in a.__dict__.items()})


# --------------------------------------------------------------------------------------------
# population
# --------------------------------------------------------------------------------------------
def _two_piece_lognormal(z: np.ndarray, cal: dict) -> np.ndarray:
    med, p10, p90 = (float(cal[k]) for k in ("median", "p10", "p90"))
    q = 1.2815515655446004  # standard normal 90th percentile
    s_lo, s_hi = np.log(med / p10) / q, np.log(p90 / med) / q
    return np.clip(med * np.exp(np.where(z < 0, s_lo, s_hi) * z), cal["min"], cal["max"])


def _population_paths(base: np.ndarray, g: np.random.Generator, mid_years: np.ndarray, cal: dict) -> np.ndarray:
    n = len(base)
    growth = cal["growth_mean"] + cal["growth_sd"] * g.standard_normal(n)
    noise = cal["noise_sd"] * g.standard_normal((n, len(mid_years)))
    t = (mid_years - int(cal["base_mid_year"]))[None, :]
    return base[:, None] * np.exp(growth[:, None] * t + noise)


def changes_with_successors() -> list[tuple[str, list[str], list[str]]]:
    """(change_id, predecessors, successors) of every split or merger, in date order."""
    from csceval.reference import boundary_changes

    ch = boundary_changes().sort_values("effective_date", kind="stable")
    ch = ch[ch["kind"].isin(["split", "reorganisation"])]
    return [(r.change_id, list(r.predecessors), list(r.successors)) for r in ch.itertuples()]


def simulate_population(seed: int, real: Units, extra: Units, mid_years: np.ndarray) -> tuple[np.ndarray, dict]:
    """Mid-year 0-17 population ``[unit, mid_year]`` (float) and successor shares."""
    cal = load_calibration()["population"]
    g = rng(seed, "population", "real")
    # stratified draw: the LAs get the (i - 0.5)/n quantiles of the target distribution in random
    # order, so the simulated England has the published median, p10 and p90 by construction
    n = len(real)
    base = _two_piece_lognormal(ndtri((g.permutation(n) + 0.5) / n), cal)
    for code, value in cal["fixed"].items():
        base[real.code == str(code)] = float(value)
    pop_real = _population_paths(base, g, mid_years, cal)
    index = {c: i for i, c in enumerate(real.code)}
    shares = {}
    for change_id, preds, succs in changes_with_successors():
        if not all(c in index for c in preds + succs):
            continue
        w = rng(seed, "population", "split", change_id).dirichlet(np.full(len(succs), cal["split_concentration"]))
        total = pop_real[[index[c] for c in preds]].sum(axis=0)
        for s, share in zip(succs, w):
            pop_real[index[s]] = share * total
            shares[s] = float(share)
    if len(extra):
        ge = rng(seed, "population", "extra")
        pop_extra = _population_paths(_two_piece_lognormal(ge.standard_normal(len(extra)), cal), ge, mid_years, cal)
        pop_real = np.vstack([pop_real, pop_extra])
    return pop_real, shares


# --------------------------------------------------------------------------------------------
# latent rates
# --------------------------------------------------------------------------------------------
def _standardise(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / x.std()


def latent_levels(seed: int, real: Units, extra: Units, pop_mid: np.ndarray,
                  mid_years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LA levels m_ik ``[outcome, unit]`` and their latent normal scores z ``[unit, outcome]``."""
    cal = load_calibration()
    params, Rz, _ = derived_parameters()
    chol = np.linalg.cholesky(Rz)
    n_real = len(real)
    E = np.column_stack([_standardise(rng(seed, "level", o).standard_normal(n_real)) for o in OUTCOMES])
    Z = E @ chol.T
    # successors inherit their predecessors' level (population-weighted), with fresh variation
    c = float(cal["successor_level_correlation"])
    index = {code: i for i, code in enumerate(real.code)}
    mid_base = int(np.clip(int(cal["population"]["base_mid_year"]), mid_years.min(), mid_years.max()))
    col = int(np.searchsorted(mid_years, mid_base))
    for _, preds, succs in changes_with_successors():
        if not all(x in index for x in preds + succs):
            continue
        p_idx = [index[x] for x in preds]
        w = pop_mid[p_idx, col] / pop_mid[p_idx, col].sum()
        zbar = (w[:, None] * Z[p_idx]).sum(axis=0) / np.sqrt(np.sum(w**2))
        for s in succs:
            Z[index[s]] = c * zbar + np.sqrt(1 - c**2) * Z[index[s]]
    sig = np.array([params[o].level_log_sd for o in OUTCOMES])
    L = np.exp(Z * sig - sig**2 / 2)
    # moment matching over the real LAs other than the tiny ones: mean exactly 1 and SD exactly
    # the lognormal's sqrt(exp(sigma^2) - 1), keeping the right skew of the draws
    regular = ~np.isin(real.code, cal["calibration_window"]["exclude_la_codes"])
    norm = L[regular].mean(axis=0)
    L = L / norm
    stretch = np.sqrt(np.expm1(sig**2)) / L[regular].std(axis=0)
    L = np.maximum(1.0 + (L - 1.0) * stretch, 0.05)
    if len(extra):
        Ex = np.column_stack([rng(seed, "level_extra", o).standard_normal(len(extra)) for o in OUTCOMES])
        Zx = Ex @ chol.T
        L = np.vstack([L, np.maximum(1.0 + (np.exp(Zx * sig - sig**2 / 2) / norm - 1.0) * stretch, 0.05)])
        Z = np.vstack([Z, Zx])
    M = np.array([params[o].mean for o in OUTCOMES])
    return (L * M).T, Z


def latent_residuals(seed: int, n_real: int, n_extra: int, n_years: int) -> np.ndarray:
    """Relative AR(1) residuals w ``[outcome, unit, year]`` with correlated innovations."""
    params, _, Re = derived_parameters()
    chol = np.linalg.cholesky(Re)
    eps = np.stack([rng(seed, "residual", o).standard_normal((n_real, n_years)) for o in OUTCOMES])
    if n_extra:
        eps_x = np.stack([rng(seed, "residual_extra", o).standard_normal((n_extra, n_years)) for o in OUTCOMES])
        eps = np.concatenate([eps, eps_x], axis=1)
    eps = np.einsum("kj,jnt->knt", chol, eps)
    w = np.empty_like(eps)
    for k, o in enumerate(OUTCOMES):
        p = params[o]
        w[k, :, 0] = p.w_sd * eps[k, :, 0]  # start from the stationary distribution
        for t in range(1, n_years):
            w[k, :, t] = p.phi * w[k, :, t - 1] + p.innovation_sd * eps[k, :, t]
    return w


def counterfactual_rates(levels: np.ndarray, w: np.ndarray, years: np.ndarray) -> np.ndarray:
    r"""r^0_ikt = n_kt - M_k + m_ik (1 + w_ikt), floored at 5% of m_ik (never binds in practice)."""
    params, _, _ = derived_parameters()
    out = np.empty_like(w)
    for k, o in enumerate(OUTCOMES):
        nat = national_path(o, years) - params[o].mean
        out[k] = nat[None, :] + levels[k][:, None] * (1.0 + w[k])
        out[k] = np.maximum(out[k], 0.05 * levels[k][:, None])
    return out


# --------------------------------------------------------------------------------------------
# treatment effects
# --------------------------------------------------------------------------------------------
def as_date(value, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"{what}: {value!r} is not an ISO date (YYYY-MM-DD)") from exc


def first_treated_year(start: dt.date) -> int:
    """First reporting year whose end (31 March) is after ``start``."""
    return start.year + 1 if start >= dt.date(start.year, 3, 31) else start.year


def reporting_year_start(year: int) -> str:
    return f"{int(year) - 1}-04-01"


@dataclass
class EffectSpec:
    size: float
    scale: str
    ramp_years: float
    heterogeneity_sd: float

    @classmethod
    def parse(cls, spec, what: str) -> "EffectSpec":
        if not isinstance(spec, dict) or "size" not in spec:
            raise ValueError(f"{what}: an effect needs at least a 'size' (got {spec!r})")
        scale = spec.get("scale", "relative")
        if scale not in EFFECT_SCALES:
            raise ValueError(f"{what}.scale: {scale!r} is not one of {EFFECT_SCALES}")
        ramp = float(spec.get("ramp_years", 0.0))
        het = float(spec.get("heterogeneity_sd", 0.0))
        if ramp < 0 or het < 0:
            raise ValueError(f"{what}: ramp_years and heterogeneity_sd must be >= 0 (got {ramp}, {het})")
        return cls(float(spec["size"]), scale, ramp, het)


@dataclass
class Assignment:
    """One programme (or the national roll-out): which units start when, and the effect specs."""

    programme: str
    start: dict[str, dt.date]                       # unit code -> start date
    effects: dict[str, EffectSpec] = field(default_factory=dict)


def parse_effect_block(block, what: str) -> dict[str, EffectSpec]:
    block = block or {}
    if not isinstance(block, dict):
        raise ValueError(f"{what}: expected a mapping outcome -> effect spec, got {type(block).__name__}")
    unknown = [o for o in block if o not in OUTCOMES]
    if unknown:
        raise ValueError(f"{what}: unknown outcome(s) {unknown}; the simulator knows {list(OUTCOMES)}")
    return {o: EffectSpec.parse(block[o], f"{what}.{o}") for o in OUTCOMES if o in block}


def parse_assignments(programmes: dict, effects: dict, national_rollout: dict | None,
                      known_codes: set[str]) -> list[Assignment]:
    programmes = programmes or {}
    effects = effects or {}
    if NATIONAL_ROLLOUT in programmes:
        raise ValueError(f"programmes: {NATIONAL_ROLLOUT!r} is reserved for the national roll-out")
    stray = [p for p in effects if p not in programmes]
    if stray:
        raise ValueError(f"effects: no programme called {stray} (programmes: {list(programmes)})")
    out = []
    for name, spec in programmes.items():
        waves = (spec or {}).get("waves") or []
        start: dict[str, dt.date] = {}
        for w_i, wave in enumerate(waves):
            wname = f"programmes.{name}.waves[{w_i}]"
            d = as_date(wave.get("start"), f"{wname}.start")
            for code in wave.get("la_codes") or []:
                code = str(code)
                if code not in known_codes:
                    raise ValueError(f"{wname}.la_codes: {code!r} is not a simulated LA code")
                if code in start:
                    raise ValueError(f"programmes.{name}: LA {code} is listed in more than one wave")
                start[code] = d
        out.append(Assignment(name, start, parse_effect_block(effects.get(name), f"effects.{name}")))
    if national_rollout:
        d = as_date(national_rollout.get("start"), "national_rollout.start")
        out.append(Assignment(NATIONAL_ROLLOUT, {}, parse_effect_block(national_rollout.get("effects"),
                                                                       "national_rollout.effects")))
        out[-1].start = {"*": d}
    return out


def heterogeneity(seed: int, programme: str, outcome: str, spec: EffectSpec, units: Units,
                  n_real_all: int, real_pos: np.ndarray) -> np.ndarray:
    """m_i = 1 + heterogeneity_sd * N(0, 1), one draw per LA x programme x outcome.

    Real LAs take their draw from a vector over the full reference universe (so an LA's draw does
    not depend on which other LAs are simulated); synthetic units from a separate stream.
    """
    if spec.heterogeneity_sd == 0:
        return np.ones(len(units))
    z_real = rng(seed, "effect", programme, outcome).standard_normal(n_real_all)
    n_extra = int((~units.is_real).sum())
    z_extra = rng(seed, "effect_extra", programme, outcome).standard_normal(n_extra) if n_extra else np.empty(0)
    z = np.concatenate([z_real[real_pos[units.is_real]], z_extra])
    return 1.0 + spec.heterogeneity_sd * z


def effect_paths(assignments: list[Assignment], units: Units, years: np.ndarray, r0: np.ndarray,
                 seed: int, n_real_all: int, real_pos: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """Total effect ``[outcome, unit, year]`` and the truth records (one per programme x LA x year x outcome)."""
    K, n, T = r0.shape
    total = np.zeros_like(r0)
    index = {c: i for i, c in enumerate(units.code)}
    ref_dates = [dt.date(int(y), 3, 31) for y in years]
    reports = units.reports(years)
    records = []
    for a in assignments:
        if "*" in a.start:
            starts = {c: a.start["*"] for c in units.code}
        else:
            starts = {c: d for c, d in a.start.items() if c in index}
        if not starts:
            continue
        codes = sorted(starts)
        rows = np.array([index[c] for c in codes])
        # elapsed years since start at each 31 March; NaN where not yet started
        elapsed = np.array([[(d - starts[c]).days / 365.25 if d > starts[c] else np.nan for d in ref_dates]
                            for c in codes])
        per_outcome = np.zeros((K, len(codes), T))
        for k, o in enumerate(OUTCOMES):
            spec = a.effects.get(o)
            if spec is None:
                continue
            m = heterogeneity(seed, a.programme, o, spec, units, n_real_all, real_pos)[rows]
            ramp = np.ones_like(elapsed) if spec.ramp_years == 0 else 1.0 - np.exp(-elapsed / spec.ramp_years)
            ramp = np.where(np.isnan(elapsed), 0.0, ramp)
            base = r0[k][rows] if spec.scale == "relative" else 1.0
            per_outcome[k] = spec.size * m[:, None] * ramp * base
        total[:, rows] += per_outcome
        for j, c in enumerate(codes):
            fy = first_treated_year(starts[c])
            for t, y in enumerate(years):
                if y < fy or not reports[rows[j], t]:
                    continue
                for k, o in enumerate(OUTCOMES):
                    records.append((a.programme, c, o, int(y), reporting_year_start(y), reporting_year_start(fy),
                                    int(y - fy), float(per_outcome[k, j, t]), float(r0[k, rows[j], t])))
    return total, records


TRUTH_COLUMNS = ["programme", "la_code", "outcome", "time_period", "period", "first_treated_period",
                 "event_time", "true_effect", "counterfactual_rate"]


# --------------------------------------------------------------------------------------------
# counts and the other columns of each file
# --------------------------------------------------------------------------------------------
def round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(x, dtype=float) + 0.5).astype(np.int64)


def to_count(rate: np.ndarray, pop: np.ndarray) -> np.ndarray:
    return np.maximum(round_half_up(rate * pop / PER_10K), 0)


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    return np.log(p / (1.0 - p))


def _la_and_year(seed: int, name: str, real_pos: np.ndarray, is_real: np.ndarray, n_real_all: int,
                 T: int, la_sd: float, year_sd: float) -> np.ndarray:
    """LA-level plus year-level normal noise ``[unit, year]`` from the named stream.

    Real LAs' draws come from arrays over the full reference universe, so a subsample sees the
    same numbers as a full run.
    """
    g = rng(seed, "columns", name)
    la = g.standard_normal(n_real_all)
    yr = g.standard_normal((n_real_all, T))
    n_extra = int((~is_real).sum())
    gx = rng(seed, "columns_extra", name)
    la_x, yr_x = gx.standard_normal(n_extra), gx.standard_normal((n_extra, T))
    la_all = np.concatenate([la[real_pos[is_real]], la_x])
    yr_all = np.vstack([yr[real_pos[is_real]], yr_x])
    return la_sd * la_all[:, None] + year_sd * yr_all


def largest_remainder(total: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Split integer totals ``[...]`` into integer parts ``[..., J]`` proportional to shares."""
    raw = total[..., None] * shares
    base = np.floor(raw).astype(np.int64)
    left = total - base.sum(axis=-1)
    order = np.argsort(-(raw - base), axis=-1, kind="stable")
    rank = np.argsort(order, axis=-1, kind="stable")
    return base + (rank < left[..., None]).astype(np.int64)


def derived_columns(seed: int, counts: dict[str, np.ndarray], rates: dict[str, np.ndarray],
                    level_z_referral: np.ndarray, pop_den: np.ndarray, years: np.ndarray,
                    real_pos: np.ndarray, is_real: np.ndarray, n_real_all: int) -> dict[str, np.ndarray]:
    """Every count column of the five EES files, ``[unit, year]`` int arrays."""
    cal = load_calibration()["ratios"]
    T = len(years)
    noise = lambda name, la_sd, yr_sd: _la_and_year(seed, name, real_pos, is_real, n_real_all, T, la_sd, yr_sd)  # noqa: E731
    out: dict[str, np.ndarray] = {}

    # b1 -----------------------------------------------------------------------------------
    b = cal["b1"]
    at31 = counts["cin_rate_per_10k"]
    started = round_half_up(at31 * b["started_to_at31"] * np.exp(noise("b1_started", b["la_log_sd"], b["year_log_sd"])))
    ended = round_half_up(at31 * b["ended_to_at31"] * np.exp(noise("b1_ended", b["la_log_sd"], b["year_log_sd"])))
    anypoint = at31 + ended

    def child(n, mean, name):
        q = np.clip(mean + noise(name, b["child_ratio_sd"] / 2, b["child_ratio_sd"]), 0.5, 1.0)
        return np.minimum(round_half_up(n * q), n)

    out |= {
        "Anypoint_episodes": anypoint,
        "Anypoint_child": child(anypoint, b["anypoint_child_per_episode"], "b1_anypoint_child"),
        "Started_episodes": started,
        "Started_child": child(started, b["started_child_per_episode"], "b1_started_child"),
        "Ended_episodes": ended,
        "Ended_child": child(ended, b["ended_child_per_episode"], "b1_ended_child"),
        "At31_episodes": at31,
        "awaiting_assessment": round_half_up(
            at31 * b["awaiting_to_at31"]
            * np.exp(noise("b1_awaiting", b["awaiting_la_log_sd"], b["awaiting_year_log_sd"])
                     - (b["awaiting_la_log_sd"] ** 2 + b["awaiting_year_log_sd"] ** 2) / 2)),
    }

    # c1 -----------------------------------------------------------------------------------
    c = cal["c1"]
    ref = counts["referral_rate_per_10k"]
    rho = c["rereferral_referral_corr"]
    own = noise("c1_rereferral", 1.0, 0.0)  # LA-level standard normal (year part zero)
    z_share = rho * level_z_referral[:, None] + np.sqrt(1 - rho**2) * own
    share = _expit(_logit(c["rereferral_share"]) + c["rereferral_la_logit_sd"] * z_share
                   + noise("c1_rereferral_year", 0.0, c["rereferral_year_logit_sd"]))
    reref = np.minimum(round_half_up(ref * share), ref)
    ref_child = np.minimum(round_half_up(ref * np.clip(
        c["referral_child_per_referral"] + noise("c1_referral_child", c["referral_child_sd"] / 2, c["referral_child_sd"]),
        0.5, 1.0)), ref)
    reref_child = np.minimum(round_half_up(ref_child * share * c["rereferral_child_factor"]), np.minimum(reref, ref_child))
    z_nfa = noise("c1_nfa", 1.0, 0.0)
    nfa_logit = _logit(c["nfa_share_median"]) + np.where(z_nfa < 0, c["nfa_logit_sd_low"], c["nfa_logit_sd_high"]) * z_nfa
    nfa = round_half_up(ref * _expit(nfa_logit + noise("c1_nfa_year", 0.0, c["nfa_year_logit_sd"])))
    nin = round_half_up(ref * _expit(_logit(c["not_in_need_share"])
                                     + noise("c1_not_in_need", c["not_in_need_la_logit_sd"], c["not_in_need_year_logit_sd"])))
    nfa = np.minimum(nfa, ref)
    nin = np.minimum(nin, ref - nfa)
    out |= {
        "referral_count": ref,
        "rereferral_count": reref,
        "no_further_action_count": nfa,
        "not_in_need_count": nin,
        "referral_child_count": ref_child,
        "rereferral_child_count": reref_child,
    }

    # d3 -----------------------------------------------------------------------------------
    d3 = cal["d3"]
    starts = counts["cpp_starts_rate_per_10k"]
    path = interpolate_path(d3["subsequent_share_path"], years)
    sub_share = _expit(_logit(path)[None, :] + noise("d3_subsequent", d3["la_logit_sd"], d3["year_logit_sd"]))
    out |= {"CPP_start": starts, "CPP_subsequent": np.minimum(round_half_up(starts * sub_share), starts)}

    # d5 -----------------------------------------------------------------------------------
    d5 = cal["d5"]
    names = list(d5["shares"])
    p = np.array([float(d5["shares"][k]) for k in names])
    p = p / p.sum()
    n_extra = int((~is_real).sum())
    sel = real_pos[is_real]
    la_full = rng(seed, "columns", "d5_shares").dirichlet(d5["la_concentration"] * p, size=n_real_all)
    la_x = rng(seed, "columns_extra", "d5_shares").dirichlet(d5["la_concentration"] * p, size=n_extra)
    # one year's shares: Dirichlet(year_concentration * LA shares), drawn as normalised gammas
    alpha_full = d5["year_concentration"] * np.broadcast_to(la_full[:, None, :], (n_real_all, T, len(names)))
    alpha_x = d5["year_concentration"] * np.broadcast_to(la_x[:, None, :], (n_extra, T, len(names)))
    gam = np.concatenate([rng(seed, "columns", "d5_year").standard_gamma(alpha_full)[sel],
                          rng(seed, "columns_extra", "d5_year").standard_gamma(alpha_x)], axis=0)
    year_sh = gam / gam.sum(axis=-1, keepdims=True)
    cpp = counts["cpp_rate_per_10k"]
    parts = largest_remainder(cpp, year_sh)
    out["CPP_At31"] = cpp
    for j, k in enumerate(names):
        out[k] = parts[..., j]

    # cla ----------------------------------------------------------------------------------
    cl = cal["cla"]
    ceased_rate = rates["cla_starts_rate_per_10k"] * cl["ceased_to_started"] * np.exp(
        noise("cla_ceased", cl["la_log_sd"], cl["year_log_sd"]) - (cl["la_log_sd"] ** 2 + cl["year_log_sd"] ** 2) / 2)
    out |= {
        "cla_on_31_march": counts["cla_rate_per_10k"],
        "cla_starting": counts["cla_starts_rate_per_10k"],
        "cla_ceasing": to_count(ceased_rate, pop_den),
    }
    return out
