"""The logistic-regression graphs: one on a Linear node, one from per-feature Multiply and Add nodes.

Both carry a leading ensemble axis S: S independent models train in one pass, each on its own
batch rows, and the loss is each model's own mean (``BCE(per_model=True)``).
"""

from __future__ import annotations

import numpy as np

from ..engine import BCE, Add, Graph, Input, Linear, Multiply, Parameter, Sigmoid

GRAPHS = ("linear", "scalar")


class LogisticRegression:
    """p = σ(x · w + w0) as a graph. Canonical weights: A (S, 1, d) and b (S, 1)."""

    def __init__(self, n_features: int, n_models: int = 1, graph: str = "linear"):
        if graph not in GRAPHS:
            raise ValueError(f"unknown model graph {graph!r}; allowed: {', '.join(GRAPHS)}")
        self.kind = graph
        self.n_features = n_features
        self.n_models = n_models
        self.y = Input()
        S, d = n_models, n_features
        if graph == "linear":
            self.x = Input()
            self.A = Parameter(np.zeros((S, 1, d)))
            self.b = Parameter(np.zeros((S, 1)))
            z = Linear(self.x, self.A, self.b)
            self.parameters = [self.A, self.b]
        else:
            # The course's graph: x1*w1 + x2*w2 + ... + w0, one Multiply per feature.
            self.xs = [Input() for _ in range(d)]
            self.ws = [Parameter(np.zeros((S, 1, 1))) for _ in range(d)]
            self.w0 = Parameter(np.zeros((S, 1, 1)))
            z = Multiply(self.xs[0], self.ws[0])
            for x_j, w_j in zip(self.xs[1:], self.ws[1:]):
                z = Add(z, Multiply(x_j, w_j))
            z = Add(z, self.w0)
            self.parameters = [*self.ws, self.w0]
        self.prob = Sigmoid(z)
        self.loss = BCE(self.y, self.prob, per_model=True)
        self.graph = Graph(self.loss)
        self._split = None

    def set_weights(self, A, b) -> None:
        A = np.asarray(A, dtype=np.float64).reshape(self.n_models, 1, self.n_features)
        b = np.asarray(b, dtype=np.float64).reshape(self.n_models, 1)
        if self.kind == "linear":
            self.A.value[...] = A
            self.b.value[...] = b
        else:
            for j, w_j in enumerate(self.ws):
                w_j.value[...] = A[:, :, j : j + 1]
            self.w0.value[...] = b[:, :, None]

    def weights(self):
        """(A (S, 1, d), b (S, 1)) copies, whatever the graph."""
        if self.kind == "linear":
            return self.A.value.copy(), self.b.value.copy()
        A = np.concatenate([w_j.value for w_j in self.ws], axis=2)
        return A, self.w0.value[:, :, 0].copy()

    def gradients(self):
        """dL/dA (S, 1, d) and dL/db (S, 1) after a backward pass, whatever the graph."""
        if self.kind == "linear":
            return self.A.grad, self.b.grad
        A = np.concatenate([w_j.grad for w_j in self.ws], axis=2)
        return A, self.w0.grad[:, :, 0]

    def set_batch(self, X, y) -> None:
        """Feed X (S, B, d) and y (S, B) without building a dict per update."""
        if self.kind == "linear":
            self.x.value = X
        else:
            for j, x_j in enumerate(self.xs):
                x_j.value = X[:, :, j : j + 1]
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
