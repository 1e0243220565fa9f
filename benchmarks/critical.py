"""Time the critical study's constant-lr fine pass: the engine ensemble against a hand-fused NumPy loop.

``python -m benchmarks.critical [--quick] [--json PATH]``. For every (problem, B) cell of the grid both
run the same sweep in one process, one after the other (which goes first alternates from cell to
cell, so drift in a shared machine's load falls on both): every seed × every lr of the cell's grid
as one ensemble, the population loss evaluated on the trainer's schedule, the same stop rule.

- engine: ``batchgraph.critical.ensemble.train_pass``, as ``tune`` runs its fine pass (the engine's
  ``Linear`` → ``Sigmoid`` → ``BCE(per_model=2)`` graph and ``SGD`` with one lr per member).
- plain: ``plain_pass`` below, the update written by hand (logits, σ, dL/dz = (σ − y)/B, the ridge,
  the step) with no engine. It shares with the library only what makes it the same sweep: the
  streams (``problem.draw`` on ``ensemble.seed_generators``, drawn ``CHUNK_EXAMPLES`` at a time), the
  initial weights (``ensemble.initial_weights``), the exact population loss (``problem.loss``) and
  ``passages.PassageTracker``; the evaluation schedule and the stop rule are written out again.

Both must find the same passages: the fewest steps per target (median over seeds, then the minimum
over lr) agree to RTOL, or the run ends with status 1. Single (δ, lr, seed) passages may differ at
chaotic rates at the stability edge (last-bit rounding differences grow there); they are counted.

The grids. Default: conf/critical/mccandlish.yaml's problems, batch sizes, seeds, targets and limits,
and each cell's lrs are its fine pass's, found as ``ensemble.tune`` finds them: the coarse pass
(COARSE_SEEDS seeds on the yaml's lr_grid × problem.lr_unit; engine, untimed, reported as setup),
then refine_per_octave rates per octave within FINE_SPAN_OCTAVES of each target's best coarse rate.
``--quick``: two problems, three batch sizes, 8 seeds, and five rates c·2^(k/4), k = −2 … 2, around a
centre c per cell (QUICK_CENTRES, the coarse pass's best rates from the default grid) — no coarse
pass. Only the default grid writes JSON unless ``--json`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

from batchgraph.core.config import CriticalParams, parse_yaml
from batchgraph.critical import ensemble, problems
from batchgraph.critical.passages import PassageTracker, lr_refinement, median_steps
from batchgraph.engine.nodes import EPS

CONF = Path(__file__).resolve().parents[1] / "conf" / "critical" / "mccandlish.yaml"
DEFAULT_JSON = Path("benchmarks/results/critical.json")
# Passages equal to this relative tolerance count as the same (rounding differs between the two).
RTOL = 1e-9
# log2(lr / lr_unit) of the --quick grids' centres: between the best coarse rates of δ = 0.1 and
# δ = 0.03 in the default grid's coarse pass (8 seeds).
QUICK_CENTRES = {
    ("kappa_10", 4): -6.0,
    ("kappa_10", 256): -0.5,
    ("kappa_10", 4096): 1.0,
    ("breast_cancer", 4): -4.25,
    ("breast_cancer", 256): 0.5,
    ("breast_cancer", 4096): 1.0,
}
QUICK = {
    "problems": ("kappa_10", "breast_cancer"),
    "batch_sizes": (4, 256, 4096),
    "seeds": tuple(range(8)),
    "deltas": (0.1, 0.03),
    "init": "random",
    "max_steps": 100_000,
    "diverge_loss": 10.0,
    "lrs": {"centres": "QUICK_CENTRES", "k": (-2, -1, 0, 1, 2), "per_octave": 4},
    "repeats": 2,
}


def full_grid(path: Path = CONF) -> dict:
    """The default grid: the study's own config, with each cell's lrs from its coarse pass."""
    cfg = CriticalParams.model_validate(parse_yaml(path.read_text(encoding="utf-8"), str(path)))
    grid = cfg.lr_grid
    return {
        "problems": tuple(cfg.problems),
        "batch_sizes": tuple(cfg.batch_sizes),
        "seeds": tuple(cfg.seeds),
        "deltas": tuple(cfg.deltas),
        "init": cfg.init,
        "max_steps": cfg.max_steps,
        "diverge_loss": cfg.diverge_loss,
        "lrs": {"coarse": [grid.start, grid.stop, grid.per_octave], "per_octave": cfg.refine_per_octave},
        "repeats": 1,
    }


def fine_grid(coarse_lrs, coarse: ensemble.Pass, per_octave: int) -> np.ndarray:
    """The fine pass's lrs from a coarse pass, as ``ensemble.tune`` picks them."""
    fine = []
    for row in coarse.steps():
        if np.isinf(row).all():
            continue
        i = int(np.argmin(row))
        grid = lr_refinement(coarse_lrs, i, per_octave, ensemble.FINE_SPAN_OCTAVES).lrs
        span = 2.0**ensemble.FINE_SPAN_OCTAVES * (1 + 1e-9)
        fine.append(grid[(grid >= coarse_lrs[i] / span) & (grid <= coarse_lrs[i] * span)])
    return np.unique(np.concatenate(fine)) if fine else np.asarray(coarse_lrs)


def cell_lrs(problem, B: int, cfg, targets) -> tuple[np.ndarray, float]:
    """The cell's lr grid and the seconds its coarse pass took (0 without one)."""
    spec = cfg["lrs"]
    if "centres" in spec:
        centre = QUICK_CENTRES[(problem.name, B)]
        return problem.lr_unit * 2.0 ** (centre + np.asarray(spec["k"]) / spec["per_octave"]), 0.0
    start, stop, per_octave = spec["coarse"]
    n = int(np.floor(np.log2(stop / start) * per_octave + 1e-9)) + 1
    coarse_lrs = problem.lr_unit * start * 2.0 ** (np.arange(n) / per_octave)
    t0 = time.perf_counter()
    few = list(cfg["seeds"])[: ensemble.COARSE_SEEDS]
    coarse = ensemble.train_pass(
        problem, B, coarse_lrs, few, targets, cfg["max_steps"], cfg["diverge_loss"], cfg["init"]
    )
    return fine_grid(coarse_lrs, coarse, spec["per_octave"]), time.perf_counter() - t0


def plain_pass(problem, B: int, lrs, seeds, targets, max_steps: int, diverge_loss: float, init: str):
    """``train_pass`` as one hand-written NumPy loop: (passages, mean_passages, steps_run)."""
    lrs = np.asarray(lrs, dtype=np.float64)
    n_s, n_l, d = len(seeds), len(lrs), problem.dim
    W0, b0 = ensemble.initial_weights(problem, seeds, init)
    W = np.repeat(W0[:, None], n_l, axis=1)  # (S, L, d)
    b = np.repeat(b0[:, None], n_l, axis=1)  # (S, L)
    step = np.broadcast_to(lrs / B, (n_s, n_l))  # the 1/B of the batch mean folded into the rate
    decay = 1.0 - lrs[None, :, None] * problem.ridge  # w ← (1 − ηλ) w − η ∇: the ridge's weight decay
    rngs = [ensemble.seed_generators(seed)[1:] for seed in seeds]
    per_chunk = max(1, ensemble.CHUNK_EXAMPLES // B)
    chunk = [per_chunk, None, None]  # next batch in the chunk, xᵀ (S, n, d, B), y (S, n, B)
    tracker = PassageTracker(targets, (n_s, n_l), diverge_loss)
    trained = np.ones(n_l, dtype=bool)
    losses = np.empty((n_s, n_l))

    def update():
        nonlocal W, b  # updated in place
        if chunk[0] == per_chunk:
            drawn = [problem.draw(r, per_chunk * B) for r in rngs]
            x = np.stack([x for x, _ in drawn]).reshape(n_s, per_chunk, B, d)
            y = np.stack([y for _, y in drawn]).reshape(n_s, per_chunk, B)
            chunk[:] = 0, np.ascontiguousarray(x.swapaxes(2, 3)), y
        xT, y = chunk[1][:, chunk[0]], chunk[2][:, chunk[0]]
        chunk[0] += 1
        z = np.matmul(W, xT)  # (S, L, B): every lr of a seed against the seed's batch, one GEMM
        z += b[..., None]
        # r = dL/dz = σ(z) − y, σ(z) = e^min(z, 0) / (1 + e^−|z|) (the engine's overflow-free form).
        r = np.exp(np.minimum(z, 0.0))
        np.abs(z, out=z)
        np.negative(z, out=z)
        np.exp(z, out=z)
        z += 1.0
        r /= z
        # The engine's BCE takes probabilities clipped to [EPS, 1 − EPS] and is flat outside: no
        # gradient from an example with |z| > 34.5 (at large rates early on, dozens per batch).
        clipped = np.minimum.reduce(r, axis=None) < EPS or np.maximum.reduce(r, axis=None) > 1.0 - EPS
        inside = (r >= EPS) & (r <= 1.0 - EPS) if clipped else None
        r -= y[:, None]
        if clipped:
            r *= inside
        gW = np.matmul(r, xT.swapaxes(1, 2))  # (S, L, d)
        if problem.ridge:
            W *= decay
        W -= step[..., None] * gW
        b -= step * r.sum(axis=-1)

    def evaluate(t):
        cols = np.nonzero(trained)[0]
        losses[:, cols] = problem.loss(W[:, cols].reshape(-1, d), b[:, cols].reshape(-1)).reshape(n_s, -1)
        alive = tracker.update(t, losses)
        s, l = np.nonzero(~alive & trained[None])
        W[s, l], b[s, l], losses[s, l] = W0[s], b0[s], np.inf  # diverged: back to the start
        trained[(~alive).sum(axis=0) * 2 > n_s] = False

    evaluate(0)
    t, quorum_at = 0, None
    while t < max_steps and trained.any():
        # The stop rule (ensemble._Done), checked where it can change: after an evaluation.
        if (
            quorum_at is None
            and ((~np.isnan(tracker.passages)).mean(axis=1) >= ensemble.QUORUM).any(axis=1).all()
        ):
            quorum_at = t
        if quorum_at is not None and (
            tracker.settled("mean").all() or t >= ensemble.MEAN_PATIENCE * quorum_at
        ):
            break
        due = min(max_steps, t + max(1, t // ensemble.DENSE_STEPS))
        while t < due:
            update()
            t += 1
        evaluate(t)
    return tracker.passages, tracker.mean_passages, t


def compare(engine, plain) -> dict:
    """Agreement of two (passages, mean_passages, steps_run): fewest steps per target, and per cell."""
    fewest = [median_steps(p[0], axis=1).min(axis=1) for p in (engine, plain)]
    same = np.isclose(engine[0], plain[0], rtol=RTOL, atol=0.0, equal_nan=True)
    both = np.isfinite(engine[0]) & np.isfinite(plain[0])
    rel = np.abs(engine[0] - plain[0])[both] / np.abs(plain[0])[both]
    return {
        "fewest_steps": [fmt(s) for s in fewest[0]],
        "fewest_steps_agree": bool(np.isclose(*fewest, rtol=RTOL, atol=0.0).all()),
        "cells_differing": int((~same).sum()),
        "cells": int(same.size),
        "max_rel_diff_agreeing": float(rel[same[both]].max(initial=0.0)),
        "steps_run": [int(engine[2]), int(plain[2])],
    }


def run_cell(problem, B: int, cfg, engine_first: bool) -> dict:
    """One (problem, B): its lr grid, then the engine and the plain loop on it, timed back to back."""
    targets = [(1.0 + delta) * problem.optimal_loss for delta in cfg["deltas"]]
    lrs, coarse_seconds = cell_lrs(problem, B, cfg, targets)
    args = (problem, B, lrs, list(cfg["seeds"]), targets, cfg["max_steps"], cfg["diverge_loss"], cfg["init"])

    def engine():
        result = ensemble.train_pass(*args)
        return result.passages, result.mean_passages, result.steps_run

    paths = [("engine", engine), ("plain", lambda: plain_pass(*args))]
    seconds, out = {"engine": [], "plain": []}, {}
    for i in range(cfg["repeats"]):  # the order alternates from cell to cell and repeat to repeat
        for name, path in paths if engine_first == (i % 2 == 0) else paths[::-1]:
            t0 = time.perf_counter()
            out[name] = path()
            seconds[name].append(time.perf_counter() - t0)
    engine_s, plain_s = min(seconds["engine"]), min(seconds["plain"])
    return {
        "problem": problem.name,
        "batch_size": B,
        "lrs_over_lr_unit": [fmt(lr / problem.lr_unit) for lr in lrs],
        "members": len(lrs) * len(cfg["seeds"]),
        "first": paths[0 if engine_first else 1][0],
        # four significant digits: a cell of a few milliseconds keeps its ratio
        "coarse_seconds": sig(coarse_seconds),
        "engine_seconds": sig(engine_s),
        "plain_seconds": sig(plain_s),
        "ratio_engine_to_plain": round(engine_s / plain_s, 3),
        **compare(out["engine"], out["plain"]),
    }


def sig(seconds: float) -> float:
    return float(f"{seconds:.4g}")


def fmt(x: float) -> float | str:
    """A float for the JSON: 6 significant digits, inf as a string."""
    return float(f"{x:.6g}") if np.isfinite(x) else str(x)


def line(c: dict) -> str:
    return (
        f"{c['problem']:>13} B={c['batch_size']:<5} {len(c['lrs_over_lr_unit'])} lrs × "
        f"{c['members'] // len(c['lrs_over_lr_unit'])} seeds, {c['steps_run'][0]} steps: "
        f"engine {c['engine_seconds']:.2f} s, plain {c['plain_seconds']:.2f} s, "
        f"ratio {c['ratio_engine_to_plain']:.2f}; fewest steps {c['fewest_steps']} "
        f"{'agree' if c['fewest_steps_agree'] else 'DIFFER'}, (δ, lr, seed) cells differing "
        f"{c['cells_differing']} of {c['cells']}"
    )


def one_blas_thread():
    """BLAS limited to one thread (threadpoolctl, which scikit-learn brings), and the limit in force.

    Both paths then time one core's work; and on a loaded machine OpenBLAS's threads make a GEMM
    the size of the plain loop's (8 × 5 × 30 by 30 × 4096) a hundred times slower.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext(), "not limited (no threadpoolctl)"
    return threadpool_limits(limits=1, user_api="blas"), 1


def warm_up(cfg) -> None:
    """A few steps of both paths, untimed, so that no cell pays for first calls (caches, imports)."""
    problem = problems.by_name(cfg["problems"][0])
    targets = [(1.0 + delta) * problem.optimal_loss for delta in cfg["deltas"]]
    args = (problem, cfg["batch_sizes"][0], [problem.lr_unit / 64], list(cfg["seeds"])[:2], targets)
    ensemble.train_pass(*args, 3, cfg["diverge_loss"], cfg["init"])
    plain_pass(*args, 3, cfg["diverge_loss"], cfg["init"])


def run(cfg) -> dict:
    """Every cell of the grid, interleaved, and the totals."""
    cells = []
    limit, blas_threads = one_blas_thread()
    with limit:
        warm_up(cfg)
        for problem_name in cfg["problems"]:
            problem = problems.by_name(problem_name)
            for B in cfg["batch_sizes"]:
                cells.append(run_cell(problem, B, cfg, engine_first=len(cells) % 2 == 0))
                print(line(cells[-1]), flush=True)
    engine = sum(c["engine_seconds"] for c in cells)
    plain = sum(c["plain_seconds"] for c in cells)
    return {
        "grid": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
        "engine_seconds": round(engine, 2),
        "plain_seconds": round(plain, 2),
        "ratio_engine_to_plain": round(engine / plain, 3),
        "median_cell_ratio": round(float(np.median([c["ratio_engine_to_plain"] for c in cells])), 3),
        "coarse_seconds": round(sum(c["coarse_seconds"] for c in cells), 2),
        "cells_with_same_fewest_steps": f"{sum(c['fewest_steps_agree'] for c in cells)}/{len(cells)}",
        "passages_differing": f"{sum(c['cells_differing'] for c in cells)}/{sum(c['cells'] for c in cells)}",
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "cpus": os.cpu_count(),
            "blas_threads": blas_threads,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "platform": platform.platform(),
        },
        "cells": cells,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.critical", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="a small grid (smoke test; writes no JSON)")
    parser.add_argument("--json", type=Path, default=None, help=f"default (full grid): {DEFAULT_JSON}")
    args = parser.parse_args(argv)
    result = run(QUICK if args.quick else full_grid())
    print(json.dumps({k: v for k, v in result.items() if k not in ("grid", "cells")}, indent=2))
    path = args.json or (None if args.quick else DEFAULT_JSON)
    if path is not None:  # a smoke test must not overwrite the committed full results
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    differ = [f"{c['problem']} B={c['batch_size']}" for c in result["cells"] if not c["fewest_steps_agree"]]
    if differ:
        print(f"the engine and the plain loop disagree on the fewest steps in {', '.join(differ)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
