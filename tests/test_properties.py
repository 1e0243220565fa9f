"""Property-based checks of the engine: random shapes and values, gradients against finite
differences, no NumPy warnings, finite outputs."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from batchgraph import BCE, Add, Graph, Input, Linear, Multiply, Sigmoid
from conftest import check_grads

dims = st.integers(min_value=1, max_value=4)
seeds = st.integers(min_value=0, max_value=2**32 - 1)
scales = st.sampled_from([1e-3, 1.0, 10.0])


def arrays(rng, shape, scale):
    return rng.normal(size=shape) * scale


@settings(max_examples=60, deadline=None)
@given(n=dims, fan_in=dims, fan_out=dims, ensemble=st.integers(0, 3), seed=seeds, scale=scales)
def test_linear_gradients_for_any_shape(n, fan_in, fan_out, ensemble, seed, scale):
    rng = np.random.default_rng(seed)
    lead = (ensemble,) if ensemble else ()
    x = arrays(rng, (*lead, n, fan_in), scale)
    A, b = arrays(rng, (*lead, fan_out, fan_in), scale), arrays(rng, (*lead, fan_out), scale)
    check_grads(Linear, x, A, b, rng=rng, rtol=1e-5, atol=1e-7 * scale**2)


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(dims, min_size=1, max_size=3), mask=st.lists(st.booleans(), min_size=3, max_size=3),
       seed=seeds)  # fmt: skip
def test_broadcasting_ops_for_any_shapes(shape, mask, seed):
    """b is a with some axes collapsed to 1 and leading axes dropped: every broadcast pattern."""
    rng = np.random.default_rng(seed)
    small = [1 if keep else n for n, keep in zip(shape, mask)]
    small = small[int(mask[0]) :] or [1]
    for op in (Add, Multiply):
        check_grads(op, rng.normal(size=shape), rng.normal(size=small), rng=rng)


@settings(max_examples=60, deadline=None)
@given(n=dims, seed=seeds, scale=st.sampled_from([0.1, 3.0, 30.0]))
def test_sigmoid_and_bce_for_any_values(n, seed, scale):
    rng = np.random.default_rng(seed)
    check_grads(Sigmoid, rng.normal(size=(n, 2)) * scale, rng=rng, rtol=1e-5, atol=1e-9)
    p = rng.uniform(0.02, 0.98, size=(n, 1))
    y = rng.integers(0, 2, size=(n, 1)).astype(float)
    check_grads(BCE, y, p, rng=rng, rtol=1e-5, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(z=st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=8), labels=st.lists(st.booleans(), min_size=8))
def test_the_model_stays_finite_and_silent_for_any_logits(z, labels):
    """σ then BCE on logits up to ±1e4: finite loss and gradients, and not one NumPy warning."""
    z = np.array(z)[:, None]
    y = np.array(labels[: len(z)], dtype=float)[:, None]
    x = Input(z)
    graph = Graph(BCE(Input(y), Sigmoid(x)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = graph.forward()
        graph.backward()
    assert np.isfinite(loss) and loss >= 0
    assert np.isfinite(x.grad).all()
