"""The shape of the train loss: its Hessian, its optimum (Newton's method), and the best single
full-batch step. These bound what any batch-size conclusion drawn at one fixed learning rate
can mean."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.data import Dataset
from ..engine.nodes import sigmoid
from ..study.train import init_ensemble


def _design(X) -> np.ndarray:
    return np.concatenate([X, np.ones((len(X), 1))], axis=1)


def _flat(A, b) -> np.ndarray:
    return np.concatenate([np.ravel(A), np.ravel(b)])


def train_loss(w, X, y) -> float:
    """Mean BCE of the weights w = [A, b] (d + 1,) on X (N, d) / y (N,), stable in the logit."""
    z = _design(X) @ w
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def loss_gradient(w, X, y) -> np.ndarray:
    """∇L(w) = mean over examples of (pᵢ − yᵢ)·[xᵢ, 1]."""
    Xt = _design(X)
    return Xt.T @ (sigmoid(Xt @ w) - y) / len(y)


def loss_hessian(w, X, y) -> np.ndarray:
    """∇²L(w) = mean over examples of pᵢ(1 − pᵢ)·[xᵢ, 1][xᵢ, 1]ᵀ."""
    Xt = _design(X)
    p = sigmoid(Xt @ w)
    return (Xt * (p * (1 - p))[:, None]).T @ Xt / len(y)


def sharpness(w, X, y) -> float:
    """λ_max of the Hessian: a gradient step longer than 2/λ_max overshoots along its direction."""
    return float(np.linalg.eigvalsh(loss_hessian(w, X, y))[-1])


def newton_optimum(X, y, w0=None, tol: float = 1e-13, max_iter: int = 100) -> np.ndarray:
    """The minimiser of the train loss by Newton's method (finite when the classes overlap)."""
    w = np.zeros(X.shape[1] + 1) if w0 is None else np.array(w0, dtype=float)
    for _ in range(max_iter):
        try:
            step = np.linalg.solve(loss_hessian(w, X, y), loss_gradient(w, X, y))
        except np.linalg.LinAlgError:  # separable classes: the weights run off to infinity
            break
        w = w - step
        if not np.all(np.isfinite(w)) or np.linalg.norm(step) < tol:
            break
    return w


# Step sizes the first full-batch step is tried at: 2^(k/32), 1/16 to 16, 2 % apart.
LINE_LRS = 2.0 ** (np.arange(-128, 129) / 32)


def best_first_step(w, X, y) -> tuple[float, float]:
    """(lr, loss): the lowest train loss one full-batch gradient step from w can reach, and its lr."""
    g = loss_gradient(w, X, y)
    losses = [train_loss(w - lr * g, X, y) for lr in LINE_LRS]
    i = int(np.argmin(losses))
    return float(LINE_LRS[i]), float(losses[i])


@dataclass(frozen=True)
class Landscape:
    """The train loss around the study's runs.

    Per seed's initial weights: ``sharpness_init`` holds λ_max, ``cosine_init`` the cosine between
    the first full-batch step −∇L and the straight line to the optimum, ``first_step_lr`` and
    ``first_step_loss`` the best that one full-batch step can do. ``optimum_loss`` is NaN when
    Newton's method finds no finite optimum (separable classes).
    """

    optimum_loss: float
    optimum_grad_norm: float
    task2_loss: float
    task2_grad_norm: float
    sharpness_init: tuple[float, ...]
    cosine_init: tuple[float, ...]
    first_step_lr: tuple[float, ...]
    first_step_loss: tuple[float, ...]


def landscape(data: Dataset, task2_weights, seeds, graph: str, init: str, init_std: float) -> Landscape:
    """Measure the train loss at its optimum, at the Task 2 weights and at the seeds' initial weights."""
    X, y = data.X_train, data.y_train
    w_star = newton_optimum(X, y)
    grad_star = float(np.linalg.norm(loss_gradient(w_star, X, y)))
    finite = bool(np.all(np.isfinite(w_star))) and grad_star < 1e-8
    w_task2 = _flat(*task2_weights)
    model, _ = init_ensemble(X.shape[1], seeds, graph, init, init_std)
    A, b = model.weights()
    starts = [_flat(A[s], b[s]) for s in range(len(A))]
    cosines = []
    for w in starts:
        step, line = -loss_gradient(w, X, y), w_star - w
        cosines.append(float(step @ line / (np.linalg.norm(step) * np.linalg.norm(line))))
    first = [best_first_step(w, X, y) for w in starts]
    nan = float("nan")
    # Ten significant digits, as in every table: LAPACK's last bits differ between CPUs, and a
    # figure or sentence drawn from them must not.
    r = np.vectorize(lambda x: float(f"{x:.10g}"), otypes=[float])
    return Landscape(
        optimum_loss=float(r(train_loss(w_star, X, y))) if finite else nan,
        optimum_grad_norm=grad_star if finite else nan,
        task2_loss=float(r(train_loss(w_task2, X, y))),
        task2_grad_norm=float(r(np.linalg.norm(loss_gradient(w_task2, X, y)))),
        sharpness_init=tuple(r([sharpness(w, X, y) for w in starts]).tolist()),
        cosine_init=tuple(r(cosines).tolist()) if finite else tuple(nan for _ in cosines),
        first_step_lr=tuple(r([lr for lr, _ in first]).tolist()),
        first_step_loss=tuple(r([loss for _, loss in first]).tolist()),
    )
