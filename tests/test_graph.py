"""Graph: topological order, forward feeding, backward seeding, fan-out sums, fresh gradients."""

from __future__ import annotations

import numpy as np
import pytest

from batchgraph import BCE, Add, Graph, Input, Linear, Multiply, Parameter, Sigmoid
from batchgraph.engine.graph import topological_order


def test_order_puts_every_node_after_its_inputs():
    x, w = Input(), Parameter(2.0)
    h = Multiply(x, w)
    out = Add(h, Sigmoid(h))
    nodes = Graph(out).nodes
    position = {id(n): i for i, n in enumerate(nodes)}
    assert len(nodes) == 5
    for node in nodes:
        assert all(position[id(parent)] < position[id(node)] for parent in node.inputs)
    assert nodes[-1] is out


def test_deep_chain_needs_no_recursion():
    x = Input(np.array(1.0))
    node = x
    for _ in range(20_000):
        node = Add(node, Parameter(0.0))
    graph = Graph(node)
    assert len(graph.nodes) == 40_001
    assert graph.forward() == 1.0
    graph.backward()
    assert x.grad == 1.0


def test_forward_feeds_inputs():
    x, w = Input(), Parameter(3.0)
    graph = Graph(Multiply(x, w))
    assert graph.forward({x: np.array([1.0, 2.0])}).tolist() == [3.0, 6.0]
    assert graph.forward({x: np.array([-1.0])}).tolist() == [-3.0]


def test_backward_seeds_one_for_a_scalar_and_fills_every_node():
    x, w = Input(np.array(2.0)), Parameter(5.0)
    out = Multiply(x, w)
    graph = Graph(out)
    graph.forward()
    graph.backward()
    assert out.grad == 1.0
    assert w.grad == 2.0 and x.grad == 5.0


def test_fan_out_gradients_sum():
    """y = x·x + x: dy/dx = 2x + 1 (the early-tinygrad bug overwrote instead of summing)."""
    x = Parameter(3.0)
    graph = Graph(Add(Multiply(x, x), x))
    graph.forward()
    graph.backward()
    assert x.grad == pytest.approx(7.0)


def test_gradients_are_fresh_on_every_backward():
    x = Parameter(3.0)
    graph = Graph(Multiply(x, x))
    graph.forward()
    graph.backward()
    graph.backward()
    assert x.grad == pytest.approx(6.0)


def test_backward_accepts_an_upstream_gradient():
    x = Parameter(np.array([1.0, 2.0]))
    graph = Graph(Multiply(x, x))
    graph.forward()
    graph.backward(np.array([1.0, -1.0]))
    np.testing.assert_allclose(x.grad, [2.0, -4.0])


def test_nodes_take_only_nodes():
    with pytest.raises(TypeError, match="takes nodes"):
        Add(Parameter(1.0), 2.0)


def test_fan_out_gradients_are_fresh_and_summed_on_every_backward():
    """The first edge into a node sets its gradient and later edges add: no carry-over between calls."""
    x, w = Input(), Parameter(2.0)
    h = Multiply(x, w)
    graph = Graph(Add(Multiply(h, h), Add(h, x)))  # h and x each feed two ops
    for value in (3.0, -1.0, 3.0):
        graph.forward({x: np.array(value)})
        graph.backward()
        h_value = 2.0 * value
        assert h.grad == pytest.approx(2 * h_value + 1)
        assert x.grad == pytest.approx((2 * h_value + 1) * 2.0 + 1)
        assert w.grad == pytest.approx((2 * h_value + 1) * value)


def test_every_node_gets_a_gradient_of_its_shape():
    x, w, c = Input(np.ones((4, 3))), Parameter(np.ones(3)), Parameter(0.5)
    graph = Graph(Sigmoid(Add(Multiply(x, w), c)))
    graph.forward()
    graph.backward()
    for node in graph.nodes:
        assert node.grad is not None and np.shape(node.grad) == np.shape(node.value)


def _cycle_through_self():
    a = Add(Input(np.array(1.0)), Input(np.array(2.0)))
    a.inputs = (a, a.inputs[1])
    return a


def _cycle_of_three():
    x = Input(np.array(1.0))
    a = Add(x, Parameter(1.0))
    b = Sigmoid(a)
    c = Multiply(b, x)
    a.inputs = (c, a.inputs[1])
    return Add(c, x)


def _linear(x_shape, A_shape):
    return Linear(Input(np.ones(x_shape)), Parameter(np.ones(A_shape)), Parameter(np.zeros(A_shape[0])))


def _bce(y, p):
    return BCE(Input(np.asarray(y, dtype=float)), Input(np.asarray(p, dtype=float)))


def _backward(seed):
    def run():
        g = Graph(_bce(np.zeros((3, 1)), np.full((3, 1), 0.5)))
        g.forward()
        g.backward(seed)

    return run


GARBAGE = [
    ("labels (N,) vs predictions (N, 1)", lambda: Graph(_bce(np.ones(5), np.full((5, 1), 0.5))).forward(),
     "BCE: labels of shape (5,) and predictions of shape (5, 1) broadcast to (5, 5)"),
    ("labels (N, 1) vs predictions (N,)", lambda: Graph(_bce(np.ones((4, 1)), np.full(4, 0.5))).forward(),
     "BCE: labels of shape (4, 1) and predictions of shape (4,) broadcast to (4, 4)"),
    ("label 2", lambda: Graph(_bce([0.0, 2.0], [0.5, 0.5])).forward(),
     "BCE: labels must be in [0, 1], got 2.0"),
    ("label -1", lambda: Graph(_bce([-1.0, 1.0], [0.5, 0.5])).forward(),
     "BCE: labels must be in [0, 1], got -1.0"),
    ("label nan", lambda: Graph(_bce([np.nan, 1.0], [0.5, 0.5])).forward(),
     "BCE: labels must be in [0, 1], got nan"),
    ("empty batch", lambda: Graph(_bce(np.zeros((0, 1)), np.zeros((0, 1)))).forward(),
     "BCE: an empty batch (labels (0, 1), predictions (0, 1))"),
    ("seed gradient shape", _backward(np.ones(3)),
     "the seed gradient of BCE must have the output's shape (), got (3,)"),
    ("seed gradient (N, 1)", _backward(np.ones((3, 1))), "must have the output's shape (), got (3, 1)"),
    ("backward before forward", lambda: Graph(_bce([0.0], [0.5])).backward(),
     "has no value: run forward before backward"),
    ("cycle through itself", lambda: Graph(_cycle_through_self()), "the graph has a cycle through Add"),
    ("cycle of three", lambda: Graph(_cycle_of_three()), "the graph has a cycle through"),
    ("linear shapes", lambda: Graph(_linear((4, 3), (1, 2))).forward(),
     "Linear: cannot combine inputs of shapes (4, 3), (1, 2), (1,)"),
    ("input not fed", lambda: Graph(Multiply(Input(), Parameter(2.0))).forward(),
     "Multiply: its input Input has no value; feed it to Graph.forward"),
]  # fmt: skip


@pytest.mark.parametrize(("build", "message"), [c[1:] for c in GARBAGE], ids=[c[0] for c in GARBAGE])
def test_the_engine_refuses_garbage_naming_the_node_and_shapes(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert message in str(info.value)


def test_labels_are_checked_when_a_new_array_arrives_not_only_the_first():
    y, p = Input(), Input(np.full((2, 1), 0.5))
    g = Graph(BCE(y, p))
    good = np.array([[0.0], [1.0]])
    for _ in range(3):
        g.forward({y: good[:, :]})  # fresh views of one checked array
    with pytest.raises(ValueError, match=r"labels must be in \[0, 1\], got 3.0"):
        g.forward({y: np.array([[0.0], [3.0]])})


def test_labels_in_a_view_of_a_wider_array_are_not_refused():
    """The label column of a table whose other columns are not labels: only the view counts."""
    table = np.array([[5.0, 0.0], [-7.0, 1.0]])
    y, p = Input(), Input(np.full(2, 0.5))
    g = Graph(BCE(y, p))
    assert g.forward({y: table[:, 1]}) == pytest.approx(np.log(2))
    with pytest.raises(ValueError, match=r"got 5\.0"):
        g.forward({y: table[:, 0]})


def test_a_cycle_is_found_before_memory_grows():
    """The order is computed once per node: a cycle ends in an error, not an endless walk."""
    with pytest.raises(ValueError, match="cycle"):
        topological_order(_cycle_of_three())


def _two_inputs():
    """x (4, 2) and labels y (4, 1) into a logistic loss, with a batch of each to feed."""
    x, y = Input(), Input()
    graph = Graph(BCE(y, Sigmoid(Linear(x, Parameter(np.ones((1, 2))), Parameter(np.zeros(1))))))
    return graph, x, y, np.ones((4, 2)), np.array([[0.0], [1.0], [1.0], [0.0]])


def _labels_left_out_after_a_full_feed():
    graph, x, y, X, Y = _two_inputs()
    graph.forward({x: X, y: Y})
    graph.forward({x: -X})  # the next batch without its labels: the old code ran on the last ones


def _labels_left_out_of_a_smaller_batch():
    graph, x, y, X, Y = _two_inputs()
    graph.forward({x: X, y: Y})
    graph.forward({x: X[:3]})


def _labels_set_directly_then_left_out():
    graph, x, y, X, Y = _two_inputs()
    y.value = Y
    graph.forward({x: X})


def _labels_never_fed():
    graph, x, _, X, _ = _two_inputs()
    graph.forward({x: X})


def _empty_feed_after_a_feed():
    graph, x, y, X, Y = _two_inputs()
    graph.forward({x: X, y: Y})
    graph.forward({})


def _constant_input_replaced_then_left_out():
    x, w = Input(np.array([1.0, 2.0])), Input(np.array(3.0))
    graph = Graph(Multiply(x, w))
    graph.forward({x: np.array([5.0])})
    graph.forward({w: np.array(4.0)})  # x no longer holds the array it was built with


MISSING_FROM_THE_FEED = [
    ("labels left out after a full feed", _labels_left_out_after_a_full_feed,
     "Input node Input(shape=(4, 1)) (input 0 of 2 in the graph's order) is not in the feed; every Input "
     "must be fed on each forward (else it reuses its value from an earlier call)"),
    ("labels left out of a smaller batch", _labels_left_out_of_a_smaller_batch,
     "Input node Input(shape=(4, 1)) (input 0 of 2"),
    ("labels set by .value then left out of a feed", _labels_set_directly_then_left_out,
     "Input node Input(shape=(4, 1)) (input 0 of 2"),
    ("labels never fed", _labels_never_fed,
     "Input node Input(shape=None) (input 0 of 2 in the graph's order) is not in the feed; every Input "
     "must be fed on each forward"),
    ("an empty feed after a feed", _empty_feed_after_a_feed, "is not in the feed"),
    ("a constant input replaced by a feed, then left out", _constant_input_replaced_then_left_out,
     "Input node Input(shape=(1,)) (input 0 of 2"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("run", "message"), [c[1:] for c in MISSING_FROM_THE_FEED], ids=[c[0] for c in MISSING_FROM_THE_FEED]
)
def test_a_feed_that_leaves_out_an_input_is_refused_naming_it(run, message):
    with pytest.raises(ValueError) as info:
        run()
    assert message in str(info.value)


def test_inputs_outside_a_feed_may_keep_their_constant_or_be_set_without_any_feed():
    """What stays allowed: an Input still holding the array it was built with may be left out
    of a feed, and forward() with no feed runs on the values set directly (as set_batch does)."""
    x, w = Input(), Input(np.array(3.0))
    graph = Graph(Multiply(x, w))
    assert graph.forward({x: np.array([1.0, 2.0])}).tolist() == [3.0, 6.0]
    assert graph.forward({x: np.array([-1.0])}).tolist() == [-3.0]
    w.value, x.value = np.array(2.0), np.array([4.0])
    assert graph.forward().tolist() == [8.0]


BAD_FEED_KEYS = [
    ("a Parameter", lambda graph: graph.parameters[0], TypeError,
     "feed keys must be Input nodes of the graph, got Parameter(shape=(1, 2))"),
    ("a string", lambda graph: "x", TypeError, "feed keys must be Input nodes of the graph, got str 'x'"),
    ("a computed node", lambda graph: graph.output.inputs[1], TypeError, "got Sigmoid(shape=None)"),
    ("an Input of no graph", lambda graph: Input(), ValueError,
     "feed key Input(shape=None) is not an Input of this graph"),
    ("an Input of another graph", lambda graph: Graph(Sigmoid(Input())).inputs[0], ValueError,
     "is not an Input of this graph"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "error", "message"), [c[1:] for c in BAD_FEED_KEYS], ids=[c[0] for c in BAD_FEED_KEYS]
)
def test_a_feed_key_that_is_not_an_input_of_the_graph_is_refused_naming_it(key, error, message):
    graph, x, y, X, Y = _two_inputs()
    with pytest.raises(error) as info:
        graph.forward({x: X, y: Y, key(graph): np.zeros(1)})
    assert message in str(info.value)


def test_a_refused_feed_sets_nothing():
    graph, x, y, X, Y = _two_inputs()
    graph.forward({x: X, y: Y})
    with pytest.raises(TypeError):
        graph.forward({x: X[:1], y: Y[:1], graph.parameters[0]: np.zeros((1, 2))})
    assert x.value is X and y.value is Y and graph.parameters[0].value.tolist() == [[1.0, 1.0]]


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (3, "got int 3"),
        ("x", "got str 'x'"),
        (None, "got NoneType None"),
        ([Input()], "got list [Input(shape=None)]"),
    ],
    ids=["int", "str", "None", "a list of nodes"],
)
def test_a_graph_needs_a_node_as_its_output(output, message):
    with pytest.raises(TypeError, match="Graph takes its output Node") as info:
        Graph(output)
    assert message in str(info.value)


def test_an_input_without_requires_grad_gets_no_gradient_and_the_parameters_the_same_one():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(3, 1, 5, 4)), (rng.random((3, 1, 5, 1)) < 0.5).astype(float)
    grads = []
    for needed in (True, False):
        x, y = Input(requires_grad=needed), Input(requires_grad=needed)
        A, b = Parameter(rng.normal(size=(3, 2, 1, 4))), Parameter(np.zeros((3, 2, 1)))
        A.value[:], b.value[:] = 0.5, 0.1  # the same weights in both graphs
        graph = Graph(BCE(y, Sigmoid(Linear(x, A, b)), per_model=2))
        graph.forward({x: X, y: Y})
        graph.backward(np.ones((3, 2)))
        assert (x.grad is not None, y.grad is not None) == (needed, needed)
        grads.append((A.grad, b.grad))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    np.testing.assert_array_equal(grads[0][1], grads[1][1])
