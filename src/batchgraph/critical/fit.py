"""The critical study's tables: steps per batch size, the fit S = S_min(1 + B_crit/B) with its interval,
the predictors beside it, its convergence in the number of seeds and its sensitivity to the method.

Steps at (problem, regime, δ, B) = the minimum over lr of the median over seeds of each seed's
fractional first passage below (1 + δ)·L*; the seed-mean criterion (the first passage of the
mean over seeds of the loss) is kept beside it for comparison.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

# The tables' columns live in core, where the reports that read the tables back find them too.
from ..core.columns import CONVERGENCE_COLUMNS, CRITICAL_COLUMNS, SENSITIVITY_COLUMNS, STEPS_COLUMNS  # noqa: F401
from . import measure, predictors

REGIMES = ("constant", "optimal")
# Below this many steps one step more or less moves B_crit by a third: such cells are flagged.
SMALL_S_MIN = 10
# Half-sampling draws for every interval.
DRAWS = 200
LEVEL = 0.95
# θ̂ ± the level-quantile of |half-sample deviation|: the basic interval (θ̂ − q_hi, θ̂ − q_lo) covers
# only ~88 % at 95 % for a seed median, which is not a smooth statistic (test_critical_measure.py).
INTERVAL = "symmetric"

VARIANTS = {
    "per-run median (headline)": "the fractional first passage of each seed, median over seeds",
    "seed-mean criterion": "the first passage of the mean over seeds of the loss",
    "half-octave lr grid": "the fine pass restricted to the coarse grid's rates",
    "1/S-weighted linear fit": "S = a + c/B by least squares weighted 1/S (relative errors)",
    "first half of the seeds": "the headline method on half as many seeds",
}


@dataclass
class Runs:
    """One regime's passages over the batch sizes of a problem, lr grids padded with NaN to one width."""

    lrs: np.ndarray  # (n_B, n_lr), NaN padding
    passages: np.ndarray  # (n_delta, n_B, n_lr, n_seed), NaN = not reached
    seed_mean: np.ndarray  # (n_delta, n_B, n_lr)

    @classmethod
    def stack(cls, cells):
        """``cells``: per batch size, (lrs (n_lr,), passages (n_delta, n_seed, n_lr),
        seed_mean (n_delta, n_lr))."""
        width = max(len(lrs) for lrs, _, _ in cells)
        n_delta, n_seed = cells[0][1].shape[:2]
        lrs = np.full((len(cells), width), np.nan)
        P = np.full((n_delta, len(cells), width, n_seed), np.nan)
        M = np.full((n_delta, len(cells), width), np.nan)
        for i, (r, p, m) in enumerate(cells):
            lrs[i, : len(r)] = r
            P[:, i, : len(r)] = np.swapaxes(p, 1, 2)
            M[:, i, : len(r)] = m
        return cls(lrs, P, M)


def _rng(problem: str, regime: str, j: int) -> np.random.Generator:
    """The half-sampling generator of one (problem, regime, δ): fixed, so the tables are deterministic."""
    return np.random.default_rng([zlib.crc32(problem.encode()), REGIMES.index(regime), j])


def _best_lrs(lrs, index):
    return np.array([lrs[i, k] if k >= 0 else np.nan for i, k in enumerate(index)])


def _at_edge(lrs, index):
    """The best lr is the first or last of its batch size's grid (the optimum may lie beyond)."""
    width = (~np.isnan(lrs)).sum(axis=1)
    return np.array([k >= 0 and (k == 0 or k == n - 1) for k, n in zip(index, width)])


def _coarse_only(lrs, coarse):
    """Passages mask keeping only the rates on the coarse grid (to 10 significant digits)."""
    on = np.isin(np.round(np.log2(lrs), 9), np.round(np.log2(np.asarray(coarse)), 9))
    return on


def _linear_fit(batch_sizes, steps) -> float:
    """The former fit, S = a + c/B by least squares weighted 1/S: B_crit = c/a (NaN without a knee)."""
    B, S = np.asarray(batch_sizes, dtype=np.float64), np.asarray(steps, dtype=np.float64)
    keep = np.isfinite(S) & (S > 0)
    B, S = B[keep], S[keep]
    if len(S) < 2:
        return float("nan")
    (a, c), *_ = np.linalg.lstsq(np.stack([1.0 / S, 1.0 / (B * S)], axis=1), np.ones_like(S), rcond=None)
    return float(c / a) if a > 0 and c > 0 else float("nan")


def _steps_interval(P, steps, rng):
    """Per batch size, the symmetric half-sampling interval of the steps (as ``measure.b_crit_interval``)."""
    n = P.shape[-1]
    m = n // 2
    idx = np.argsort(rng.random((DRAWS, n)), axis=1)[:, :m]
    halves = measure.critical_curve(np.moveaxis(P[:, :, idx], 2, 0))[0]  # (draws, n_B)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = (np.log(halves) - np.log(steps)) * np.sqrt(m / (n - m))
    q = np.quantile(np.where(np.isnan(d), np.inf, np.abs(d)), LEVEL, axis=0, method="inverted_cdf")
    with np.errstate(invalid="ignore", over="ignore"):
        return steps * np.exp(-q), steps * np.exp(q)


def summarize(
    name, problem, kappa, deltas, batch_sizes, runs: dict, coarse_lrs, inits, seed_counts, other_init=None
):
    """Rows of steps.csv, critical.csv, convergence.csv and sensitivity.csv for one problem.

    ``runs`` maps regime -> Runs; ``inits`` are the first seeds' initial weights, from which the
    full-batch paths for the noise scales start. ``other_init`` (init name, Runs), if given, is
    the constant-lr regime from the other start: one more row of the sensitivity table.
    """
    loss_star = problem.optimal_loss
    targets = [(1.0 + d) * loss_star for d in deltas]
    scales = predictors.noise_scales_at(problem, inits, targets)  # (n_delta, 2)
    path_noise = predictors.path_mean_b_noise(problem, inits, targets) if "optimal" in runs else None
    B = np.asarray(batch_sizes, dtype=np.float64)
    out = {"steps": [], "critical": [], "convergence": [], "sensitivity": []}
    for regime, run in runs.items():
        for j, delta in enumerate(deltas):
            noise = (*scales[j], path_noise[j] if path_noise is not None else np.nan)
            rows = _cell_rows(name, problem, kappa, regime, j, delta, targets[j], B, run, coarse_lrs,
                              noise, seed_counts, other_init if regime == "constant" else None)  # fmt: skip
            for key, value in rows.items():
                out[key] += value
    return out


def _cell_rows(
    name, problem, kappa, regime, j, delta, target, B, run, coarse_lrs, scales, seed_counts, other
):
    P = run.passages[j]  # (n_B, n_lr, n_seed)
    steps, index = measure.critical_curve(P)
    fit = measure.fit_log(B, steps)
    lo, hi = measure.b_crit_interval(B, P, _rng(name, regime, j), DRAWS, LEVEL, method=INTERVAL)
    mean_steps = np.where(np.isnan(run.seed_mean[j]), np.inf, run.seed_mean[j]).min(axis=1)
    mean_fit = measure.fit_log(B, mean_steps)
    best = _best_lrs(run.lrs, index)
    edge = _at_edge(run.lrs, index) if regime == "constant" else np.zeros(len(B), dtype=bool)
    s_lo, s_hi = _steps_interval(P, steps, _rng(name, regime, j))
    steps_rows = [
        [
            name,
            regime,
            delta,
            int(b),
            steps[i],
            s_lo[i],
            s_hi[i],
            mean_steps[i],
            steps[i] * b,
            best[i],
            int(edge[i]),
        ]
        for i, b in enumerate(B)
    ]
    conv = measure.convergence(B, P, seed_counts, _rng(name, regime, j), DRAWS, LEVEL, method=INTERVAL)
    halving = measure.halving_stays_inside(conv) if len(conv.counts) > 1 else False
    lr_inf = best[-1] if regime == "constant" else float("nan")
    b_simple, b_noise, b_noise_path = scales
    b_nqm = predictors.b_nqm(problem, lr_inf, delta * problem.optimal_loss)
    unreached = [int(b) for b, s in zip(B, steps) if not np.isfinite(s)]
    edges = [int(b) for b, e in zip(B, edge) if e]
    critical_row = [
        name, kappa, regime, delta, target, fit.s_min, fit.e_min, fit.b_crit, lo, hi,
        int(fit.s_min < SMALL_S_MIN) if np.isfinite(fit.s_min) else 1, int(halving), mean_fit.b_crit,
        b_simple, b_noise, b_noise_path, b_nqm, fit.b_crit / b_simple, fit.b_crit / b_noise,
        fit.b_crit / b_noise_path, fit.b_crit / b_nqm, lr_inf,
        fit.residual, fit.points, " ".join(map(str, unreached)), " ".join(map(str, edges)),
    ]  # fmt: skip
    conv_rows = [
        [name, regime, delta, int(n), b, l, h]
        for n, b, l, h in zip(conv.counts, conv.b_crit, conv.lo, conv.hi)
    ]
    variants = [("per-run median (headline)", fit.b_crit), ("seed-mean criterion", mean_fit.b_crit)]
    if regime == "constant":
        masked = np.where(_coarse_only(run.lrs, coarse_lrs)[:, :, None], P, np.nan)
        variants.append(("half-octave lr grid", measure.fit_log(B, measure.critical_curve(masked)[0]).b_crit))
        variants.append(("1/S-weighted linear fit", _linear_fit(B, steps)))
        if other is not None:
            init, other_run = other
            other_steps = measure.critical_curve(other_run.passages[j])[0]
            variants.append((f"{init} init", measure.fit_log(B, other_steps).b_crit))
    half = measure.fit_log(B, measure.critical_curve(P[..., : P.shape[-1] // 2])[0]).b_crit
    variants.append(("first half of the seeds", half))
    sens_rows = [[name, regime, delta, v, b, int(lo <= b <= hi)] for v, b in variants]
    return {
        "steps": steps_rows,
        "critical": [critical_row],
        "convergence": conv_rows,
        "sensitivity": sens_rows,
    }
