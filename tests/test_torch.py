"""The same logistic-regression step in PyTorch (float64): losses and gradients agree.
Optional: skipped unless torch is installed (`pip install torch==2.13.0`)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from batchgraph import BCE, Graph, Input, Linear, Parameter, Sigmoid  # noqa: E402


@pytest.mark.parametrize("n", [1, 7, 64])
def test_linear_sigmoid_bce_match_pytorch(rng, n):
    X = rng.normal(size=(n, 3)) * 2
    y = rng.integers(0, 2, size=(n, 1)).astype(float)
    A0, b0 = rng.normal(size=(1, 3)), rng.normal(size=1)

    x, A, b = Input(X), Parameter(A0), Parameter(b0)
    graph = Graph(BCE(Input(y), Sigmoid(Linear(x, A, b))))
    loss = graph.forward()
    graph.backward()

    tX = torch.tensor(X, requires_grad=True)
    tA = torch.tensor(A0, requires_grad=True)
    tb = torch.tensor(b0, requires_grad=True)
    tloss = torch.nn.functional.binary_cross_entropy(torch.sigmoid(tX @ tA.T + tb), torch.tensor(y))
    tloss.backward()

    assert loss == pytest.approx(tloss.item(), rel=1e-12)
    np.testing.assert_allclose(A.grad, tA.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(x.grad, tX.grad.numpy(), rtol=1e-10, atol=1e-14)
