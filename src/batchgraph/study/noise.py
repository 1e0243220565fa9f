"""Gradient noise of the logistic model, exactly: per-example gradients, their covariance, and
McCandlish et al.'s simple noise scale B_simple = tr(Σ) / |G|²."""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..engine.nodes import sigmoid


def per_example_gradients(A, b, X, y):
    """dℓᵢ/d(w, w0) for every example: (pᵢ − yᵢ)·[xᵢ, 1]. A (S, 1, d), b (S, 1), X (N, d) -> (S, N, d+1)."""
    z = np.matmul(X, np.swapaxes(A, -1, -2))[..., 0] + b  # (S, N)
    residual = sigmoid(z) - y
    features = np.concatenate([X, np.ones((len(X), 1))], axis=1)  # (N, d+1)
    return residual[..., None] * features


def noise_stats(A, b, X, y):
    """|G|², tr(Σ) and B_simple for each model, Σ the covariance of per-example gradients over
    the N training points (normalised by N) and G their mean (the full-batch gradient)."""
    g = per_example_gradients(A, b, X, y)
    G = g.mean(axis=1)
    g_sq = np.sum(G * G, axis=-1)
    trace = np.mean(np.sum((g - G[:, None, :]) ** 2, axis=-1), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        b_simple = trace / g_sq
    return g_sq, trace, b_simple


def predicted_batch_variance(trace: float, N: int, B: int) -> float:
    """E|g_B − G|² for a batch of B drawn without replacement: tr(Σ)/B · (N − B)/(N − 1)."""
    return trace / B * (N - B) / (N - 1) if N > 1 else 0.0


def measured_batch_variance(g: np.ndarray, B: int, rng, samples: int = 2000, enumerate_up_to: int = 20_000):
    """Mean |g_B − G|² over batches of size B from the per-example gradients g (N, k).

    Every batch is enumerated when there are at most ``enumerate_up_to`` of them (then the value
    is exact up to round-off); otherwise ``samples`` batches are drawn, each without replacement.
    Returns (variance, its standard error, number of batches, enumerated?); the standard error
    is 0 when enumerated.
    """
    N = len(g)
    G = g.mean(axis=0)
    count = math.comb(N, B)
    if count <= enumerate_up_to:
        batches = np.array(list(itertools.combinations(range(N), B)), dtype=np.intp).reshape(count, B)
        enumerated = True
    else:
        batches = np.stack([rng.choice(N, size=B, replace=False) for _ in range(samples)])
        enumerated = False
    sq = np.sum((g[batches].mean(axis=1) - G) ** 2, axis=-1)
    stderr = 0.0 if enumerated else float(sq.std(ddof=1) / math.sqrt(len(sq)))
    return float(sq.mean()), stderr, len(batches), enumerated
