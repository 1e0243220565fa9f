"""Online first passages of every ensemble member's loss below each target, in fractional steps; the
seed median; the lr grid's refinement. What the trainer needs (the statistics on top: measure.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
        targets, column = self.targets, self._column
        _record(self.passages, self._open, targets, column, self._prev, cur, t0, t)
        _record(self.mean_passages, self._mean_open, targets, column[:, 0], self._prev_mean, mean, t0, t)
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
    x = np.moveaxis(np.where(np.isnan(x), np.inf, x), axis, -1)  # a fresh array: partitioned in place
    n = x.shape[-1]
    if n == 0:
        raise ValueError("median_steps needs at least one seed")
    k = n // 2
    if n % 2:
        x.partition(k, axis=-1)
        return x[..., k].copy()
    x.partition([k - 1, k], axis=-1)
    return 0.5 * (x[..., k - 1] + x[..., k])


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
