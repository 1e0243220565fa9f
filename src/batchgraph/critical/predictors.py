"""Predicted critical batch sizes from exact population quantities: the noise scales and the NQM floor.

- B_simple = tr Σ / |G|² and B_noise = tr(HΣ) / GᵀHG (McCandlish et al. 2018), read where the
  full-batch path from the initial weights crosses the target. Their B_crit ≈ B_noise assumes
  the noise-optimal step ε = ε_max / (1 + B_noise/B) at every update.
- B_nqm, for constant-lr SGD (the noisy quadratic model, Zhang et al. 2019): near the optimum,
  SGD with lr η on a quadratic with Hessian H and gradient noise Σ/B settles into a stationary
  covariance P with P = (I − ηH) P (I − ηH) + η² Σ / B. In H's eigenbasis (λ_i, Σ̃_ii = u_iᵀΣu_i)
  the diagonal gives P_ii = η Σ̃_ii / (B λ_i (2 − η λ_i)), so the excess loss ½ tr(HP) it
  leaves is the noise floor F(η, B) = (η / 2B) Σ_i Σ̃_ii / (2 − η λ_i). The best large-batch
  rate η∞ is capped near 2/λ_max by stability, not by noise; a batch small enough that
  F(η∞, B) > δ must use a smaller rate and more steps. So the knee is where F(η∞, B) = δ; in the
  small-η form F ≈ η tr Σ / (4B), B_nqm = η∞ tr Σ / (4δ).
"""

from __future__ import annotations

import numpy as np

# Full-batch paths per problem: from the first few seeds' initial weights (the median is used).
PATH_SEEDS = 4


def noise_scales(G, Sigma, H) -> tuple[float, float]:
    """B_simple = tr Σ / |G|²  and  B_noise = tr(HΣ) / (GᵀHG)  (McCandlish et al. 2018)."""
    return float(np.trace(Sigma) / (G @ G)), float(np.trace(H @ Sigma) / (G @ H @ G))


def full_batch_path(
    problem, w0, b0: float, loss_floor: float, step: str = "curvature", max_steps: int = 100_000
):
    """Exact gradient descent on the population loss from (w0, b0) until its loss is ≤ loss_floor.

    Rows per step: loss, B_simple, B_noise. ``step="curvature"``: 1/λ_max(H) each time, close to
    gradient flow, whose points the noise scales describe. ``step="optimal"``: ε_max = |G|²/GᵀHG,
    the B → ∞ limit of the noise-optimal step (McCandlish et al.'s full-batch path).
    """
    theta = np.append(np.asarray(w0, dtype=np.float64), b0)
    d = len(theta) - 1
    rows = []
    for _ in range(max_steps):
        G, Sigma, H = problem.gradient_stats(theta[:d], theta[d])
        value = float(problem.loss(theta[None, :d], theta[d:])[0])
        rows.append((value, *noise_scales(G, Sigma, H)))
        if value <= loss_floor:
            break
        eps = (G @ G) / (G @ H @ G) if step == "optimal" else 1.0 / np.linalg.eigvalsh(H)[-1]
        theta = theta - eps * G
    return np.array(rows)


def path_mean_b_noise(problem, inits, targets) -> np.ndarray:
    """(n_target,): B_noise averaged over the steps of the full-batch path with the step ε_max from
    each init to each target, the median over inits.

    With the noise-optimal step a batch of B makes 1/(1 + B_noise/B) of the full-batch progress per
    step (McCandlish et al., eq. 2.8), so the S_min steps of that path take Σ_t (1 + B_noise,t/B)
    steps at batch B: S = S_min(1 + ⟨B_noise⟩/B), B_crit = the path's mean B_noise.
    """
    W0, b0 = inits
    paths = [full_batch_path(problem, w, c, min(targets), step="optimal") for w, c in zip(W0, b0)]
    out = []
    for target in targets:
        means = []
        for p in paths:
            reached = np.nonzero(p[:, 0] <= target)[0]
            means.append(p[: reached[0], 2].mean() if len(reached) and reached[0] > 0 else np.nan)
        out.append(float(np.median(means)))
    return np.array(out)


def interpolate_at(path: np.ndarray, target: float) -> tuple[float, float]:
    """B_simple and B_noise where the path's (decreasing) loss first crosses ``target``, linear in loss."""
    losses = path[:, 0]
    below = np.nonzero(losses <= target)[0]
    if len(below) == 0:
        return float("nan"), float("nan")
    i = below[0]
    if i == 0:
        return float(path[0, 1]), float(path[0, 2])
    frac = (losses[i - 1] - target) / (losses[i - 1] - losses[i])
    out = path[i - 1, 1:] + frac * (path[i, 1:] - path[i - 1, 1:])
    return float(out[0]), float(out[1])


def noise_scales_at(problem, inits, targets) -> np.ndarray:
    """(n_target, 2): B_simple and B_noise where the full-batch paths from ``inits`` (W0 (k, d),
    b0 (k,)) cross each target, the median over the paths."""
    W0, b0 = inits
    floor = min(targets)
    paths = [full_batch_path(problem, w, c, floor) for w, c in zip(W0, b0)]
    values = np.array([[interpolate_at(p, t) for t in targets] for p in paths])  # (k, n_t, 2)
    return np.median(values, axis=0)


def b_nqm(problem, lr: float, excess: float) -> float:
    """η tr Σ* / (4·excess): the batch size at which the NQM noise floor at ``lr`` equals ``excess``.

    The small-η form of F(η, B) (module docstring): the exact one, with 2 − ηλ_i in the
    denominators, diverges for the measured large-batch rates, which sit at the stability edge
    ηλ_max ≈ 2, where the few steps a large batch needs never reach the stationary state.
    """
    if not np.isfinite(lr):
        return float("nan")
    _, Sigma, _ = problem.gradient_stats(*problem.optimum())
    return float(lr * np.trace(Sigma) / (4.0 * excess))
