"""Stochastic gradient descent and the rules that scale its learning rate with batch size."""

from __future__ import annotations

import math

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


class SGD:
    """Plain SGD: p ← p − lr · dL/dp, in place, for every parameter."""

    def __init__(self, parameters, lr: float):
        self.parameters = list(parameters)
        self.lr = lr

    def step(self):
        lr = self.lr
        for p in self.parameters:
            if p.grad is not None:
                p.value -= lr * p.grad

    def zero_grad(self):
        for p in self.parameters:
            p.grad = None
