"""Stochastic gradient descent."""

from __future__ import annotations

import numpy as np


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
