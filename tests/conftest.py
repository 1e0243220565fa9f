"""Shared fixtures and the finite-difference gradient check every op test goes through."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from batchgraph import Graph, Input, Parameter


@pytest.fixture
def rng():
    return np.random.default_rng(20241212)


@pytest.fixture(scope="session")
def blobs():
    """The course data set: 100 points per class, means (1, 2) and (1, -2), 150 train / 50 test."""
    from batchgraph.core.data import make_dataset

    return make_dataset(100, [[1, 2], [1, -2]], 1.0, 0.25, seed=0)


def numeric_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to every element of x (changed in place)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        keep = x[i]
        x[i] = keep + h
        up = f()
        x[i] = keep - h
        down = f()
        x[i] = keep
        grad[i] = (up - down) / (2 * h)
    return grad


def check_grads(op, *values, rng=None, rtol=1e-6, atol=1e-8, leaf=Parameter):
    """Build ``op(*leaves)`` on float64 leaves holding ``values`` and compare every leaf's
    ``.grad`` with central differences of ⟨output, R⟩ for a random R (so non-scalar outputs too)."""
    rng = rng or np.random.default_rng(0)
    leaves = [leaf(np.array(v, dtype=np.float64)) for v in values]
    out = op(*leaves)
    graph = Graph(out)
    value = graph.forward()
    R = rng.normal(size=np.shape(value))

    def loss():
        return float(np.sum(graph.forward() * R))

    graph.forward()
    graph.backward(R)
    analytic = [np.array(node.grad, dtype=np.float64) for node in leaves]
    for node, got in zip(leaves, analytic):
        assert got.shape == node.value.shape
        expected = numeric_grad(loss, node.value)
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
    return graph, leaves


__all__ = ["Input", "check_grads", "numeric_grad"]


@pytest.fixture(scope="session")
def computed(tmp_path_factory):
    """A copy of the working tree after one cold `dvc repro --force`, shared by every end-to-end
    test: its DVC cache holds every output, its git history the results it computed.

    The copy's critical study runs on its `quick` preset (its default in the copy's conf/, so
    `dvc exp run` composes it too): the course study is the one committed, and the full critical
    grid is CI's pipeline check (`make study`, `make check-study`), not every test's.
    """
    from helpers import commit, copy_worktree, dvc, sh

    repo = copy_worktree(tmp_path_factory.mktemp("computed") / "repo")
    config = repo / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("  - critical: mccandlish\n", "  - critical: quick\n"))
    sh(repo, sys.executable, "-m", "batchgraph.cli.params")
    commit(repo, "the critical study on its quick preset")
    log = dvc(repo, "repro", "--force").stdout
    status = sh(repo, "git", "status", "--porcelain").stdout
    commit(repo, "results")
    return {"repo": repo, "cache": repo / ".dvc" / "cache", "log": log, "status": status}
