"""Statistics of a critical-batch measurement: the steps curve, the log fit, its interval, convergence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .passages import median_steps

# The 1-D search for log B_crit: a grid over [B_min/BRACKET, B_max·BRACKET], then Newton on the analytic
# derivative, safeguarded by bisection, inside the best grid cell. A root of f' is found to ~eps;
# golden section on f itself stops at ~√eps, because f is flat (quadratic) at its minimum.
BRACKET = 1e3
GRID_POINTS = 241
NEWTON_STEPS = 24


def critical_curve(passages, seeds_idx=None):
    """Steps per batch size (n_B,) and the lr index that took them, from passages (…, n_B, n_lr, n_seed).

    Median over the chosen seeds (all if ``seeds_idx`` is None), then minimum over lr; ties go to the
    lower index (the smaller lr on an ascending grid). Steps +inf and index −1 where no lr's median is
    finite. Leading axes are carried through.
    """
    p = np.asarray(passages, dtype=np.float64)
    if seeds_idx is not None:
        p = p[..., np.asarray(seeds_idx)]
    med = median_steps(p, axis=-1)
    best = np.argmin(med, axis=-1)
    steps = np.take_along_axis(med, best[..., None], axis=-1)[..., 0]
    return steps, np.where(np.isfinite(steps), best, -1)


@dataclass(frozen=True)
class CriticalFit:
    s_min: float
    e_min: float
    b_crit: float
    residual: float  # RMS of log(S / S_fit) over the points used
    points: int  # reached points used; unreached ones are left out


def _curve(u, log_b):
    """g = log(1 + B_crit/B) at u = log B_crit, and dg/du = σ(u − log B)."""
    x = u - log_b
    return np.logaddexp(0.0, x), 0.5 * (1.0 + np.tanh(0.5 * x))


def _fit_curves(batch_sizes, steps):
    """Vectorised log fit of every row of ``steps`` (n, n_B): (log B_crit, log S_min, rss, points, side).

    f(u) = Σ_B w_B (r_B − r̄)², r_B = log S_B − g_B, g_B = log(1 + e^u/B), r̄ the w-mean (the optimal
    log S_min). With σ_B = dg_B/du = σ(u − log B) and d(r − r̄)/du = −(σ − σ̄):
        f'(u) = −2 Σ w (r − r̄) σ,   f''(u) = 2 Σ w (σ − σ̄)² − 2 Σ w (r − r̄) σ(1 − σ).
    side is −1 / +1 where the grid minimum is the bracket's lower / upper end (no knee: NaN), else 0.
    """
    log_b = np.log(np.asarray(batch_sizes, dtype=np.float64))
    S = np.atleast_2d(np.asarray(steps, dtype=np.float64))
    w = (np.isfinite(S) & (S > 0)).astype(np.float64)
    y = np.log(np.where(w > 0, S, 1.0)) * w
    points = w.sum(axis=1)
    norm = np.maximum(points, 1.0)[:, None]

    # On the grid, f = Σw y² − 2 y·g + w·g² − (Σw y − w·g)²/N: products of (n, n_B) with (G, n_B), no
    # (n, G, n_B) array. einsum rather than @: tiny products on BLAS threads crawl on a loaded machine.
    lo_u, hi_u = np.log(np.min(batch_sizes) / BRACKET), np.log(np.max(batch_sizes) * BRACKET)
    grid = np.linspace(lo_u, hi_u, GRID_POINTS)
    g_grid, _ = _curve(grid[:, None], log_b)  # (G, n_B)
    wg = np.einsum("nb,gb->ng", w, g_grid)
    f = (y**2).sum(axis=1)[:, None] - 2 * np.einsum("nb,gb->ng", y, g_grid)
    f += np.einsum("nb,gb->ng", w, g_grid**2)
    f -= (y.sum(axis=1)[:, None] - wg) ** 2 / norm
    i = np.argmin(f, axis=1)
    lo, hi = grid[np.maximum(i - 1, 0)], grid[np.minimum(i + 1, GRID_POINTS - 1)]
    u = grid[i]
    side = np.where(i == 0, -1, np.where(i == GRID_POINTS - 1, 1, 0))
    ok = (points >= 2) & (side == 0)
    active = np.flatnonzero(ok)  # rows still iterating
    for _ in range(NEWTON_STEPS):
        if len(active) == 0:
            break
        ua, ya, wa, na = u[active], y[active], w[active], norm[active]
        g, sig = _curve(ua[:, None], log_b)
        rc = (ya - g) * wa
        rc = (rc - rc.sum(axis=1, keepdims=True) / na) * wa
        sc = (sig - (sig * wa).sum(axis=1, keepdims=True) / na) * wa
        d1 = -2 * (rc * sig).sum(axis=1)
        d2 = 2 * (sc**2).sum(axis=1) - 2 * (rc * sig * (1 - sig)).sum(axis=1)
        lo[active] = np.where(d1 > 0, lo[active], ua)
        hi[active] = np.where(d1 > 0, ua, hi[active])
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = ua - d1 / d2
        inside = (d2 > 0) & (newton > lo[active]) & (newton < hi[active])
        step = np.where(d1 == 0, ua, np.where(inside, newton, 0.5 * (lo[active] + hi[active])))
        u[active] = step
        moving = np.abs(step - ua) > 4 * np.finfo(np.float64).eps * (1 + np.abs(ua))
        active = active[moving]
    g, _ = _curve(u[:, None], log_b)
    r = (y - g) * w
    log_s_min = r.sum(axis=1) / norm[:, 0]
    rss = (((r - log_s_min[:, None]) * w) ** 2).sum(axis=1)
    nan = np.nan
    return np.where(ok, u, nan), np.where(ok, log_s_min, nan), np.where(ok, rss, nan), points, side


def fit_log(batch_sizes, steps) -> CriticalFit:
    """S = S_min(1 + B_crit/B) by least squares in log S, one equal-weight point per reached batch size.

    Minimises Σ_B (log S_B − log S_min − log(1 + B_crit/B))²; for fixed B_crit the best log S_min is
    the mean residual, leaving a 1-D search over log B_crit in [B_min/1e3, B_max·1e3] (B over all the
    given batch sizes). Steps that are NaN, infinite or ≤ 0 are left out. Fewer than two points, or
    a minimum at the bracket's end (no knee on the grid), give NaN in every field but ``points``.
    """
    u, log_s_min, rss, points, _ = _fit_curves(batch_sizes, steps)
    n = int(points[0])
    s_min, b_crit = float(np.exp(log_s_min[0])), float(np.exp(u[0]))
    return CriticalFit(s_min, s_min * b_crit, b_crit, float(np.sqrt(rss[0] / max(n, 1))), n)


def _log_b_crit(batch_sizes, steps):
    """log B_crit per row, with a knee below / above the bracket as −inf / +inf and too few points NaN."""
    u, _, _, points, side = _fit_curves(batch_sizes, steps)
    return np.where(points < 2, np.nan, np.where(side == 0, u, np.where(side < 0, -np.inf, np.inf)))


def half_sample_log_b_crit(batch_sizes, passages_by_B, rng: np.random.Generator, draws: int = 200):
    """log B_crit of ``draws`` random halves of the seeds (⌊n/2⌋ without replacement, one seed whole).

    ±inf: that half's knee lies off the bracket on that side; NaN: fewer than two reached batch sizes.
    """
    P = np.asarray(passages_by_B, dtype=np.float64)  # (n_B, n_lr, n_seed)
    n = P.shape[-1]
    if n < 2:
        raise ValueError(f"half-sampling needs at least 2 seeds, got {n}")
    idx = np.argsort(rng.random((draws, n)), axis=1)[:, : n // 2]
    steps, _ = critical_curve(np.moveaxis(P[:, :, idx], 2, 0))  # (draws, n_B)
    return _log_b_crit(batch_sizes, steps)


def b_crit_interval(
    batch_sizes, passages_by_B, rng: np.random.Generator, draws: int = 200, level=0.95, method="basic"
):
    """Half-sampling interval for B_crit from passages (n_B, n_lr, n_seed); seeds are the unit resampled.

    With θ = log B_crit, d = (θ*_half − θ̂)·√(m/(n − m)) for halves of m = ⌊n/2⌋ seeds is distributed
    like θ̂ − θ for smooth statistics (for a mean, Var*(mean of a half without replacement) =
    s²(1/m − 1/n) = s²/n at m = n/2; the factor makes odd n match too). "basic":
    θ ∈ [θ̂ − q_hi, θ̂ − q_lo], q the (1 ∓ level)/2 quantiles of d. "symmetric": θ̂ ± the level quantile
    of |d| — it keeps the size of d but not its centre, which for a seed median is not a bias but noise
    anticorrelated with θ̂ − θ (the half-sample mean is a smoothed median), so "basic" undercovers there.
    A half with no knee counts as ±inf on its side, one with too few points as the worst on both; an
    infinite quantile (too many halves without a fit) or no full-sample fit gives (NaN, NaN).
    """
    if method not in ("basic", "symmetric"):
        raise ValueError(f"method must be 'basic' or 'symmetric', got {method!r}")
    P = np.asarray(passages_by_B, dtype=np.float64)
    n = P.shape[-1]
    theta = _log_b_crit(batch_sizes, critical_curve(P)[0])[0]
    if not np.isfinite(theta):
        return float("nan"), float("nan")
    m = n // 2
    d = (half_sample_log_b_crit(batch_sizes, P, rng, draws) - theta) * np.sqrt(m / (n - m))
    if method == "symmetric":
        q = np.quantile(np.where(np.isnan(d), np.inf, np.abs(d)), level, method="inverted_cdf")
        q_lo, q_hi = -q, q
    else:
        q_lo = np.quantile(np.where(np.isnan(d), -np.inf, d), (1 - level) / 2, method="inverted_cdf")
        q_hi = np.quantile(np.where(np.isnan(d), np.inf, d), (1 + level) / 2, method="inverted_cdf")
    if not (np.isfinite(q_lo) and np.isfinite(q_hi)):
        return float("nan"), float("nan")
    return float(np.exp(theta - q_hi)), float(np.exp(theta - q_lo))


@dataclass(frozen=True)
class Convergence:
    counts: np.ndarray  # (n_counts,) ascending: the first n seeds are used
    b_crit: np.ndarray  # (n_counts,)
    lo: np.ndarray  # (n_counts,) half-sampling interval
    hi: np.ndarray


def convergence(
    batch_sizes, passages_by_B, counts, rng: np.random.Generator, draws: int = 200, level=0.95, method="basic"
):
    """B_crit and its interval from the first n seeds for each n in ``counts``: B_crit against seeds."""
    P = np.asarray(passages_by_B, dtype=np.float64)
    counts = np.asarray(sorted(set(int(n) for n in counts)), dtype=np.intp)
    if len(counts) == 0 or counts[0] < 2 or counts[-1] > P.shape[-1]:
        raise ValueError(
            f"counts must lie in [2, {P.shape[-1]}] (the seeds available), got {counts.tolist()}"
        )
    b, lo, hi = [], [], []
    for n in counts:
        sub = P[..., :n]
        b.append(fit_log(batch_sizes, critical_curve(sub)[0]).b_crit)
        lo_n, hi_n = b_crit_interval(batch_sizes, sub, rng, draws, level, method)
        lo.append(lo_n)
        hi.append(hi_n)
    return Convergence(counts, np.array(b), np.array(lo), np.array(hi))


def halving_stays_inside(conv: Convergence) -> bool:
    """Whether B_crit from half the largest count of seeds lies inside the largest count's interval."""
    full, half = conv.counts[-1], conv.counts[-1] // 2
    where = np.flatnonzero(conv.counts == half)
    if len(where) == 0:
        raise ValueError(f"counts {conv.counts.tolist()} lack {half}, half of the largest count {full}")
    b = conv.b_crit[where[0]]
    return bool(conv.lo[-1] <= b <= conv.hi[-1])  # False when any is NaN
