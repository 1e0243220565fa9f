"""Steps to a target population loss for one batch size: the lr grid × seeds trained as one engine ensemble.

Member (s, l) is a logistic regression with learning rate lrs[l] fed seed s's stream of examples
(common random numbers: every lr sees the same batches). After each update the exact population
loss of every member is evaluated; an lr reaches target L* + δ at the first step where its
seed-mean loss is ≤ L* + δ. Minimum over lr of that step = the first step at which any lr's
seed-mean reaches the target, so the run stops once every target is reached by some lr.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..engine import BCE, SGD, Graph, Input, Linear, Parameter, Sigmoid
from . import population

# Examples drawn per seed at once (whole batches): few generator calls when batches are small.
CHUNK_EXAMPLES = 8192


class Stream:
    """Each seed's endless stream of population examples, handed out B at a time.

    Seed s draws labels and noise from two generators spawned from SeedSequence(s), in chunks of
    whole batches; the examples are the same sequence for every batch size (batch t of size B is
    examples tB … tB + B − 1), so batch sizes share their data too.
    """

    def __init__(self, pop: population.Population, seeds, batch_size: int):
        self.pop, self.batch_size = pop, batch_size
        spawned = [np.random.SeedSequence(seed).spawn(2) for seed in seeds]
        self.rngs = [[np.random.default_rng(s) for s in pair] for pair in spawned]
        self.chol = np.linalg.cholesky(pop.cov)
        self.steps_per_chunk = max(1, CHUNK_EXAMPLES // batch_size)
        self._x = self._y = None
        self._next = self.steps_per_chunk

    def _refill(self):
        n, B, d = self.steps_per_chunk, self.batch_size, self.pop.dim
        labels = np.stack([r[0].random(n * B) < 0.5 for r in self.rngs]).astype(np.float64)
        noise = np.stack([r[1].standard_normal((n * B, d)) for r in self.rngs])
        x = self.pop.means[labels.astype(np.intp)] + noise @ self.chol.T
        # (S, n·B, …) -> (n, S, B, …): batch t of every seed is one contiguous slice.
        self._x = np.ascontiguousarray(x.reshape(len(x), n, B, d).swapaxes(0, 1))
        self._y = np.ascontiguousarray(labels.reshape(len(x), n, B).swapaxes(0, 1))
        self._next = 0

    def next(self):
        """The next batch of every seed: x (S, B, d) and labels (S, B)."""
        if self._next == self.steps_per_chunk:
            self._refill()
        t = self._next
        self._next += 1
        return self._x[t], self._y[t]


@dataclass
class SweepResult:
    """Steps per (target, lr) (NaN: not reached before the run stopped), and how the run ended."""

    lrs: np.ndarray
    deltas: np.ndarray
    steps: np.ndarray  # (n_delta, n_lr)
    diverged_at: np.ndarray  # (n_lr,) step an lr was dropped as diverged, NaN if never
    steps_run: int

    @property
    def best(self):
        """Per target: fewest steps over lr and the lr that took them (NaN when none reached)."""
        out = []
        for row in self.steps:
            if np.all(np.isnan(row)):
                out.append((float("nan"), float("nan"), -1))
            else:
                i = int(np.nanargmin(row))  # ties: the smallest lr
                out.append((float(row[i]), float(self.lrs[i]), i))
        return out


class _Tracker:
    """First step at which each lr's seed-mean loss reaches each target; divergence bookkeeping."""

    def __init__(self, targets, n_lr, diverge_loss):
        self.targets = np.asarray(targets, dtype=np.float64)
        self.steps = np.full((len(self.targets), n_lr), np.nan)
        self.diverged_at = np.full(n_lr, np.nan)
        self.diverge_loss = diverge_loss

    def record(self, t: int, losses: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Losses (S, n_active) of lr columns ``columns``; returns the mask of columns still alive."""
        bad = ~(losses <= self.diverge_loss)  # NaN and inf too
        dead = bad.any(axis=0)
        mean = losses.mean(axis=0)
        if dead.any():
            mean[dead] = np.inf
        hit = (mean[None, :] <= self.targets[:, None]) & np.isnan(self.steps[:, columns])
        if hit.any():
            block = self.steps[:, columns]
            block[hit] = t
            self.steps[:, columns] = block
        self.diverged_at[columns[dead]] = t
        return ~dead

    def done(self) -> bool:
        return bool((~np.isnan(self.steps)).any(axis=1).all())


def train_ensemble(
    pop: population.Population,
    batch_size: int,
    lrs,
    seeds,
    targets,
    max_steps: int,
    diverge_loss: float = 10.0,
    stop_when_reached: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Train every (seed, lr) member from zeros with the engine until every target is reached by some lr.

    Shapes: x (S, 1, B, d) against weights A (S, L, 1, d) gives logits (S, L, B, 1), so one batch
    per seed feeds all L learning rates; BCE(per_model=2) is each member's own batch mean, and SGD
    takes one learning rate per member. A member whose population loss is not finite or exceeds
    ``diverge_loss`` drops its lr from the ensemble (that lr's seed-mean can no longer reach a target).
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    n_s, n_l, d = len(seeds), len(lrs), pop.dim
    x, y = Input(), Input()
    A = Parameter(np.zeros((n_s, n_l, 1, d)))
    b = Parameter(np.zeros((n_s, n_l, 1)))
    graph = Graph(BCE(y, Sigmoid(Linear(x, A, b)), per_model=2))
    opt = SGD([A, b], np.repeat(lrs[None], n_s, axis=0))
    ones = np.ones((n_s, n_l))
    stream = Stream(pop, seeds, batch_size)
    tracker = _Tracker(targets, n_l, diverge_loss)
    columns = np.arange(n_l)

    def evaluate(t):
        nonlocal columns, ones
        W = A.value.reshape(-1, d)
        losses = population.loss(pop, W, b.value.reshape(-1)).reshape(n_s, len(columns))
        alive = tracker.record(t, losses, columns)
        if not alive.all():
            columns = columns[alive]
            A.value, b.value = A.value[:, alive].copy(), b.value[:, alive].copy()
            opt.lr, ones = opt.lr[:, alive].copy(), ones[:, alive]

    evaluate(0)
    t = 0
    while t < max_steps and len(columns) and not (stop_when_reached and tracker.done()):
        t += 1
        X, Y = stream.next()
        graph.forward({x: X[:, None], y: Y[:, None, :, None]})
        graph.backward(ones)
        opt.step()
        evaluate(t)
        if progress is not None and t % 1000 == 0:
            progress(t, len(columns))
    return SweepResult(lrs, np.asarray(targets), tracker.steps, tracker.diverged_at, t)
