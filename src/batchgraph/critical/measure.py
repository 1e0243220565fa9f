"""Statistics of a critical-batch measurement: fractional first passages, seed medians, the log fit, its interval."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The 1-D search for log B_crit: a grid over [B_min/BRACKET, B_max·BRACKET], then bisection on the
# analytic derivative inside the best grid cell. Bisection on f' resolves log B_crit to ~eps; golden
# section on f itself stops at ~√eps, because f is flat (quadratic) at its minimum.
BRACKET = 1e3
GRID_POINTS = 241
BISECTIONS = 64


class PassageTracker:
    """Online fractional first passage of every member's loss, and of the seed-mean loss, below each target.

    Members have shape ``shape`` (seed axis first, e.g. (n_seed, n_lr)). The first ``update`` is the
    initial point; a member at or below a target there passes at that t. Later, with the loss above
    the target at the previous update t₀ and at or below it at t,
        passage = t₀ + (t − t₀)·(ℓ₀ − target)/(ℓ₀ − ℓ_t),
    linear interpolation in loss (t₀ = t − 1 when every update is evaluated). NaN: not reached yet.
    A member whose loss is not finite or exceeds ``diverge_loss`` is dropped: it never passes
    afterwards, ``diverged_at`` holds the t it was dropped, and the seed-mean of its column is dead too.
    """

    def __init__(self, targets, shape, diverge_loss: float = np.inf):
        self.targets = np.asarray(targets, dtype=np.float64).reshape(-1)
        self.shape = tuple(int(n) for n in shape)
        if not self.shape or self.shape[0] < 1:
            raise ValueError(f"shape must start with the seed axis, got {shape!r}")
        self.diverge_loss = float(diverge_loss)
        n_delta = len(self.targets)
        self.passages = np.full((n_delta, *self.shape), np.nan)
        self.mean_passages = np.full((n_delta, *self.shape[1:]), np.nan)
        self.diverged_at = np.full(self.shape, np.nan)
        self.alive = np.ones(self.shape, dtype=bool)
        self.steps_run = -1  # the last t seen
        self._open = np.ones(self.passages.shape, dtype=bool)
        self._mean_open = np.ones(self.mean_passages.shape, dtype=bool)
        self._prev = self._prev_mean = None
        self._column = self.targets.reshape(n_delta, *([1] * len(self.shape)))

    def update(self, t: int, losses) -> np.ndarray:
        """Record the losses after update t (t = 0: the initial loss); returns the mask of members alive."""
        losses = np.asarray(losses, dtype=np.float64)
        if losses.shape != self.shape:
            raise ValueError(f"losses have shape {losses.shape}, the tracker expects {self.shape}")
        if t <= self.steps_run:
            raise ValueError(f"t must increase: got {t} after {self.steps_run}")
        bad = ~(np.isfinite(losses) & (losses <= self.diverge_loss))
        self.diverged_at[bad & self.alive] = t
        self.alive &= ~bad
        cur = np.where(self.alive, losses, np.inf)  # a dropped member never passes
        mean = cur.mean(axis=0)  # inf as soon as one seed of the column is dropped
        t0, self.steps_run = self.steps_run, t
        _record(self.passages, self._open, self.targets, self._column, self._prev, cur, t0, t)
        _record(
            self.mean_passages,
            self._mean_open,
            self.targets,
            self._column[:, 0],
            self._prev_mean,
            mean,
            t0,
            t,
        )
        self._prev, self._prev_mean = cur, mean
        return self.alive.copy()

    @property
    def mean_alive(self) -> np.ndarray:
        """Columns whose seed-mean can still pass: every seed alive."""
        return self.alive.all(axis=0)

    def settled(self, criterion: str = "median") -> np.ndarray:
        """Per target: is the minimum over every non-seed axis of the criterion already fixed?

        "mean": some column's seed-mean has passed (a later passage is > steps_run). "median": the
        smallest seed-median among columns with more than half their seeds passed is ≤ the smallest
        lower bound of the others (pending members counted as passing at steps_run, dropped as +inf).
        A target that no column can reach any more counts as settled (its result is +inf).
        """
        if criterion == "mean":
            reached = ~np.isnan(self.mean_passages).reshape(len(self.targets), -1)
            dead = ~self.mean_alive.reshape(-1)
            return reached.any(axis=1) | dead.all()
        if criterion != "median":
            raise ValueError(f"criterion must be 'median' or 'mean', got {criterion!r}")
        n_seed = self.shape[0]
        final = (~np.isnan(self.passages)).sum(axis=1) > n_seed / 2
        lower = np.where(np.isnan(self.passages) & self.alive, float(self.steps_run), self.passages)
        lower = median_steps(lower, axis=1)
        n_delta = len(self.targets)
        best_final = np.where(final, median_steps(self.passages, axis=1), np.inf).reshape(n_delta, -1)
        best_other = np.where(final, np.inf, lower).reshape(n_delta, -1)
        return best_final.min(axis=1) <= best_other.min(axis=1)


def _record(passages, open_, targets, column, prev, cur, t0, t):
    """Write the fractional passage of every (target, member) that passes at t; close it."""
    hit = (cur <= column) & open_
    if not hit.any():
        return
    where = np.nonzero(hit)
    if prev is None:  # the first point: nothing to interpolate from
        passages[where] = t
    else:
        target, before, after = targets[where[0]], prev[where[1:]], cur[where[1:]]
        # before > target ≥ after here (an open member was above at t0), so the fraction is in (0, 1].
        passages[where] = t0 + (t - t0) * (before - target) / (before - after)
    open_[where] = False


def median_steps(passages, axis: int = 0) -> np.ndarray:
    """Median over ``axis`` with NaN (never reached or censored at steps_run) counted as +inf.

    n odd: the middle order statistic; n even: the mean of the two middle ones (+inf if either is).
    So the median is finite iff more than half the entries are finite.
    """
    x = np.asarray(passages, dtype=np.float64)
    x = np.moveaxis(np.where(np.isnan(x), np.inf, x), axis, -1)
    n = x.shape[-1]
    if n == 0:
        raise ValueError("median_steps needs at least one seed")
    k = n // 2
    if n % 2:
        return np.partition(x, k, axis=-1)[..., k]
    part = np.partition(x, [k - 1, k], axis=-1)
    return 0.5 * (part[..., k - 1] + part[..., k])


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

    f(u) = Σ_B w_B (r_B − r̄)², r_B = log S_B − log(1 + e^u/B), r̄ the w-mean (the optimal log S_min);
    f'(u) = −2 Σ_B w_B (r_B − r̄) σ(u − log B) (the r̄ term drops since Σ w (r − r̄) = 0).
    side is −1 / +1 where the grid minimum is the bracket's lower / upper end (no knee: NaN), else 0.
    """
    log_b = np.log(np.asarray(batch_sizes, dtype=np.float64))
    S = np.atleast_2d(np.asarray(steps, dtype=np.float64))
    w = (np.isfinite(S) & (S > 0)).astype(np.float64)
    y = np.log(np.where(w > 0, S, 1.0)) * w
    points = w.sum(axis=1)
    norm = np.maximum(points, 1.0)

    def centred(g):  # r − r̄ at every point of every row (0 where left out)
        r = (y - g) * w
        return (r - r.sum(axis=-1, keepdims=True) / norm[:, None]) * w

    grid = np.linspace(
        np.log(np.min(batch_sizes) / BRACKET), np.log(np.max(batch_sizes) * BRACKET), GRID_POINTS
    )
    g_grid, _ = _curve(grid[:, None], log_b)  # (G, n_B)
    r = (y[:, None, :] - g_grid[None]) * w[:, None, :]  # (n, G, n_B)
    rc = (r - r.sum(axis=-1, keepdims=True) / norm[:, None, None]) * w[:, None, :]
    i = np.argmin((rc**2).sum(axis=-1), axis=1)
    lo, hi = grid[np.maximum(i - 1, 0)], grid[np.minimum(i + 1, GRID_POINTS - 1)]
    for _ in range(BISECTIONS):
        mid = 0.5 * (lo + hi)
        g, dg = _curve(mid[:, None], log_b)
        rising = -((centred(g) * dg).sum(axis=1)) > 0
        lo, hi = np.where(rising, lo, mid), np.where(rising, mid, hi)
    u = 0.5 * (lo + hi)
    g, _ = _curve(u[:, None], log_b)
    res = centred(g)
    log_s_min = ((y - g) * w).sum(axis=1) / norm
    side = np.where(i == 0, -1, np.where(i == GRID_POINTS - 1, 1, 0))
    ok = (points >= 2) & (side == 0)
    u = np.where(ok, u, np.nan)
    return u, np.where(ok, log_s_min, np.nan), np.where(ok, (res**2).sum(axis=1), np.nan), points, side


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


def b_crit_interval(batch_sizes, passages_by_B, rng: np.random.Generator, draws: int = 200, level=0.95):
    """Half-sampling basic interval for B_crit from passages (n_B, n_lr, n_seed).

    With θ = log B_crit, d = (θ*_half − θ̂)·√(m/(n − m)) for halves of m = ⌊n/2⌋ seeds is distributed
    like θ̂ − θ (for a mean, Var*(mean of a half without replacement) = s²(1/m − 1/n) = s²/n at m = n/2;
    the factor makes odd n match too), so θ ∈ [θ̂ − q_hi, θ̂ − q_lo], q the (1 ∓ level)/2 quantiles of d.
    A half with no knee counts as ±inf on its side, one with too few points as the worst on both; an
    infinite quantile (too many halves without a fit) or no full-sample fit gives (NaN, NaN).
    """
    P = np.asarray(passages_by_B, dtype=np.float64)
    n = P.shape[-1]
    theta = _log_b_crit(batch_sizes, critical_curve(P)[0])[0]
    if not np.isfinite(theta):
        return float("nan"), float("nan")
    m = n // 2
    d = (half_sample_log_b_crit(batch_sizes, P, rng, draws) - theta) * np.sqrt(m / (n - m))
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


def convergence(batch_sizes, passages_by_B, counts, rng: np.random.Generator, draws: int = 200, level=0.95):
    """B_crit and its interval from the first n seeds, for each n in ``counts`` (the B_crit-vs-seeds figure)."""
    P = np.asarray(passages_by_B, dtype=np.float64)
    counts = np.asarray(sorted(set(int(n) for n in counts)), dtype=np.intp)
    if len(counts) == 0 or counts[0] < 2 or counts[-1] > P.shape[-1]:
        raise ValueError(
            f"counts must lie in [2, {P.shape[-1]}] (the seeds available), got {counts.tolist()}"
        )
    b, lo, hi = [], [], []
    for n in counts:
        sub = P[..., :n]
        b.append(np.exp(_log_b_crit(batch_sizes, critical_curve(sub)[0])[0]))
        lo_n, hi_n = b_crit_interval(batch_sizes, sub, rng, draws, level)
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


@dataclass(frozen=True)
class LrRefinement:
    new_lrs: np.ndarray  # refined lrs not already on the coarse grid, ascending, 12 significant digits
    lrs: np.ndarray  # coarse ∪ new, ascending
    at_edge: bool  # the coarse best is the coarse grid's first or last lr: the optimum may lie beyond


def _round_sig(x, digits: int = 12) -> np.ndarray:
    return np.array([float(f"{v:.{digits - 1}e}") for v in np.asarray(x, dtype=np.float64).reshape(-1)])


def lr_refinement(lrs_coarse, best_index: int, per_octave: int = 4, span_octaves: float = 1) -> LrRefinement:
    """A geometric lr grid around the coarse best: lr_best·2^(k/per_octave) for |k| ≤ span·per_octave.

    Points equal to a coarse lr to 12 significant digits are left out of ``new_lrs`` (already run).
    """
    coarse = np.asarray(lrs_coarse, dtype=np.float64).reshape(-1)
    if len(coarse) == 0 or not (np.all(coarse > 0) and np.all(np.diff(coarse) > 0)):
        raise ValueError("lrs_coarse must be positive and strictly ascending")
    if not 0 <= best_index < len(coarse):
        raise ValueError(f"best_index must be in [0, {len(coarse) - 1}], got {best_index} (no lr reached?)")
    if per_octave < 1 or span_octaves <= 0:
        raise ValueError(f"per_octave must be ≥ 1 and span_octaves > 0, got {per_octave}, {span_octaves}")
    half = int(round(span_octaves * per_octave))
    k = np.arange(-half, half + 1)
    refined = np.unique(_round_sig(coarse[best_index] * 2.0 ** (k / per_octave)))
    new = refined[~np.isin(refined, _round_sig(coarse))]
    return LrRefinement(new, np.sort(np.concatenate([coarse, new])), best_index in (0, len(coarse) - 1))
