"""The critical study's trainer, predictors, tables and stages (the statistics: test_critical_measure.py;
the problems: test_problems.py)."""

from __future__ import annotations

import numpy as np
import pytest

from batchgraph import SGD, Parameter
from batchgraph.core.config import LrGrid, ParamsError, validate_params
from batchgraph.core.io import DataError
from batchgraph.critical import ensemble, fit, predictors, problems
from batchgraph.stages.critical_fit import read_cell
from helpers import assert_refused, default_params, run_stage, set_key, snapshot, write_params


@pytest.fixture(scope="module")
def kappa10():
    return problems.by_name("kappa_10")


def _targets(problem, deltas=(0.3,)):
    return [(1 + d) * problem.optimal_loss for d in deltas]


def test_sgd_with_one_learning_rate_per_member():
    p = Parameter(np.ones((2, 3, 1, 2)))
    p.grad = np.ones_like(p.value)
    lr = np.array([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]])
    SGD([p], lr).step()
    np.testing.assert_allclose(p.value[..., 0, 0], 1.0 - lr)


def test_ensemble_equals_each_learning_rate_trained_alone(kappa10):
    """Every (seed, lr) member is its own model: training three rates together or one at a time
    gives the same passages (common random numbers: the same streams and initial weights)."""
    lrs = np.array([0.5, 2.0, 8.0])
    args = (kappa10, 16)
    together = ensemble.train_pass(*args, lrs, [3, 7, 9, 11], _targets(kappa10), 60, 10.0)
    for i, lr in enumerate(lrs):
        alone = ensemble.train_pass(*args, [lr], [3, 7, 9, 11], _targets(kappa10), together.steps_run, 10.0)
        np.testing.assert_array_equal(together.passages[:, :, i], alone.passages[:, :, 0])


def test_the_engine_update_is_plain_minibatch_sgd_on_the_streamed_batch(kappa10):
    """One update of one member, by hand: w ← w − η·mean_b (σ(z) − y) x̃ on seed 0's first batch."""
    seeds, B, lr = [5], 8, 0.7
    W0, b0 = ensemble.initial_weights(kappa10, seeds, "random")
    x, y = ensemble.Stream(kappa10, seeds, B).next()
    z = x[0] @ W0[0] + b0[0]
    r = 1.0 / (1.0 + np.exp(-z)) - y[0]
    w1, b1 = W0[0] - lr * (r[:, None] * x[0]).mean(axis=0), b0[0] - lr * r.mean()
    run = ensemble.train_pass(kappa10, B, [lr], seeds, [0.0], 1, 10.0)  # a target no one reaches
    assert run.steps_run == 1
    graph, xi, yi, A, b = ensemble._ensemble_graph(W0, b0, 1)  # the trainer's own graph, fed by hand
    graph.forward({xi: x[:, None], yi: y[:, None, :, None]})
    graph.backward(np.ones((1, 1)))
    SGD([A, b], lr).step()
    np.testing.assert_allclose(A.value[0, 0, 0], w1, rtol=1e-12)
    assert b.value[0, 0, 0] == pytest.approx(b1, rel=1e-12)


def test_a_diverging_rate_costs_only_itself(kappa10):
    targets = _targets(kappa10)
    both = ensemble.train_pass(kappa10, 16, [1.0, 1e4], [0, 1, 2, 3], targets, 300, 5.0)
    assert np.isfinite(both.diverged[:, 1]).all() and np.isnan(both.diverged[:, 0]).all()
    alone = ensemble.train_pass(kappa10, 16, [1.0], [0, 1, 2, 3], targets, 300, 5.0)
    np.testing.assert_array_equal(both.passages[:, :, 0], alone.passages[:, :, 0])
    assert np.isfinite(alone.passages).mean() >= ensemble.QUORUM  # the pass stopped at its quorum


def test_a_pass_stops_once_three_quarters_of_some_rates_seeds_passed(kappa10):
    run = ensemble.train_pass(kappa10, 64, [2.0, 4.0], list(range(8)), _targets(kappa10), 10_000, 10.0)
    passed = (~np.isnan(run.passages)).mean(axis=1)
    assert (passed >= ensemble.QUORUM).any() and run.steps_run < 10_000
    assert np.nanmax(run.passages) <= run.steps_run


def test_the_noise_optimal_step_on_a_hand_case():
    """ε = ε_max/(1 + B_noise/B): |G|² = 4, GᵀHG = 2, tr(HΣ) = 6 -> ε_max = 2, B_noise = 3."""
    stats = {"G_sq": np.array([4.0, 1.0]), "GHG": np.array([2.0, 0.0]), "tr_HSigma": np.array([6.0, 1.0])}
    eps = ensemble.noise_optimal_step(stats, batch_size=3)
    assert eps[0] == pytest.approx(2.0 / (1 + 3.0 / 3))
    assert eps[1] == 0.0  # GᵀHG = 0: nothing to step along


def test_the_noise_optimal_step_is_what_the_trainer_takes(kappa10):
    """After one update of train_optimal, each member moved by ε(θ₀)·(its minibatch gradient)."""
    seeds, B = [0, 1], 32
    W0, b0 = ensemble.initial_weights(kappa10, seeds, "random")
    eps = ensemble.noise_optimal_step(kappa10.step_stats(W0, b0), B)
    x, y = ensemble.Stream(kappa10, seeds, B).next()
    z = np.einsum("sbd,sd->sb", x, W0) + b0[:, None]
    r = 1.0 / (1.0 + np.exp(-z)) - y
    W1 = W0 - eps[:, None] * np.einsum("sb,sbd->sd", r, x) / B
    loss1 = kappa10.loss(W1, b0 - eps * r.mean(axis=1))
    loss0 = kappa10.loss(W0, b0)
    assert (loss1 < loss0).all()
    # A target just above the hand-made loss after the update is passed within that update, and
    # one just below it is not: the trainer's member landed exactly there.
    for s, seed in enumerate(seeds):
        one = (kappa10, B, [seed])
        run = ensemble.train_optimal(*one, [loss1[s] * (1 + 1e-9), loss1[s] * (1 - 1e-9)], 1, 10.0)
        assert run.steps_run == 1 and 0 < run.passages[0, 0, 0] <= 1.0 and np.isnan(run.passages[1, 0, 0])


def test_nqm_predictor_and_path_noise_are_their_formulas(kappa10):
    _, Sigma, _ = kappa10.gradient_stats(*kappa10.optimum())
    assert predictors.b_nqm(kappa10, 2.0, 0.01) == pytest.approx(2.0 * np.trace(Sigma) / 0.04, rel=1e-12)
    inits = ensemble.initial_weights(kappa10, [0], "random")
    path = predictors.full_batch_path(kappa10, inits[0][0], inits[1][0], _targets(kappa10)[0], step="optimal")
    mean = predictors.path_mean_b_noise(kappa10, inits, _targets(kappa10))[0]
    assert mean == pytest.approx(path[:-1, 2].mean(), rel=1e-12)
    assert (np.diff(path[:, 0]) < 0).all()  # the full-batch noise-optimal path descends


def test_the_fit_recovers_a_knee_from_a_synthetic_ensemble():
    """Passages from S(B) = 40(1 + 150/B) with per-seed noise: the table's B_crit and its interval."""
    rng = np.random.default_rng(1)
    B = 4.0 ** np.arange(6)
    S = 40.0 * (1 + 150.0 / B)
    P = S[:, None, None] * np.exp(0.1 * rng.standard_normal((6, 1, 32)))
    run = fit.Runs(np.ones((6, 1)), P[None], np.median(P, axis=-1)[None])
    steps, _ = fit.measure.critical_curve(run.passages[0])
    f = fit.measure.fit_log(B, steps)
    lo, hi = fit.measure.b_crit_interval(B, run.passages[0], np.random.default_rng(0))
    assert lo < 150.0 < hi and lo < f.b_crit < hi
    assert f.s_min == pytest.approx(40.0, rel=0.1)


def test_read_cell_refuses_damaged_run_files(tmp_path):
    folder = tmp_path / "bs_4"
    folder.mkdir()
    (folder / "passages.csv").write_text(
        "regime,delta,lr,seed,steps\nconstant,0.3,1,0,5\nconstant,0.3,1,1,7\n"
    )
    (folder / "seed_mean.csv").write_text("regime,delta,lr,steps\nconstant,0.3,1,6\n")
    lrs, P, M = read_cell(folder, "constant", [0.3], [0, 1])
    assert lrs.tolist() == [1.0] and P.tolist() == [[[5.0], [7.0]]] and M.tolist() == [[6.0]]
    damages = {
        "not UTF-8": b"\xff\xfe\x00",
        "must have the columns": b"regime,delta,lr,steps\n",
        "steps must be": b"regime,delta,lr,seed,steps\nconstant,0.3,1,0,-5\nconstant,0.3,1,1,7\n",
        "repeats": b"regime,delta,lr,seed,steps\nconstant,0.3,1,0,5\nconstant,0.3,1,0,6\n",
        "must be a number": b"regime,delta,lr,seed,steps\nconstant,0.3,1,0,five\n",
        "does not hold": b"regime,delta,lr,seed,steps\nconstant,0.3,1,0,5\n",
    }
    for message, content in damages.items():
        (folder / "passages.csv").write_bytes(content)
        with pytest.raises(DataError, match=message) as info:
            read_cell(folder, "constant", [0.3], [0, 1])
        assert "\n" not in str(info.value)
    (folder / "passages.csv").unlink()
    (folder / "passages.csv").mkdir()
    with pytest.raises(DataError, match="is a folder"):
        read_cell(folder, "constant", [0.3], [0, 1])


def test_lr_grid_is_half_octaves():
    grid = LrGrid(start=2.0**-6, stop=8.0, per_octave=2).values()
    assert len(grid) == 19
    np.testing.assert_allclose(grid[1:] / grid[:-1], np.sqrt(2.0))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"problems": ["kappa_01"]}, "critical.problems.0 must be kappa_<k>"),
        ({"problems": ["x/../../victim"]}, "critical.problems.0 must be kappa_<k>"),
        ({"problems": ["kappa_1$(touch pwned)"]}, "critical.problems.0 must be kappa_<k>"),
        ({"optimal_problems": ["kappa_5"]}, "optimal_problems must be among critical.problems"),
        ({"batch_sizes": [4, 2]}, "params.yaml: critical.batch_sizes must be in ascending order, got [4, 2]"),
        (
            {"lr_grid": {"start": 1.0, "stop": 0.5, "per_octave": 2}},
            "critical.lr_grid stop must be at least start",
        ),
        ({"deltas": [0.1, -0.1]}, "critical.deltas.1 must be greater than 0"),
        ({"seeds": [0, 0, 1, 2]}, "critical.seeds must not repeat a value"),
        ({"seeds": [0, 1]}, "critical.seeds must have at least 4 items"),
        ({"init": "ones"}, "critical.init"),
        ({"warmup": 3}, "critical.warmup is not a known key"),
    ],
)
def test_bad_critical_params_are_one_line(change, message):
    params = default_params()
    params["critical"] |= change
    with pytest.raises(ParamsError) as info:
        validate_params(params)
    text = str(info.value)
    assert message in text and "\n" not in text


GRID_KEYS = ["critical.lr_grid", "steps.tuned_lrs"]
ODD_GRIDS = [
    # (id, grid, message): every end outside [1e-12, 1e12] is refused naming the range
    (
        "1e-300 to 1e300",
        {"start": 1e-300, "stop": 1e300, "per_octave": 2},
        "start must lie in [1e-12, 1e+12]",
    ),
    ("stop 1e300", {"start": 1.0, "stop": 1e300, "per_octave": 2}, "stop must lie in [1e-12, 1e+12]"),
    ("start 1e-300", {"start": 1e-300, "stop": 1.0, "per_octave": 2}, "start must lie in [1e-12, 1e+12]"),
    ("per_octave 1e9", {"start": 1.0, "stop": 2.0, "per_octave": 10**9}, "per_octave must be less than"),
]


@pytest.mark.parametrize("key", GRID_KEYS)
@pytest.mark.parametrize(("grid", "message"), [c[1:] for c in ODD_GRIDS], ids=[c[0] for c in ODD_GRIDS])
def test_an_lr_grid_beyond_the_allowed_range_is_refused_in_one_line(tmp_path, key, grid, message):
    params = set_key(default_params(), key, grid)
    write_params(tmp_path, params)
    before = snapshot(tmp_path)
    assert_refused(run_stage(tmp_path, "generate"), f"params.yaml: {key}.{message}", tmp_path, before)
