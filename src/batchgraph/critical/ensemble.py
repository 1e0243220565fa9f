"""Steps to target losses for one problem and batch size: seeds × learning rates as one engine ensemble.

Member (s, l) is a logistic regression started at seed s's initial weights, trained with learning
rate lrs[l] on seed s's stream of examples (common random numbers: every lr sees the same
batches and starts from the same point). After each update the exact population loss of every
member is evaluated, and each member's first passage below each target L* + δ is recorded in
fractional steps (``passages.PassageTracker``). Two regimes:

- ``constant``: SGD with a constant learning rate, tuned per batch size in two passes: a coarse
  grid with a few seeds locates the best rate, then every seed runs a grid of at least four
  rates per octave around it (Shallue et al. 2018 tune the same way, coarse then fine).
- ``optimal``: McCandlish et al.'s (2018) noise-optimal step at every update and for every member,
  ε = ε_max / (1 + B_noise / B) with ε_max = |G|²/GᵀHG and B_noise = tr(HΣ)/GᵀHG at the member's
  current weights (exact population quantities): the step their B_crit ≈ B_noise assumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..engine import BCE, SGD, Graph, Input, Linear, Parameter, Sigmoid
from .passages import PassageTracker, lr_refinement, median_steps
from .problems import optimal_step

# The run folder's tables (long format): one row per (regime, δ, lr, seed), and per (regime, δ, lr).
PASSAGE_COLUMNS = ("regime", "delta", "lr", "seed", "steps")
SEED_MEAN_COLUMNS = ("regime", "delta", "lr", "steps")
# Examples drawn per seed at once (whole batches): few generator calls when batches are small.
CHUNK_EXAMPLES = 8192
# The fine pass covers this many octaves either side of each target's best coarse rate: the
# coarse grid is half-octave, so a unimodal optimum lies within a quarter octave of its best.
FINE_SPAN_OCTAVES = 0.5
# Evaluate the population loss after every update up to this many, then every t/DENSE_STEPS.
DENSE_STEPS = 64
# Seeds of the coarse lr pass: enough to locate the best rate within the half-octave grid.
COARSE_SEEDS = 8
# A run stops once, for every target, some lr has this share of its seeds below the target
# (so half-samples of the seeds still have a median) and some lr's seed-mean is below it.
QUORUM = 0.75
MEAN_PATIENCE = 2


def seed_generators(seed: int):
    """Seed s's three generators: its initial weights, then its stream's two (spawned, independent)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]


class Stream:
    """Each seed's endless stream of population examples, handed out B at a time.

    The examples are the same sequence for every batch size (batch t of size B is examples
    tB … tB + B − 1), so batch sizes share their data as well as their initial weights.
    """

    def __init__(self, problem, seeds, batch_size: int):
        self.problem, self.batch_size = problem, batch_size
        self.rngs = [seed_generators(seed)[1:] for seed in seeds]
        self.steps_per_chunk = max(1, CHUNK_EXAMPLES // batch_size)
        self._x = self._y = None
        self._next = self.steps_per_chunk

    def _refill(self):
        n, B, d = self.steps_per_chunk, self.batch_size, self.problem.dim
        drawn = [self.problem.draw(rngs, n * B) for rngs in self.rngs]
        x = np.stack([x for x, _ in drawn])
        y = np.stack([y for _, y in drawn])
        # (S, n·B, …) -> (n, S, B, …): batch t of every seed is one contiguous slice.
        self._x = np.ascontiguousarray(x.reshape(len(x), n, B, d).swapaxes(0, 1))
        self._y = np.ascontiguousarray(y.reshape(len(x), n, B).swapaxes(0, 1))
        self._next = 0

    def next(self):
        """The next batch of every seed: x (S, B, d) and labels (S, B)."""
        if self._next == self.steps_per_chunk:
            self._refill()
        t = self._next
        self._next += 1
        return self._x[t], self._y[t]


def initial_weights(problem, seeds, init: str):
    """Per seed: W0 (S, d) and b0 (S,), drawn from the seed's own generator (``init`` random or zeros)."""
    rows = [problem.initial(seed_generators(seed)[0], 1, kind=init) for seed in seeds]
    return np.concatenate([w for w, _ in rows]), np.concatenate([b for _, b in rows])


@dataclass
class Pass:
    """One ensemble run: fractional first passages per (target, seed, lr), NaN where not reached."""

    lrs: np.ndarray  # (n_lr,); NaN for the noise-optimal regime (one member per seed)
    passages: np.ndarray  # (n_delta, n_seed, n_lr)
    mean_passages: np.ndarray  # (n_delta, n_lr): first passage of the seed-mean loss
    diverged: np.ndarray  # (n_seed, n_lr): the step a member diverged at, NaN if it did not
    steps_run: int

    def steps(self) -> np.ndarray:
        """Per (target, lr): the median over seeds of the first passage (inf if half did not reach)."""
        return median_steps(self.passages, axis=1)


class _Done:
    """Every target reached by QUORUM of some lr's seeds; then also by some lr's seed-mean, unless
    that takes more than MEAN_PATIENCE times as long (its first passage is then left NaN: the
    seed-mean is heavy-tailed at small batches, the reason it is not the headline criterion)."""

    def __init__(self, tracker: PassageTracker):
        self.tracker, self.quorum_at = tracker, None

    def __call__(self) -> bool:
        tracker = self.tracker
        if self.quorum_at is None:
            share = (~np.isnan(tracker.passages)).mean(axis=1)  # (n_delta, L)
            if not (share >= QUORUM).any(axis=1).all():
                return False
            self.quorum_at = tracker.steps_run
        return bool(tracker.settled("mean").all()) or tracker.steps_run >= MEAN_PATIENCE * self.quorum_at


def _ensemble_graph(W0, b0, n_l: int):
    """x (S, 1, B, d) against weights A (S, L, 1, d): logits (S, L, B, 1), a BCE per member."""
    x, y = Input(requires_grad=False), Input(requires_grad=False)
    A = Parameter(np.repeat(W0[:, None, None, :], n_l, axis=1).copy())
    b = Parameter(np.repeat(b0[:, None, None], n_l, axis=1).copy())
    graph = Graph(BCE(y, Sigmoid(Linear(x, A, b)), per_model=2))
    return graph, x, y, A, b


class _Members:
    """What both trainers train: every (seed, lr) member from its seed's start, the ensemble graph,
    SGD at ``lrs`` (S, L), each seed's minibatch stream and the first-passage tracker."""

    def __init__(self, problem, batch_size: int, seeds, lrs: np.ndarray, targets, diverge_loss, init):
        self.problem = problem
        self.W0, self.b0 = initial_weights(problem, seeds, init)
        self.graph, self.x, self.y, self.A, self.b = _ensemble_graph(self.W0, self.b0, lrs.shape[1])
        self.opt = SGD([self.A, self.b], lrs)
        self.stream = Stream(problem, seeds, batch_size)
        self.tracker = PassageTracker(targets, lrs.shape, diverge_loss)
        self.done = _Done(self.tracker)
        self.ones = np.ones(lrs.shape)

    def update(self, t: int) -> None:
        """One minibatch step of every member: forward, backward, the problem's ridge, SGD."""
        X, Y = self.stream.next()
        self.graph.forward({self.x: X[:, None], self.y: Y[:, None, :, None]})
        self.graph.backward(self.ones)
        if self.problem.ridge:  # the problem's ½λ|w|² (weight decay on w, not b)
            self.A.grad = self.A.grad + self.problem.ridge * self.A.value
        self.opt.step()

    def reset(self, s, l) -> None:
        """Members (s, l) back to their initial weights, so a diverged member's NaN cannot spread."""
        self.A.value[s, l, 0], self.b.value[s, l, 0] = self.W0[s], self.b0[s]


def train_pass(
    problem,
    batch_size: int,
    lrs,
    seeds,
    targets,
    max_steps: int,
    diverge_loss: float,
    init: str = "random",
    progress: Callable[[int, int], None] | None = None,
) -> Pass:
    """Constant-lr SGD for every (seed, lr) until every target is reached (see ``_done``).

    A member whose population loss is not finite or exceeds ``diverge_loss`` has diverged: it
    never passes a target afterwards and goes back to its initial weights (so NaN does not
    spread); an lr with more than half its seeds diverged can no longer have a finite median and
    is no longer trained.
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    n_s, n_l, d = len(seeds), len(lrs), problem.dim
    m = _Members(problem, batch_size, seeds, np.repeat(lrs[None], n_s, axis=0), targets, diverge_loss, init)
    trained = np.ones(n_l, dtype=bool)  # lrs still trained; a stopped one keeps its last losses
    losses = np.empty((n_s, n_l))

    def evaluate(t):
        cols = np.nonzero(trained)[0]
        W, c = m.A.value[:, cols].reshape(-1, d), m.b.value[:, cols].reshape(-1)
        losses[:, cols] = problem.loss(W, c).reshape(n_s, len(cols))
        alive = m.tracker.update(t, losses)
        dead = ~alive & trained[None]
        if dead.any():
            s, l = np.nonzero(dead)
            m.reset(s, l)
            losses[s, l] = np.inf
        trained[(~alive).sum(axis=0) * 2 > n_s] = False

    t = _loop(m.update, evaluate, lambda: not trained.any() or m.done(), max_steps,
              progress and (lambda t: progress(t, int(trained.sum()))))  # fmt: skip
    return Pass(lrs, m.tracker.passages, m.tracker.mean_passages, m.tracker.diverged_at, t)


def train_optimal(
    problem,
    batch_size: int,
    seeds,
    targets,
    max_steps: int,
    diverge_loss: float,
    init: str = "random",
    progress: Callable[[int, int], None] | None = None,
) -> Pass:
    """McCandlish's noise-optimal step for every seed (one member each) until every target is reached."""
    n_s, d = len(seeds), problem.dim
    m = _Members(problem, batch_size, seeds, np.zeros((n_s, 1)), targets, diverge_loss, init)
    alive = np.ones(n_s, dtype=bool)

    def evaluate(t):
        W, c = m.A.value.reshape(n_s, d), m.b.value.reshape(n_s)
        alive[:] = m.tracker.update(t, problem.loss(W, c).reshape(n_s, 1))[:, 0]
        m.reset(~alive, 0)
        # The step is recomputed at every evaluation (between two, the weights move by well under
        # a percent: DENSE_STEPS).
        m.opt.lr = np.where(alive, noise_optimal_step(problem.step_stats(W, c), batch_size), 0.0)[:, None]

    t = _loop(m.update, evaluate, lambda: not alive.any() or m.done(), max_steps,
              progress and (lambda t: progress(t, int(alive.sum()))))  # fmt: skip
    return Pass(np.array([np.nan]), m.tracker.passages, m.tracker.mean_passages, m.tracker.diverged_at, t)


def _loop(update, evaluate, finished, max_steps: int, progress=None) -> int:
    """Update until ``finished()`` (checked after each evaluation) or ``max_steps``; returns the steps run.

    The population loss is evaluated after every update up to DENSE_STEPS, then every
    ⌊t/DENSE_STEPS⌋ updates, so a first passage is located to within t/DENSE_STEPS steps and
    the fractional passage interpolates between the two evaluations that bracket it.
    """
    evaluate(0)
    t, due, stop = 0, 1, finished()
    while t < max_steps and not stop:
        t += 1
        update(t)
        if t in (due, max_steps):
            evaluate(t)
            due = t + max(1, t // DENSE_STEPS)
            stop = finished()  # it can change only when something was evaluated
        if progress is not None and t % 1000 == 0:
            progress(t)
    return t


def noise_optimal_step(stats, batch_size: int) -> np.ndarray:
    """``problems.optimal_step``, with ε = 0 where there is nothing to step along (GᵀHG = 0)."""
    ghg = stats["GHG"]
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = optimal_step(stats, batch_size)
    return np.where(ghg > 0, eps, 0.0)


@dataclass
class Cell:
    """Both lr passes of one (problem, batch size): the coarse grid, then the refined one."""

    coarse: Pass
    fine: Pass
    coarse_best: np.ndarray  # (n_delta,) best coarse lr per target (NaN if none reached)
    at_edge: np.ndarray  # (n_delta,) bool: the best fine lr is at the edge of what was tried


def tune(
    problem,
    batch_size: int,
    coarse_lrs,
    seeds,
    targets,
    max_steps: int,
    diverge_loss: float,
    per_octave: int = 4,
    init: str = "random",
    progress: Callable[[str, int, int], None] | None = None,
) -> Cell:
    """The constant-lr regime of one cell: a coarse pass over ``coarse_lrs`` with the first
    COARSE_SEEDS seeds, then every seed over ``per_octave`` rates per octave within an octave of
    each target's best coarse rate."""
    coarse_lrs = np.asarray(coarse_lrs, dtype=np.float64)
    few = list(seeds)[: min(COARSE_SEEDS, len(seeds))]
    report = (lambda name: lambda t, n: progress(name, t, n)) if progress else (lambda name: None)
    coarse = train_pass(
        problem, batch_size, coarse_lrs, few, targets, max_steps, diverge_loss, init, report("coarse")
    )
    steps = coarse.steps()  # (n_delta, n_lr)
    best, fine_lrs = [], []
    for row in steps:
        if np.isinf(row).all():
            best.append(np.nan)
            continue
        i = int(np.argmin(row))
        best.append(coarse_lrs[i])
        grid = lr_refinement(coarse_lrs, i, per_octave, FINE_SPAN_OCTAVES).lrs
        span = 2.0**FINE_SPAN_OCTAVES * (1 + 1e-9)
        fine_lrs.append(grid[(grid >= coarse_lrs[i] / span) & (grid <= coarse_lrs[i] * span)])
    if not fine_lrs:  # nothing reached a target: the fine pass repeats the coarse grid
        fine_lrs = [coarse_lrs]
    grid = np.unique(np.concatenate(fine_lrs))
    fine = train_pass(
        problem, batch_size, grid, seeds, targets, max_steps, diverge_loss, init, report("fine")
    )
    fine_steps = fine.steps()
    # The best fine rate at an end of what was tried: the optimum may lie beyond it.
    edge = [not np.isinf(row).all() and int(np.argmin(row)) in (0, len(grid) - 1) for row in fine_steps]
    return Cell(coarse, fine, np.array(best), np.array(edge))
