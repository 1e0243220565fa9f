"""Stochastic gradient descent and the rules that scale its learning rate with batch size."""

from __future__ import annotations

import math

import numpy as np

LR_SCALINGS = ("none", "linear", "sqrt", "inverse")


def scaled_lr(lr: float, batch_size: int, rule: str = "none", ref_batch: int = 1) -> float:
    """The learning rate for ``batch_size`` under ``rule``, relative to ``ref_batch``.

    ``none``: lr;  ``linear``: lr·B/ref (Goyal et al. 2017);  ``sqrt``: lr·√(B/ref);
    ``inverse``: lr·ref/B — what dividing the gradient by the batch size twice amounts to.
    """
    ratio = batch_size / ref_batch
    if rule == "none":
        return lr
    if rule == "linear":
        return lr * ratio
    if rule == "sqrt":
        return lr * math.sqrt(ratio)
    if rule == "inverse":
        return lr / ratio
    raise ValueError(f"unknown lr scaling {rule!r}; allowed: {', '.join(LR_SCALINGS)}")


def lr_grid(start: float, stop: float, per_octave: int) -> np.ndarray:
    """start·2^(i/per_octave) for i = 0, 1, … up to stop (both ends included when on the grid)."""
    n = int(np.floor(np.log2(stop / start) * per_octave + 1e-9)) + 1
    return start * 2.0 ** (np.arange(n) / per_octave)


class SGD:
    """Plain SGD: p ← p − lr · dL/dp, in place, for every parameter.

    ``lr`` is a float, or an array with one learning rate per ensemble member: its shape is the
    parameters' leading (ensemble) axes, e.g. (S,) or (S, L), and it broadcasts along them.
    """

    def __init__(self, parameters, lr):
        self.parameters = list(parameters)
        self.lr = lr

    def step(self):
        lr = self.lr
        if isinstance(lr, np.ndarray) and lr.ndim:
            for p in self.parameters:
                if p.grad is not None:
                    # (S, L) -> (S, L, 1, …): one rate per member, the same for all its entries.
                    p.value -= lr.reshape(lr.shape + (1,) * (p.value.ndim - lr.ndim)) * p.grad
            return
        for p in self.parameters:
            if p.grad is not None:
                p.value -= lr * p.grad

    def zero_grad(self):
        for p in self.parameters:
            p.grad = None
