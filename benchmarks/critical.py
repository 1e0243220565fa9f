"""Time the critical-batch sweep: the engine ensemble against an independent hand-fused NumPy loop.

``python -m benchmarks.critical [--quick] [--json PATH]``. Both run the same grid (ρ × B, the lr
grid × seeds as one ensemble, every δ) in one process, interleaved per (ρ, B), and must find the
same steps. The plain version shares no code with the library: its own population, quadrature,
data stream (the same recipe, so the same numbers) and update.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

from batchgraph.core.config import LrGrid
from batchgraph.critical import population
from batchgraph.critical.ensemble import train_ensemble

FULL = {
    "rhos": (0.0, 0.9, 0.99),
    "batch_sizes": tuple(2**i for i in range(14)),
    "lr_grid": (2.0**-6, 8.0, 2),
    "seeds": tuple(range(16)),
    "deltas": (0.1, 0.05, 0.02, 0.01),
    "max_steps": 50_000,
    "diverge_loss": 10.0,
}
QUICK = FULL | {"rhos": (0.9,), "batch_sizes": (1, 16, 256, 4096), "seeds": tuple(range(4))}
DEFAULT_JSON = Path("benchmarks/results/critical.json")


def plain_sweep(rho, B, lrs, seeds, deltas, max_steps, diverge_loss):
    """Steps (n_delta, n_lr) to each L* + δ, written as one fused NumPy loop."""
    means = np.array([[1.0, 2.0], [1.0, -2.0]])
    cov = np.array([[1.0, rho], [rho, 1.0]]) / (1.0 - rho * rho)
    chol = np.linalg.cholesky(cov)
    t_nodes, q = np.polynomial.hermite_e.hermegauss(48)
    q = q / np.sqrt(2 * np.pi)

    def softplus(z):
        return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))

    def pop_loss(W, b):  # W (M, 2), b (M,): ½ Σ_c E softplus(±(wᵀx + b)), x ~ N(μ_c, C)
        sd = np.sqrt(np.einsum("mi,ij,mj->m", W, cov, W))
        m = W @ means.T + b[:, None]
        z0 = m[:, 0, None] + sd[:, None] * t_nodes
        z1 = -(m[:, 1, None] + sd[:, None] * t_nodes)
        return 0.5 * (softplus(z0) @ q + softplus(z1) @ q)

    inv = np.linalg.inv(cov)
    w_star = inv @ (means[1] - means[0])
    b_star = -0.5 * (means[1] @ inv @ means[1] - means[0] @ inv @ means[0])
    tt, qq = np.polynomial.hermite_e.hermegauss(200)
    sd, m = np.sqrt(w_star @ cov @ w_star), means @ w_star + b_star
    loss_star = 0.5 * (softplus(m[0] + sd * tt) + softplus(-(m[1] + sd * tt))) @ qq / np.sqrt(2 * np.pi)
    targets = loss_star + np.asarray(deltas)

    n_s, n_l = len(seeds), len(lrs)
    W, b = np.zeros((n_s, n_l, 2)), np.zeros((n_s, n_l))
    lr = np.repeat(np.asarray(lrs)[None], n_s, axis=0)
    cols = np.arange(n_l)
    steps = np.full((len(deltas), n_l), np.nan)
    rngs = [[np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)] for seed in seeds]
    per_chunk, k = max(1, 8192 // B), None

    def record(t):
        nonlocal W, b, lr, cols
        losses = pop_loss(W.reshape(-1, 2), b.reshape(-1)).reshape(n_s, len(cols))
        dead = np.isnan(losses).any(axis=0) | (losses > diverge_loss).any(axis=0)
        mean = np.where(dead, np.inf, losses.mean(axis=0))
        for j, target in enumerate(targets):
            new = (mean <= target) & np.isnan(steps[j, cols])
            steps[j, cols[new]] = t
        if dead.any():
            W, b, lr, cols = W[:, ~dead], b[:, ~dead], lr[:, ~dead], cols[~dead]

    record(0)
    t = 0
    while t < max_steps and len(cols) and not (~np.isnan(steps)).any(axis=1).all():
        if k is None or k == per_chunk:
            y_all = np.stack([r[0].random(per_chunk * B) < 0.5 for r in rngs]).astype(np.float64)
            noise = np.stack([r[1].standard_normal((per_chunk * B, 2)) for r in rngs])
            x_all = means[y_all.astype(np.intp)] + noise @ chol.T
            x_all = x_all.reshape(n_s, per_chunk, B, 2)
            y_all = y_all.reshape(n_s, per_chunk, B)
            k = 0
        x, y = x_all[:, k], y_all[:, k]
        k += 1
        t += 1
        z = np.einsum("sbd,sld->slb", x, W) + b[:, :, None]  # (S, L, B)
        r = (np.exp(np.minimum(z, 0.0)) / (1.0 + np.exp(-np.abs(z))) - y[:, None, :]) / B  # dL/dz
        W -= lr[:, :, None] * np.einsum("slb,sbd->sld", r, x)
        b -= lr * r.sum(axis=2)
        record(t)
    return steps


def run(cfg) -> dict:
    lrs = LrGrid(**dict(zip(("start", "stop", "per_octave"), cfg["lr_grid"]))).values()
    times = {"engine": 0.0, "plain": 0.0}
    same, total, differing_cells = 0, 0, 0
    for rho in cfg["rhos"]:
        pop = population.correlated(rho)
        targets = population.optimal_loss(pop) + np.asarray(cfg["deltas"])
        for B in cfg["batch_sizes"]:
            t0 = time.perf_counter()
            engine = train_ensemble(
                pop, B, lrs, cfg["seeds"], targets, cfg["max_steps"], cfg["diverge_loss"]
            ).steps
            t1 = time.perf_counter()
            plain = plain_sweep(
                rho, B, lrs, cfg["seeds"], cfg["deltas"], cfg["max_steps"], cfg["diverge_loss"]
            )
            t2 = time.perf_counter()
            times["engine"] += t1 - t0
            times["plain"] += t2 - t1
            # Fewest steps over lr must agree; an lr at the edge of divergence is chaotic, so
            # rounding differences may move its own crossing.
            agree = np.array_equal(np.nanmin(engine, axis=1), np.nanmin(plain, axis=1), equal_nan=True)
            cells = int((~((engine == plain) | (np.isnan(engine) & np.isnan(plain)))).sum())
            same += agree
            differing_cells += cells
            total += 1
            print(
                f"rho={rho} B={B}: engine {t1 - t0:.2f} s, plain {t2 - t1:.2f} s, "
                f"same fewest steps: {agree}, (δ, lr) cells differing: {cells} of {engine.size}",
                flush=True,
            )
    return {
        "grid": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
        "n_lr": len(lrs),
        "engine_seconds": round(times["engine"], 2),
        "plain_seconds": round(times["plain"], 2),
        "ratio_engine_to_plain": round(times["engine"] / times["plain"], 3),
        "runs_with_identical_fewest_steps": f"{same}/{total}",
        "per_lr_cells_differing": differing_cells,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": {"python": sys.version.split()[0], "numpy": np.__version__, "cpus": os.cpu_count(),
                    "platform": platform.platform()},
    }  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.critical", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small grid (smoke test; writes no JSON)")
    parser.add_argument("--json", type=Path, default=None, help=f"default (full grid): {DEFAULT_JSON}")
    args = parser.parse_args(argv)
    result = run(QUICK if args.quick else FULL)
    print(json.dumps({k: v for k, v in result.items() if k != "grid"}, indent=2))
    path = args.json or (None if args.quick else DEFAULT_JSON)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
