"""SGD and the learning-rate scaling rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from batchgraph import SGD, Parameter
from batchgraph.study.train import scaled_lr


@pytest.mark.parametrize(
    ("rule", "expected"),
    [("none", 0.01), ("linear", 0.01 * 32 / 4), ("sqrt", 0.01 * math.sqrt(8)), ("inverse", 0.01 * 4 / 32)],
)
def test_scaled_lr(rule, expected):
    assert scaled_lr(0.01, 32, rule, ref_batch=4) == pytest.approx(expected, rel=1e-15)


def test_all_rules_agree_at_the_reference_batch():
    for rule in ("none", "linear", "sqrt", "inverse"):
        assert scaled_lr(0.3, 8, rule, ref_batch=8) == pytest.approx(0.3)


def test_unknown_rule_is_named():
    with pytest.raises(ValueError, match="unknown lr scaling 'cubic'"):
        scaled_lr(0.1, 2, "cubic")


def test_sgd_step_moves_against_the_gradient_in_place():
    p = Parameter(np.array([1.0, -2.0]))
    before = p.value
    p.grad = np.array([0.5, -1.0])
    SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.value, [0.95, -1.9])
    assert p.value is before
