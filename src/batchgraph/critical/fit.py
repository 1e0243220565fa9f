"""The McCandlish et al. (2018) trade-off fitted to steps-to-target: S = S_min·(1 + B_crit/B).

Written S = a + c/B, it is linear in (a, c): S_min = a, E_min = S_min·B_crit = c, B_crit = c/a.
Each point is weighted by 1/S (relative errors), because steps span orders of magnitude.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CriticalFit:
    s_min: float
    e_min: float
    b_crit: float
    residual: float  # RMS of log(S / S_fit) over the points used
    points: int  # reached points used; unreached ones are left out


def fit_tradeoff(batch_sizes, steps) -> CriticalFit:
    """Weighted least squares of S = a + c/B: minimise Σ ((S − a − c/B) / S)² over reached points.

    Unreached points (NaN steps) are excluded. With fewer than two points, or a fit whose a or c
    is not positive (no knee on the grid), every field but ``points`` is NaN.
    """
    B = np.asarray(batch_sizes, dtype=np.float64)
    S = np.asarray(steps, dtype=np.float64)
    keep = np.isfinite(S) & (S > 0)
    B, S = B[keep], S[keep]
    nan = float("nan")
    if len(S) < 2:
        return CriticalFit(nan, nan, nan, nan, int(len(S)))
    # Rows (1/S, 1/(B·S)) · (a, c) = 1: the relative residual (S − a − c/B)/S, linear in (a, c).
    design = np.stack([1.0 / S, 1.0 / (B * S)], axis=1)
    (a, c), *_ = np.linalg.lstsq(design, np.ones_like(S), rcond=None)
    if not (a > 0 and c > 0):
        return CriticalFit(nan, nan, nan, nan, int(len(S)))
    residual = float(np.sqrt(np.mean(np.log(S / (a + c / B)) ** 2)))
    return CriticalFit(float(a), float(c), float(c / a), residual, int(len(S)))


def pareto_coordinates(batch_sizes, steps, fit: CriticalFit):
    """(S/S_min − 1, E/E_min − 1) with E = S·B: on the fitted curve their product is 1."""
    B = np.asarray(batch_sizes, dtype=np.float64)
    S = np.asarray(steps, dtype=np.float64)
    return S / fit.s_min - 1.0, S * B / fit.e_min - 1.0


def best_over_lr(steps_by_lr, lrs):
    """Per target row of ``steps_by_lr`` (n_delta, n_lr): fewest steps, its lr, and whether that lr is
    the grid's first or last (the optimum may lie outside the grid). Ties go to the smaller lr;
    a row with no reached lr gives (NaN, NaN, False)."""
    lrs = np.asarray(lrs, dtype=np.float64)
    out = []
    for row in np.asarray(steps_by_lr, dtype=np.float64):
        if np.isnan(row).all():
            out.append((float("nan"), float("nan"), False))
            continue
        i = int(np.nanargmin(row))
        out.append((float(row[i]), float(lrs[i]), i in (0, len(lrs) - 1)))
    return out


STEPS_COLUMNS = ["rho", "delta", "batch_size", "steps", "examples", "best_lr", "best_lr_at_edge"]
CRITICAL_COLUMNS = [
    "rho", "delta", "target_loss", "s_min", "e_min", "b_crit", "b_simple", "b_noise",
    "b_crit_over_b_simple", "b_crit_over_b_noise", "fit_residual", "fit_points",
    "unreached_batch_sizes", "best_lr_at_edge", "edge_batch_sizes",
]  # fmt: skip


def summarize(rho: float, deltas, batch_sizes, lrs, steps_by_lr):
    """The steps rows (per δ, B) and the critical rows (per δ) of one ρ, as dicts of plain values.

    ``steps_by_lr`` is (n_B, n_delta, n_lr). The noise scales are read off the exact full-batch
    gradient-descent path from the zero init where its loss crosses L* + δ.
    """
    from . import population

    pop = population.correlated(rho)
    loss_star = population.optimal_loss(pop)
    path = population.full_batch_path(pop, np.zeros(pop.dim), 0.0, loss_star + min(deltas))
    best = [best_over_lr(s, lrs) for s in steps_by_lr]  # [B][delta] -> (steps, lr, edge)
    steps_rows, critical_rows = [], []
    for j, delta in enumerate(deltas):
        steps = np.array([best[i][j][0] for i in range(len(batch_sizes))])
        for i, B in enumerate(batch_sizes):
            s, lr, edge = best[i][j]
            steps_rows.append(dict(zip(STEPS_COLUMNS, [rho, delta, B, s, s * B, lr, int(edge)])))
        fit = fit_tradeoff(batch_sizes, steps)
        b_simple, b_noise = population.interpolate_at(path, loss_star + delta)
        edges = [B for i, B in enumerate(batch_sizes) if best[i][j][2]]
        unreached = [B for B, s in zip(batch_sizes, steps) if not np.isfinite(s)]
        values = [
            rho, delta, loss_star + delta, fit.s_min, fit.e_min, fit.b_crit, b_simple, b_noise,
            fit.b_crit / b_simple, fit.b_crit / b_noise, fit.residual, fit.points,
            " ".join(map(str, unreached)), len(edges), " ".join(map(str, edges)),
        ]  # fmt: skip
        critical_rows.append(dict(zip(CRITICAL_COLUMNS, values)))
    return steps_rows, critical_rows
