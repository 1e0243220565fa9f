"""The logistic-regression graphs: one on a Linear node, one from per-feature Multiply and Add nodes.

Both carry a leading ensemble axis S: S independent models train in one pass, each on its own
batch rows, and the loss is each model's own mean (``BCE(per_model=True)``). Both keep their
weights in one canonical form, A (S, 1, d) and b (S, 1), whatever their graph.
"""

from __future__ import annotations

import numpy as np

from ..engine import BCE, Add, Graph, Input, Linear, Multiply, Parameter, Sigmoid


class LogisticModel:
    """p = σ(z) and its per-model BCE over a logit z that a subclass builds from its inputs.

    A subclass sets ``parameters`` and defines ``set_weights``, ``weights``, ``gradients`` (all in
    the canonical shapes) and ``_feed(X)``; feeding, losses and evaluation are shared.
    """

    def __init__(self, n_features: int, n_models: int, z):
        self.n_features = n_features
        self.n_models = n_models
        self.prob = Sigmoid(z)
        self.loss = BCE(self.y, self.prob, per_model=True)
        self.graph = Graph(self.loss)
        self._split = None

    def _canonical(self, A, b):
        A = np.asarray(A, dtype=np.float64).reshape(self.n_models, 1, self.n_features)
        return A, np.asarray(b, dtype=np.float64).reshape(self.n_models, 1)

    def set_batch(self, X, y) -> None:
        """Feed X (S, B, d) and y (S, B) without building a dict per update."""
        self._feed(X)
        self.y.value = y[:, :, None]

    def losses(self, X, y):
        """Each model's mean BCE on X (S, B, d) / y (S, B): shape (S,)."""
        self.set_batch(X, y)
        return self.graph.forward()

    def evaluate(self, X, y):
        """Losses (S,) and probabilities (S, N) on a split shared by every model: X (N, d), y (N,)."""
        # Training loops evaluate the same split after every update: broadcast it once.
        cached = self._split
        if cached is None or cached[0] is not X or cached[1] is not y:
            S = self.n_models
            cached = self._split = (X, y, np.broadcast_to(X, (S, *X.shape)), np.broadcast_to(y, (S, len(y))))
        self.set_batch(cached[2], cached[3])
        losses = self.graph.forward()
        return losses, self.prob.value[:, :, 0]


class LinearLogistic(LogisticModel):
    """z = Linear(x, A, b): the weights are the node's parameters, already canonical."""

    def __init__(self, n_features: int, n_models: int = 1):
        self.x, self.y = Input(), Input()
        self.A = Parameter(np.zeros((n_models, 1, n_features)))
        self.b = Parameter(np.zeros((n_models, 1)))
        self.parameters = [self.A, self.b]
        super().__init__(n_features, n_models, Linear(self.x, self.A, self.b))

    def set_weights(self, A, b) -> None:
        self.A.value[...], self.b.value[...] = self._canonical(A, b)

    def weights(self):
        """(A (S, 1, d), b (S, 1)) copies."""
        return self.A.value.copy(), self.b.value.copy()

    def gradients(self):
        """dL/dA (S, 1, d) and dL/db (S, 1) after a backward pass."""
        return self.A.grad, self.b.grad

    def _feed(self, X) -> None:
        self.x.value = X


class ScalarLogistic(LogisticModel):
    """The course's graph: z = x₁w₁ + x₂w₂ + … + w₀, one Multiply per feature and a chain of Adds."""

    def __init__(self, n_features: int, n_models: int = 1):
        self.xs = [Input() for _ in range(n_features)]
        self.y = Input()
        self.ws = [Parameter(np.zeros((n_models, 1, 1))) for _ in range(n_features)]
        self.w0 = Parameter(np.zeros((n_models, 1, 1)))
        self.parameters = [*self.ws, self.w0]
        z = Multiply(self.xs[0], self.ws[0])
        for x_j, w_j in zip(self.xs[1:], self.ws[1:]):
            z = Add(z, Multiply(x_j, w_j))
        super().__init__(n_features, n_models, Add(z, self.w0))

    def set_weights(self, A, b) -> None:
        A, b = self._canonical(A, b)
        for j, w_j in enumerate(self.ws):
            w_j.value[...] = A[:, :, j : j + 1]
        self.w0.value[...] = b[:, :, None]

    def weights(self):
        """(A (S, 1, d), b (S, 1)) assembled from the per-feature weights."""
        A = np.concatenate([w_j.value for w_j in self.ws], axis=2)
        return A, self.w0.value[:, :, 0].copy()

    def gradients(self):
        """dL/dA (S, 1, d) and dL/db (S, 1) assembled from the per-feature gradients."""
        A = np.concatenate([w_j.grad for w_j in self.ws], axis=2)
        return A, self.w0.grad[:, :, 0]

    def _feed(self, X) -> None:
        for j, x_j in enumerate(self.xs):
            x_j.value = X[:, :, j : j + 1]


GRAPHS = {"linear": LinearLogistic, "scalar": ScalarLogistic}


def logistic_regression(n_features: int, n_models: int = 1, graph: str = "linear") -> LogisticModel:
    """The model for ``model.graph``: ``linear`` (a Linear node) or ``scalar`` (Multiply and Add)."""
    if graph not in GRAPHS:
        raise ValueError(f"unknown model graph {graph!r}; allowed: {', '.join(GRAPHS)}")
    return GRAPHS[graph](n_features, n_models)
