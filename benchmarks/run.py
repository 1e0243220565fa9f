"""Time one SGD update of the engine against a hand-fused NumPy loop (and PyTorch when installed).

``python -m benchmarks.run [--quick] [--json PATH]``. Every variant starts from the same weights
and runs the same batches in one process; each is timed several times, interleaved, and the
median kept. The machine may be shared and noisy, so read the ratios to the hand-fused
reference rather than the absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from batchgraph import SGD
from batchgraph.core.data import batch_bounds, make_dataset
from batchgraph.engine.nodes import EPS
from batchgraph.study.models import logistic_regression
from batchgraph.study.train import init_weights

MEANS = [[1, 2], [1, -2]]
LR = 0.01
DEFAULT_JSON = Path("benchmarks/results/latest.json")

FULL = {
    "sizes": (150, 100_000),
    "batch_sizes": tuple(2**k for k in range(11)),
    "repeats": 21,
    "samples_per_repeat": 2048,
    "max_updates": 1000,
    "min_updates": 20,
    "ensemble_sizes": (1, 10, 100),
    "ensemble_updates": 500,
}
QUICK = {
    **FULL,
    "sizes": (150,),
    "batch_sizes": (1, 16, 128),
    "repeats": 2,
    "samples_per_repeat": 256,
    "max_updates": 150,
    "ensemble_sizes": (1, 10),
    "ensemble_updates": 150,
}


def blobs(n: int):
    """The first ``n`` training rows of the study's blobs; n = 150 is exactly the study's train split."""
    n_per_class = -(-2 * n // 3)
    while True:
        data = make_dataset(n_per_class, MEANS, 1.0, 0.25, seed=0)
        if len(data.X_train) >= n:
            return data.X_train[:n], data.y_train[:n]
        n_per_class += 1


def schedule(n: int, batch_size: int, cfg) -> list[tuple[int, int]]:
    """Contiguous batches in file order, cycled to a number of updates that keeps each repeat short."""
    bounds = batch_bounds(n, batch_size)
    count = max(cfg["min_updates"], min(cfg["max_updates"], cfg["samples_per_repeat"] // batch_size))
    return [bounds[i % len(bounds)] for i in range(count)]


# Each variant builds its state and returns (reset, loop, weights): reset() restores the initial
# weights A0 (1, d) / b0 (1,), loop() runs every batch of the schedule once (the timed part),
# weights() returns the current (A (1, d), b (1,)).


def engine(kind: str):
    def build(X, y, sched, A0, b0):
        model = logistic_regression(X.shape[1], 1, kind)
        sgd = SGD(model.parameters, LR)
        graph = model.graph
        X3, y2 = X[None], y[None]

        def loop():
            for start, stop in sched:  # as fit() drives it
                model.set_batch(X3[:, start:stop], y2[:, start:stop])
                graph.forward()
                graph.backward()
                sgd.step()

        def weights():
            A, b = model.weights()
            return A[0], b[0]

        return (lambda: model.set_weights(A0[None], b0[None])), loop, weights

    return build


def handfused(X, y, sched, A0, b0):
    """The same update written straight in NumPy: loss and gradient of BCE∘σ fused by hand."""
    A, b = A0.copy(), b0.copy()
    Y = y[:, None]

    def reset():
        A[...], b[...] = A0, b0

    def loop():
        nonlocal A, b  # updated in place
        for start, stop in sched:
            x, t = X[start:stop], Y[start:stop]
            z = x @ A.T + b
            e = np.exp(-np.abs(z))
            p = np.where(z >= 0, 1.0, e) / (1.0 + e)
            q = np.clip(p, EPS, 1.0 - EPS)
            loss = -np.mean(t * np.log(q) + (1.0 - t) * np.log1p(-q))  # noqa: F841 (computed, as fit needs it)
            g = (p - t) / len(x)  # dL/dz: (σ − y) / B
            A -= LR * (g.T @ x)
            b -= LR * g.sum(axis=0)

    return reset, loop, lambda: (A.copy(), b.copy())


def pytorch(X, y, sched, A0, b0):
    import torch

    torch.set_num_threads(1)
    linear = torch.nn.Linear(X.shape[1], 1, dtype=torch.float64)
    bce = torch.nn.BCELoss()
    opt = torch.optim.SGD(linear.parameters(), lr=LR)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(y[:, None].copy())

    def reset():
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(A0))
            linear.bias.copy_(torch.from_numpy(b0))

    def loop():
        for start, stop in sched:
            loss = bce(torch.sigmoid(linear(Xt[start:stop])), Yt[start:stop])
            opt.zero_grad()
            loss.backward()
            opt.step()

    def weights():
        return linear.weight.detach().numpy().copy(), linear.bias.detach().numpy().copy()

    return reset, loop, weights


def torch_version():
    try:
        import torch
    except ImportError:
        return None
    return torch.__version__


def variants(with_torch: bool):
    out = {"handfused": handfused, "linear": engine("linear"), "scalar": engine("scalar")}
    if with_torch:
        out["torch"] = pytorch
    return out


def time_variants(factories: dict, args, repeats: int):
    """Seconds of one loop() per variant over interleaved repeats, and the final weights."""
    built = {name: factory(*args) for name, factory in factories.items()}
    times = {name: [] for name in built}
    final = {}
    for _ in range(repeats):
        for name, (reset, loop, weights) in built.items():
            reset()
            t0 = time.perf_counter()
            loop()
            times[name].append(time.perf_counter() - t0)
            final[name] = weights()
    return times, final


def max_diff(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v)))) for u, v in zip(a, b))


def bench_updates(cfg, with_torch: bool):
    rows = []
    A0, b0 = init_weights(np.random.default_rng(0), 2, "normal", 0.1)
    for n in cfg["sizes"]:
        X, y = blobs(n)
        for B in (b for b in cfg["batch_sizes"] if b <= n):
            sched = schedule(n, B, cfg)
            samples = sum(stop - start for start, stop in sched)
            times, final = time_variants(variants(with_torch), (X, y, sched, A0, b0), cfg["repeats"])
            ref = statistics.median(times["handfused"])
            for name, ts in times.items():
                s = statistics.median(ts)
                rows.append(
                    {
                        "data_size": n,
                        "batch_size": B,
                        "variant": name,
                        "updates": len(sched),
                        "us_per_update": 1e6 * s / len(sched),
                        "samples_per_s": samples / s,
                        "ratio_to_handfused": s / ref,
                        "best_ratio_to_handfused": min(ts) / min(times["handfused"]),
                        "max_weight_diff": max_diff(final[name], final["handfused"]),
                    }
                )
    return rows


def ensemble_data(X, y, S: int):
    """Initial weights and one epoch's row order per seed, drawn as fit() draws them."""
    rngs = [np.random.default_rng(s) for s in range(S)]
    inits = [init_weights(rng, X.shape[1], "normal", 0.1) for rng in rngs]
    A0 = np.stack([a[0] for a, _ in inits])  # (S, d)
    b0 = np.stack([b for _, b in inits])[:, 0]  # (S,)
    order = np.stack([rng.permutation(len(X)) for rng in rngs])
    return A0, b0, X[order], y[order]


def ensemble_engine(A0, b0, Xe, ye, updates: int):
    S, N, d = Xe.shape
    model = logistic_regression(d, S)
    sgd = SGD(model.parameters, LR)
    graph = model.graph

    def loop():
        for i in range(updates):
            j = i % N
            model.set_batch(Xe[:, j : j + 1], ye[:, j : j + 1])
            graph.forward()
            graph.backward()
            sgd.step()

    def weights():
        A, b = model.weights()
        return A[:, 0], b[:, 0]

    return (lambda: model.set_weights(A0, b0)), loop, weights


def ensemble_handfused(A0, b0, Xe, ye, updates: int):
    """S models in one NumPy pass: each its own rows, its own mean loss and gradient."""
    N = Xe.shape[1]
    A, b = A0[:, None, :].copy(), b0[:, None].copy()  # (S, 1, d), (S, 1)

    def reset():
        A[:, 0], b[:, 0] = A0, b0

    def loop():
        nonlocal A, b  # updated in place
        for i in range(updates):
            j = i % N
            x, t = Xe[:, j : j + 1], ye[:, j : j + 1]  # (S, B, d), (S, B)
            z = np.matmul(A, x.swapaxes(1, 2))[:, 0] + b  # (S, B)
            e = np.exp(-np.abs(z))
            p = np.where(z >= 0, 1.0, e) / (1.0 + e)
            q = np.clip(p, EPS, 1.0 - EPS)
            loss = -np.mean(t * np.log(q) + (1.0 - t) * np.log1p(-q), axis=1)  # noqa: F841
            g = (p - t) / x.shape[1]
            A -= LR * np.matmul(g[:, None, :], x)
            b -= LR * g.sum(axis=1, keepdims=True)

    return reset, loop, lambda: (A[:, 0].copy(), b[:, 0].copy())


def bench_ensembles(cfg):
    X, y = blobs(150)
    rows = []
    for S in cfg["ensemble_sizes"]:
        args = (*ensemble_data(X, y, S), cfg["ensemble_updates"])
        factories = {"handfused": ensemble_handfused, "linear": ensemble_engine}
        times, final = time_variants(factories, args, cfg["repeats"])
        ref = statistics.median(times["handfused"])
        for name, ts in times.items():
            s = statistics.median(ts)
            per_update = 1e6 * s / cfg["ensemble_updates"]
            rows.append(
                {
                    "seeds": S,
                    "batch_size": 1,
                    "variant": name,
                    "updates": cfg["ensemble_updates"],
                    "us_per_update": per_update,
                    "us_per_model_update": per_update / S,
                    "ratio_to_handfused": s / ref,
                    "max_weight_diff": max_diff(final[name], final["handfused"]),
                }
            )
    for row in rows:
        one = next(r for r in rows if r["seeds"] == 1 and r["variant"] == row["variant"])
        row["ratio_to_one_seed"] = row["us_per_update"] / one["us_per_update"]
    return rows


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch_version(),
        "platform": platform.platform(),
    }


def run(cfg=FULL, with_torch: bool | None = None):
    """Every measurement as a dict: machine, settings, update rows and ensemble rows."""
    if with_torch is None:
        with_torch = torch_version() is not None
    return {
        "machine": machine(),
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
        "updates": bench_updates(cfg, with_torch),
        "ensembles": bench_ensembles(cfg),
    }


def markdown(results) -> str:
    rows = results["updates"]
    names = [v for v in ("linear", "scalar", "torch") if any(r["variant"] == v for r in rows)]
    head = ["N", "B", "hand-fused µs", *(f"{v} µs (×ref)" for v in names), "linear samples/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    cases = sorted({(r["data_size"], r["batch_size"]) for r in rows})
    for n, B in cases:
        by = {r["variant"]: r for r in rows if (r["data_size"], r["batch_size"]) == (n, B)}
        cells = [str(n), str(B), f"{by['handfused']['us_per_update']:.1f}"]
        cells += [f"{by[v]['us_per_update']:.1f} ({by[v]['ratio_to_handfused']:.2f})" for v in names]
        cells.append(f"{by['linear']['samples_per_s']:.3g}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| seeds S | engine µs/update | engine µs/model-update | engine ×(1 seed) "
        "| hand-fused µs/model-update | engine ×ref |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    ens = results["ensembles"]
    for S in sorted({r["seeds"] for r in ens}):
        eng = next(r for r in ens if r["seeds"] == S and r["variant"] == "linear")
        ref = next(r for r in ens if r["seeds"] == S and r["variant"] == "handfused")
        lines.append(
            f"| {S} | {eng['us_per_update']:.1f} | {eng['us_per_model_update']:.2f} "
            f"| {eng['ratio_to_one_seed']:.2f} | {ref['us_per_model_update']:.2f} "
            f"| {eng['ratio_to_handfused']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats on a small subset (smoke test)")
    parser.add_argument(
        "--json", type=Path, help=f"where to write (default {DEFAULT_JSON}; --quick writes none unless given)"
    )
    args = parser.parse_args(argv)
    results = run(QUICK if args.quick else FULL)
    m = results["machine"]
    print(f"{m['cpu']}, {m['cores']} cores; Python {m['python']}, NumPy {m['numpy']}, torch {m['torch']}")
    print()
    print(markdown(results))
    path = args.json or (None if args.quick else DEFAULT_JSON)
    if path is not None:  # a smoke test must not overwrite the committed full results
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(results, indent=1) + "\n")
        tmp.replace(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
