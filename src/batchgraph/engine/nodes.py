"""The operations: Multiply, Add, Linear, Sigmoid and BCE, each with its local chain rule."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .graph import Node


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting (d/dx of a broadcast is a sum)."""
    if grad.shape == shape:
        return grad
    leading, kept = _broadcast_axes(grad.shape, shape)
    if leading:
        grad = np.add.reduce(grad, axis=leading)
    if kept:
        grad = np.add.reduce(grad, axis=kept, keepdims=True)
    return grad.reshape(shape)


@lru_cache(maxsize=1024)
def _broadcast_axes(grad_shape, shape):
    """The axes broadcasting added in front, and those it stretched from 1 (worked out once per pair)."""
    extra = len(grad_shape) - len(shape)
    kept = tuple(i for i, n in enumerate(shape) if n == 1 and grad_shape[extra + i] != 1)
    return tuple(range(extra)), kept


class Multiply(Node):
    """a * b, elementwise with broadcasting.  d/da = g b,  d/db = g a."""

    __slots__ = ()

    def __init__(self, a: Node, b: Node):
        super().__init__(a, b)

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.inputs
        return unbroadcast(g * b.value, np.shape(a.value)), unbroadcast(g * a.value, np.shape(b.value))


class Add(Node):
    """a + b, elementwise with broadcasting.  d/da = g,  d/db = g."""

    __slots__ = ()

    def __init__(self, a: Node, b: Node):
        super().__init__(a, b)

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        a, b = self.inputs
        return unbroadcast(g, np.shape(a.value)), unbroadcast(g, np.shape(b.value))


class Linear(Node):
    """y = A x + b for one sample x (in,); y = x Aᵀ + b for a batch x (N, in).

    A is (out, in) and b (out,). A leading ensemble axis is allowed on all three:
    A (S, out, in), b (S, out), x (S, N, in) train S independent models in one pass.
    dA = gᵀ x,  db = Σ_batch g,  dx = g A.
    """

    __slots__ = ()

    def __init__(self, x: Node, A: Node, b: Node):
        super().__init__(x, A, b)

    def forward(self, x, A, b):
        if x.ndim == 1:
            return A @ x + b
        if A.ndim == 2:
            return x @ A.T + b
        return np.matmul(x, A.swapaxes(-1, -2)) + b[..., None, :]

    def backward(self, g):
        x_node, A, _ = self.inputs
        x, A = x_node.value, A.value
        if x.ndim == 1:
            return g @ A, np.outer(g, x), g
        if not x_node.needs_grad:  # data: dx is never read
            dx = None
        elif A.shape[-2] == 1 and g.shape[-2] >= 128:
            # One output: dx = g A is an outer product, which matmul computes slowly for a long
            # batch; (Aᵀ gᵀ)ᵀ as a broadcast product is the same numbers.
            dx = (A.swapaxes(-1, -2) * g.swapaxes(-1, -2)).swapaxes(-1, -2)
        else:
            dx = np.matmul(g, A)
        if A.ndim == 2:
            return dx, g.T @ x, np.add.reduce(g, axis=0)
        return dx, np.matmul(g.swapaxes(-1, -2), x), np.add.reduce(g, axis=-2)


def sigmoid(z):
    """σ(z) = 1 / (1 + e^-z), written as e^min(z, 0) / (1 + e^-|z|) so that no exponent overflows.

    For z ≥ 0 that is 1 / (1 + e^-z), for z < 0 it is e^z / (1 + e^z); no np.where needed.
    """
    return np.exp(np.minimum(z, 0.0)) / (1.0 + np.exp(-np.abs(z)))


class Sigmoid(Node):
    """σ(x).  dσ/dx = σ (1 − σ)."""

    __slots__ = ()

    def __init__(self, x: Node):
        super().__init__(x)

    def forward(self, x):
        return sigmoid(x)

    def backward(self, g):
        s = self.value
        return (g * s * (1.0 - s),)


# Predictions are clipped this far from 0 and 1 so the logs stay finite (PyTorch clamps at -100
# instead; log(1e-15) ≈ -34.5 keeps the loss in the same regime with a smooth gradient).
EPS = 1e-15
# How far past [0, 1] a prediction may stray (rounding elsewhere) and still be clipped, not refused.
PRED_TOL = 1e-12


def _binary(y) -> bool:
    """Every label exactly 0 or 1 (NaN is neither)."""
    return bool(np.logical_and.reduce((y == 0.0) | (y == 1.0), axis=None))


def _in_unit_interval(a) -> bool:
    # NaN fails both comparisons; a float64 array, else np.asarray(…) would cost a copy here.
    return bool(np.minimum.reduce(a, axis=None) >= 0.0 and np.maximum.reduce(a, axis=None) <= 1.0)


class BCE(Node):
    """Binary cross-entropy of probabilities, the mean over all elements.

    L = −mean(y log p + (1 − y) log(1 − p)),  dL/dp = (p − y) / (p (1 − p) n),
    dL/dy = (log(1 − p) − log p) / n.  With ``per_model=True`` the first axis indexes
    independent models and the value is each model's own mean (shape (S,)), so seeding
    the backward pass with ones gives every model the gradient of its own loss.
    ``per_model=k`` (an int) makes the first k axes the model index: shape (S, L) for k = 2.
    """

    __slots__ = ("_clipped", "_labels_ok", "_logs", "_n", "per_model")

    def __init__(self, y_true: Node, y_pred: Node, per_model: bool = False):
        super().__init__(y_true, y_pred)
        self.per_model = per_model
        self._labels_ok = (None, None, None)  # the last label arrays found in [0, 1]

    def _check_shapes(self, y, p):
        """Refuse labels that broadcast with the predictions into a bigger array (y (N,) against
        p (N, 1) is an (N, N) loss) and an empty batch; returns y and p as arrays."""
        if y is None or p is None:
            # Graph.forward turns this into "its input … has no value" (np.asarray(None) is NaN).
            raise TypeError("an input has no value")
        y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
        full = np.broadcast_shapes(y.shape, p.shape)
        if full != y.shape and full != p.shape:
            raise ValueError(
                f"BCE: labels of shape {y.shape} and predictions of shape {p.shape} broadcast to "
                f"{full}; give them the same shape"
            )
        if p.size == 0 or y.size == 0:
            raise ValueError(f"BCE: an empty batch (labels {y.shape}, predictions {p.shape})")
        return y, p

    def _check_labels(self, y, base) -> None:
        """Refuse labels outside [0, 1]. Labels change identity every update (a fresh view of the
        epoch's rows) but their base array does not: the last few bases that passed are kept,
        most recent first (an epoch's rows, the train and the test split alternate), and the
        view itself is checked only if its base holds other values too."""
        a, b, c = self._labels_ok
        if base is b:
            self._labels_ok = (b, a, c)
        elif base is c:
            self._labels_ok = (c, a, b)
        elif _in_unit_interval(base):
            self._labels_ok = (base, a, b)
        elif not _in_unit_interval(y):
            bad = y[~((y >= 0.0) & (y <= 1.0))]
            raise ValueError(
                f"BCE: labels must be in [0, 1], got {bad.flat[0]} ({bad.size} such of {y.size})"
            )

    def _refuse_predictions(self, p) -> None:
        """Raise for predictions outside [0, 1]: clipped, they would give a finite loss and a zero
        gradient, and training would stall with no sign that they are not probabilities."""
        bad = p[~((p >= -PRED_TOL) & (p <= 1.0 + PRED_TOL))]
        nan = np.isnan(p)
        numbers = p[~nan]
        span = f"[{numbers.min()}, {numbers.max()}]" if numbers.size else "nothing"
        if nan.any():
            span += f" and {np.count_nonzero(nan)} NaN"
        raise ValueError(
            f"BCE: its predictions ({self.inputs[1]!r}) must be probabilities in [0, 1], got "
            f"{bad.flat[0]} ({bad.size} such of {p.size}; they span {span})"
        )

    def forward(self, y, p):
        try:
            same = y.shape == p.shape and p.size
        except AttributeError:  # not arrays
            same = False
        if not same:
            y, p = self._check_shapes(y, p)
        # A Sigmoid's output is in [0, 1] or NaN, and a NaN there is a diverged logit whose NaN loss
        # training records as divergence: only other predictions pay the one min and one max.
        if type(self.inputs[1]) is not Sigmoid:
            lo, hi = np.minimum.reduce(p, axis=None), np.maximum.reduce(p, axis=None)
            if not (lo >= -PRED_TOL and hi <= 1.0 + PRED_TOL):  # NaN fails both
                self._refuse_predictions(p)
        base = y.base
        if type(base) is not np.ndarray:
            base = y
        if base is not self._labels_ok[0]:
            self._check_labels(y, base)
        # np.clip(p, EPS, 1 − EPS) and .mean(), spelled as the ufuncs they run (same bits), because
        # their Python wrappers cost more than the arithmetic on a small batch.
        p = np.minimum(np.maximum(p, EPS), 1.0 - EPS)
        self._clipped = p
        if _binary(y):  # y log p + (1 − y) log(1 − p) = log(p if y else 1 − p): one log, not two
            self._logs = None
            terms = np.log((1.0 - y) + p * (2.0 * y - 1.0))
        else:
            log_p, log_q = np.log(p), np.log1p(-p)
            self._logs = (log_p, log_q)
            terms = y * log_p + (1.0 - y) * log_q
        if self.per_model:
            terms = terms.reshape((*terms.shape[: int(self.per_model)], -1))
            self._n = terms.shape[-1]
            return -(np.add.reduce(terms, axis=-1) / self._n)
        self._n = terms.size
        return -(np.add.reduce(terms, axis=None) / self._n)

    def backward(self, g):
        y, p_raw = self.inputs[0].value, self.inputs[1].value
        p = self._clipped
        if self.per_model:
            g = np.reshape(g, np.shape(g) + (1,) * (p.ndim - np.ndim(g)))
        scale = g / self._n
        grad_p = scale * (p - y) / (p * (1.0 - p))
        # Outside the clip range the loss is flat in p, so its gradient is zero there.
        inside = p_raw == p
        if not np.logical_and.reduce(inside, axis=None):  # inside.all(), minus its wrapper
            grad_p = np.where(inside, grad_p, 0.0)
        if not self.inputs[0].needs_grad:  # labels: dL/dy is never read
            return None, unbroadcast(grad_p, np.shape(p_raw))
        log_p, log_q = self._logs if self._logs is not None else (np.log(p), np.log1p(-p))
        grad_y = scale * (log_q - log_p)
        if grad_y.shape != np.shape(y):  # y and p broadcast against each other
            full = np.broadcast_shapes(grad_y.shape, np.shape(y))
            grad_y = unbroadcast(np.broadcast_to(grad_y, full), np.shape(y))
            grad_p = np.broadcast_to(grad_p, np.broadcast_shapes(grad_p.shape, full))
        return grad_y, unbroadcast(grad_p, np.shape(p_raw))
