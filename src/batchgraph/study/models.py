"""The logistic-regression graphs: one on a Linear node, one from per-feature Multiply and Add nodes.

Both carry a leading ensemble axis S: S independent models train in one pass, each on its own
batch rows, and the loss is each model's own mean (``BCE(per_model=True)``). Both speak the
canonical weights A (S, 1, d) and b (S, 1), so training code never asks which graph it has.
"""

from __future__ import annotations

import numpy as np

from ..engine import BCE, Add, Graph, Input, Linear, Multiply, Parameter, Sigmoid


class LogisticRegression:
    """p = σ(x · w + w0) as a graph; subclasses build the logit z and map it to the canonical weights."""

    def __init__(self, n_features: int, n_models: int = 1):
        self.n_features = n_features
        self.n_models = n_models
        self.y = Input()
        self.prob = Sigmoid(self._logit())
        self.loss = BCE(self.y, self.prob, per_model=True)
        self.graph = Graph(self.loss)
        self._split = None

    def _logit(self):
        """Build the graph of z from its inputs and parameters; sets ``self.parameters``."""
        raise NotImplementedError

    def set_weights(self, A, b) -> None:
        """Load canonical weights A (S, 1, d) and b (S, 1) (anything that reshapes to them)."""
        raise NotImplementedError

    def weights(self):
        """(A (S, 1, d), b (S, 1)) copies."""
        raise NotImplementedError

    def gradients(self):
        """dL/dA (S, 1, d) and dL/db (S, 1) after a backward pass."""
        raise NotImplementedError

    def set_batch(self, X, y) -> None:
        """Feed X (S, B, d) and y (S, B) without building a dict per update."""
        self._set_features(X)
        self.y.value = y[:, :, None]

    def _set_features(self, X) -> None:
        raise NotImplementedError

    def _canonical(self, A, b):
        return (
            np.asarray(A, dtype=np.float64).reshape(self.n_models, 1, self.n_features),
            np.asarray(b, dtype=np.float64).reshape(self.n_models, 1),
        )

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


class LinearLogistic(LogisticRegression):
    """z = Linear(x, A, b): the graph of Task 1's Linear node."""

    def _logit(self):
        S, d = self.n_models, self.n_features
        self.x = Input()
        self.A = Parameter(np.zeros((S, 1, d)))
        self.b = Parameter(np.zeros((S, 1)))
        self.parameters = [self.A, self.b]
        return Linear(self.x, self.A, self.b)

    def set_weights(self, A, b) -> None:
        self.A.value[...], self.b.value[...] = self._canonical(A, b)

    def weights(self):
        return self.A.value.copy(), self.b.value.copy()

    def gradients(self):
        return self.A.grad, self.b.grad

    def _set_features(self, X) -> None:
        self.x.value = X


class ScalarLogistic(LogisticRegression):
    """z = x1·w1 + x2·w2 + … + w0, one Multiply per feature: the course code's graph."""

    def _logit(self):
        S, d = self.n_models, self.n_features
        self.xs = [Input() for _ in range(d)]
        self.ws = [Parameter(np.zeros((S, 1, 1))) for _ in range(d)]
        self.w0 = Parameter(np.zeros((S, 1, 1)))
        self.parameters = [*self.ws, self.w0]
        z = Multiply(self.xs[0], self.ws[0])
        for x_j, w_j in zip(self.xs[1:], self.ws[1:]):
            z = Add(z, Multiply(x_j, w_j))
        return Add(z, self.w0)

    def set_weights(self, A, b) -> None:
        A, b = self._canonical(A, b)
        for j, w_j in enumerate(self.ws):
            w_j.value[...] = A[:, :, j : j + 1]
        self.w0.value[...] = b[:, :, None]

    def weights(self):
        A = np.concatenate([w_j.value for w_j in self.ws], axis=2)
        return A, self.w0.value[:, :, 0].copy()

    def gradients(self):
        A = np.concatenate([w_j.grad for w_j in self.ws], axis=2)
        return A, self.w0.grad[:, :, 0]

    def _set_features(self, X) -> None:
        for j, x_j in enumerate(self.xs):
            x_j.value = X[:, :, j : j + 1]


GRAPHS = {"linear": LinearLogistic, "scalar": ScalarLogistic}


def logistic_regression(n_features: int, n_models: int = 1, graph: str = "linear") -> LogisticRegression:
    """The model with the ``model.graph`` named ``graph``: ``linear`` or ``scalar``."""
    if graph not in GRAPHS:
        raise ValueError(f"unknown model graph {graph!r}; allowed: {', '.join(GRAPHS)}")
    return GRAPHS[graph](n_features, n_models)
