"""Every op against central finite differences in float64, single-sample, batched and ensembled."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from batchgraph import BCE, Add, Graph, Input, Linear, Multiply, Parameter, Sigmoid
from batchgraph.engine.nodes import EPS, unbroadcast
from conftest import check_grads


def r(rng, *shape):
    return rng.normal(size=shape)


def probs(rng, *shape):
    return rng.uniform(0.05, 0.95, size=shape)


def labels(rng, *shape):
    return rng.integers(0, 2, size=shape).astype(float)


def test_multiply(rng):
    check_grads(Multiply, r(rng, 4, 3), r(rng, 4, 3))


def test_multiply_broadcasts(rng):
    check_grads(Multiply, r(rng, 5, 1), r(rng, 3))
    check_grads(Multiply, r(rng, 2, 5, 1), r(rng, 2, 1, 1))


def test_add(rng):
    check_grads(Add, r(rng, 4, 3), r(rng, 4, 3))


def test_add_broadcasts(rng):
    check_grads(Add, r(rng, 6, 3), r(rng, 3))
    check_grads(Add, r(rng, 2, 6, 1), r(rng, 2, 1, 1))


def test_linear_single_sample(rng):
    check_grads(Linear, r(rng, 2), r(rng, 3, 2), r(rng, 3))


def test_linear_batch(rng):
    check_grads(Linear, r(rng, 7, 2), r(rng, 3, 2), r(rng, 3))


def test_linear_ensemble(rng):
    check_grads(Linear, r(rng, 4, 7, 2), r(rng, 4, 3, 2), r(rng, 4, 3))


def test_sigmoid(rng):
    check_grads(Sigmoid, r(rng, 5, 2) * 3)


def test_bce(rng):
    check_grads(BCE, labels(rng, 6, 1), probs(rng, 6, 1))


def test_bce_broadcasts(rng):
    """One prediction against many labels, and one label against many predictions."""
    check_grads(BCE, labels(rng, 6, 1), probs(rng, 1))
    check_grads(BCE, labels(rng, 1), probs(rng, 6, 1))


def test_bce_per_model(rng):
    check_grads(lambda y, p: BCE(y, p, per_model=True), labels(rng, 3, 6, 1), probs(rng, 3, 6, 1))


def test_logistic_regression_chain(rng):
    """The whole model as one composite op: BCE(y, σ(Linear(x, A, b)))."""

    def model(x, A, b, y):
        return BCE(y, Sigmoid(Linear(x, A, b)))

    check_grads(model, r(rng, 8, 2), r(rng, 1, 2), r(rng, 1), labels(rng, 8, 1))


def test_fan_out_reused_node(rng):
    """x feeds three ops; its gradient is the sum of all three paths."""

    def op(x, w):
        h = Multiply(x, w)
        return Add(Multiply(h, h), Sigmoid(Add(h, x)))

    check_grads(op, r(rng, 4, 3), r(rng, 4, 3))


def test_linear_matches_course_mock():
    """Task 1 of the course report: its mock data and the values it printed."""
    x, A, b = Input([1.0, 2.0]), Parameter([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]), Parameter([0.1, 0.2, 0.3])
    graph = Graph(Linear(x, A, b))
    np.testing.assert_allclose(graph.forward(), [0.6, 1.3, 2.0])
    graph.backward([0.5, -0.5, 1.0])
    np.testing.assert_allclose(A.grad, [[0.5, 1.0], [-0.5, -1.0], [1.0, 2.0]])
    np.testing.assert_allclose(b.grad, [0.5, -0.5, 1.0])
    np.testing.assert_allclose(x.grad, [0.4, 0.5])


def test_linear_batch_rows_equal_single_samples(rng):
    X, A, b = r(rng, 5, 2), r(rng, 3, 2), r(rng, 3)
    batch = Graph(Linear(Input(X), Parameter(A), Parameter(b))).forward()
    for i in range(5):
        single = Graph(Linear(Input(X[i]), Parameter(A), Parameter(b))).forward()
        np.testing.assert_allclose(batch[i], single, rtol=0, atol=1e-15)


def test_batch_of_k_copies_gives_k_times_the_gradient(rng):
    """With a summed loss, k identical rows contribute k times one row's gradient."""
    x, A0, b0 = r(rng, 2), r(rng, 1, 2), r(rng, 1)

    def grads(X):
        A, b = Parameter(A0), Parameter(b0)
        out = Sigmoid(Linear(Input(X), A, b))
        g = Graph(out)
        g.forward()
        g.backward()  # seeds ones: the gradient of the sum over the batch
        return A.grad, b.grad

    A1, b1 = grads(x[None, :])
    for k in (2, 5):
        Ak, bk = grads(np.repeat(x[None, :], k, axis=0))
        np.testing.assert_allclose(Ak, k * A1, rtol=1e-14)
        np.testing.assert_allclose(bk, k * b1, rtol=1e-14)


@pytest.mark.parametrize("z", [-1e4, -800.0, -40.0, 0.0, 40.0, 800.0, 1e4])
def test_sigmoid_extremes_are_finite_without_warnings(z):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = Input(np.array([z]))
        s = Sigmoid(x)
        g = Graph(s)
        value = g.forward()
        g.backward()
    assert np.all(np.isfinite(value)) and 0.0 <= value[0] <= 1.0
    assert np.isfinite(x.grad).all()


def test_bce_at_exact_zero_and_one_is_finite_without_warnings():
    y = Input(np.array([1.0, 0.0, 1.0, 0.0]))
    p = Input(np.array([0.0, 1.0, 1.0, 0.0]))
    g = Graph(BCE(y, p))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = g.forward()
        g.backward()
    # two confident mistakes cost -log(EPS) each (p clipped to EPS, or 1 - p to 1 - (1 - EPS)),
    # two confident hits almost nothing: the mean of the four
    q = np.array([EPS, 1 - EPS, 1 - EPS, EPS])
    t = y.value
    assert loss == -np.mean(t * np.log(q) + (1 - t) * np.log1p(-q))
    assert loss == pytest.approx(-np.log(EPS) / 2, rel=1e-4)  # 1 - (1 - EPS) rounds to 1.11 EPS
    # every prediction is outside the clip range, where the loss is flat in p
    assert p.grad.tolist() == [0.0, 0.0, 0.0, 0.0]
    np.testing.assert_allclose(y.grad, (np.log1p(-q) - np.log(q)) / 4, rtol=1e-15)


def test_bce_is_the_mean_over_elements(rng):
    y, p = labels(rng, 6, 1), probs(rng, 6, 1)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert Graph(BCE(Input(y), Input(p))).forward() == pytest.approx(expected, rel=1e-14)


def test_bce_value_is_bit_identical_to_clip_and_mean(rng):
    """The forward pass spells np.clip and .mean as ufuncs; the numbers must not move."""
    y, p = labels(rng, 4, 9, 1), probs(rng, 4, 9, 1)
    p[0, 0, 0], p[1, 2, 0] = 0.0, 1.0
    q = np.clip(p, EPS, 1 - EPS)
    terms = y * np.log(q) + (1.0 - y) * np.log1p(-q)
    assert Graph(BCE(Input(y), Input(p))).forward() == -terms.mean()
    per_model = Graph(BCE(Input(y), Input(p), per_model=True)).forward()
    np.testing.assert_array_equal(per_model, -terms.reshape(4, -1).mean(axis=1))


def test_bce_gradient_is_zero_where_the_prediction_is_clipped(rng):
    y, p = labels(rng, 6, 1), probs(rng, 6, 1)
    p[1, 0], p[4, 0] = 0.0, 1.0
    yn, pn = Input(y), Input(p)
    g = Graph(BCE(yn, pn))
    g.forward()
    g.backward()
    inside = np.ones(6, dtype=bool)
    inside[[1, 4]] = False
    assert (pn.grad[~inside] == 0).all()
    q = p[inside]
    np.testing.assert_allclose(pn.grad[inside], (q - y[inside]) / (q * (1 - q)) / 6, rtol=1e-14)
    assert yn.grad.shape == y.shape and np.isfinite(yn.grad).all()


def test_sigmoid_matches_the_where_form_bit_for_bit(rng):
    z = np.concatenate(
        [rng.normal(size=2000) * s for s in (1e-8, 1.0, 30.0, 700.0)] + [[0.0, -0.0, 1e4, -1e4]]
    )
    e = np.exp(-np.abs(z))
    np.testing.assert_array_equal(Graph(Sigmoid(Input(z))).forward(), np.where(z >= 0, 1.0, e) / (1.0 + e))


@pytest.mark.parametrize("batch", [1, 200])
def test_linear_input_gradient_one_output_short_and_long_batch(rng, batch):
    """A single output unit takes the outer-product path for long batches: same dx as matmul."""
    check_grads(Linear, r(rng, 3, batch, 2), r(rng, 3, 1, 2), r(rng, 3, 1), leaf=Input, rtol=1e-5)
    x, A, b = Input(r(rng, 2, batch, 3)), Parameter(r(rng, 2, 1, 3)), Parameter(r(rng, 2, 1))
    g = Graph(Linear(x, A, b))
    g.forward()
    seed = r(rng, 2, batch, 1)
    g.backward(seed)
    np.testing.assert_array_equal(x.grad, np.matmul(seed, A.value))


def test_unbroadcast_sums_leading_and_stretched_axes(rng):
    g = r(rng, 2, 3, 4, 5)
    np.testing.assert_allclose(unbroadcast(g, (3, 1, 5)), g.sum(axis=0).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(unbroadcast(g, (4, 1)), g.sum(axis=(0, 1)).sum(axis=1, keepdims=True))
    assert unbroadcast(g, g.shape) is g
    assert unbroadcast(g, ()).shape == () and unbroadcast(g, ()) == pytest.approx(g.sum())


def _bce_of(p, y=None, leaf=Input):
    p = np.asarray(p, dtype=float)
    y = np.zeros_like(p) if y is None else np.asarray(y, dtype=float)
    return Graph(BCE(Input(y), leaf(p)))


BAD_PREDICTIONS = [
    ("above 1", [0.5, 1.5], Input, "got 1.5 (1 such of 2; they span [0.5, 1.5])"),
    ("below 0", [-0.25, 0.5], Input, "got -0.25 (1 such of 2; they span [-0.25, 0.5])"),
    ("logits instead of probabilities", [[2.3], [-1.2], [0.4]], Input, "got 2.3 (2 such of 3"),
    ("just past the tolerance", [1.0 + 1e-9], Input, "got 1.000000001"),
    ("nan", [0.5, np.nan], Input, "got nan (1 such of 2; they span [0.5, 0.5] and 1 NaN)"),
    ("all nan", [np.nan], Input, "got nan (1 such of 1; they span nothing and 1 NaN)"),
    ("a Parameter above 1", [2.0, 0.5], Parameter, "BCE: its predictions (Parameter(shape=(2,)))"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("p", "leaf", "message"), [c[1:] for c in BAD_PREDICTIONS], ids=[c[0] for c in BAD_PREDICTIONS]
)
def test_bce_refuses_predictions_outside_0_1_naming_the_node_and_range(p, leaf, message):
    """Clipped, such predictions gave a finite loss and a zero gradient: training stalled silently."""
    with pytest.raises(
        ValueError, match=r"^BCE: its predictions \(.*\) must be probabilities in \[0, 1\]"
    ) as info:
        _bce_of(p, leaf=leaf).forward()
    assert message in str(info.value)


def test_bce_refuses_predictions_outside_0_1_on_a_later_feed_too():
    y, p = Input(), Input()
    g = Graph(BCE(y, p))
    g.forward({y: np.array([0.0, 1.0]), p: np.array([0.2, 0.9])})
    with pytest.raises(ValueError, match=r"got 3\.0"):
        g.forward({y: np.array([0.0, 1.0]), p: np.array([0.2, 3.0])})


@pytest.mark.parametrize(
    ("y", "message"),
    [([0.0, 2.0], "got 2.0"), ([-1.0, 1.0], "got -1.0"), ([np.nan, 1.0], "got nan")],
    ids=["2", "-1", "nan"],
)
def test_bce_refuses_labels_outside_0_1_behind_a_sigmoid_too(y, message):
    """The labels check does not depend on where the predictions come from."""
    g = Graph(BCE(Input(np.array(y)), Sigmoid(Input(np.zeros(2)))))
    with pytest.raises(ValueError, match=r"BCE: labels must be in \[0, 1\]") as info:
        g.forward()
    assert message in str(info.value)


def test_bce_clips_exact_0_and_1_and_overshoots_within_the_tolerance():
    p = Input(np.array([0.0, 1.0, 1.0 + 1e-13, -1e-13]))
    g = Graph(BCE(Input(np.array([1.0, 0.0, 1.0, 0.0])), p))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = g.forward()
        g.backward()
    assert np.isfinite(loss) and loss == pytest.approx(-np.log(EPS) / 2, rel=1e-3)
    assert p.grad.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_bce_of_a_diverged_sigmoid_is_a_nan_loss_not_an_error():
    """fit and the critical sweep record divergence from a NaN loss: a NaN logit must not raise."""
    g = Graph(BCE(Input(np.array([0.0, 1.0])), Sigmoid(Input(np.array([np.nan, 0.0])))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(g.forward())


@pytest.mark.parametrize("missing", ["labels", "predictions"])
def test_bce_with_an_input_that_has_no_value_says_so(missing):
    """np.asarray(None) is NaN: unfed predictions used to give a NaN loss, unfed labels a NaN label."""
    y, p = (Input(), Input(np.array([0.5]))) if missing == "labels" else (Input(np.array([1.0])), Input())
    with pytest.raises(ValueError, match=r"BCE: its input Input has no value; feed it to Graph\.forward"):
        Graph(BCE(y, p)).forward()
