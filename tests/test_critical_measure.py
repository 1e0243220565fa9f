"""The statistics of a critical-batch measurement: passages, censored medians, the log fit, its interval."""

from __future__ import annotations

import numpy as np
import pytest

from batchgraph.critical.measure import (
    Convergence,
    b_crit_interval,
    convergence,
    critical_curve,
    fit_log,
    halving_stays_inside,
)
from batchgraph.critical.passages import PassageTracker, lr_refinement, median_steps

BATCH_SIZES = 2.0 ** np.arange(12)
B_CRIT, S_MIN = 64.0, 100.0


def track(curves, targets, ts=None, **kwargs):
    """Feed curves (T, *shape) to a tracker, one row per update."""
    curves = np.asarray(curves, dtype=np.float64)
    tracker = PassageTracker(targets, curves.shape[1:], **kwargs)
    for t, losses in zip(range(len(curves)) if ts is None else ts, curves):
        tracker.update(t, losses)
    return tracker


def first_passage(ts, curve, target):
    """Loop reference: the first t with loss ≤ target, linear in loss from the point before."""
    for i, (t, loss) in enumerate(zip(ts, curve)):
        if not np.isfinite(loss):
            return np.nan
        if loss <= target:
            if i == 0:
                return float(t)
            t0, l0 = ts[i - 1], curve[i - 1]
            return t0 + (t - t0) * (l0 - target) / (l0 - loss)
    return np.nan


def test_fractional_passage_on_a_hand_made_curve():
    # Target 0.5 between t=1 (0.8) and t=2 (0.4): 1 + 0.3/0.4; 0.9: 0 + 0.1/0.2; 0.1 lands on t=3;
    # 1.0 holds at t=0; 0.05 is never reached.
    tracker = track(np.array([1.0, 0.8, 0.4, 0.1])[:, None], [0.5, 0.9, 1.0, 0.1, 0.05])
    np.testing.assert_allclose(tracker.passages[:, 0], [1.75, 0.5, 0.0, 3.0, np.nan])
    # Not monotone: the first passage counts. 0.5 between 1.0 and 0.4 at t=0→1: 0.5/0.6; 0.3 only
    # between 0.9 and 0.2 at t=2→3: 2 + 0.6/0.7.
    tracker = track(np.array([1.0, 0.4, 0.9, 0.2])[:, None], [0.5, 0.3])
    np.testing.assert_allclose(tracker.passages[:, 0], [5 / 6, 2 + 6 / 7])


def test_seed_mean_is_a_second_criterion():
    # Two seeds of one lr: seed 1 is [1, .6, .6, .3], so its mean with seed 0 is [1, .7, .5, .2].
    curves = np.array([[1.0, 1.0], [0.8, 0.6], [0.4, 0.6], [0.1, 0.3]])[:, :, None]
    tracker = track(curves, [0.5, 0.6])
    np.testing.assert_allclose(tracker.passages[:, :, 0], [[1.75, 2 + 1 / 3], [1.5, 1.0]])
    # Mean: 0.5 lands exactly on t=2 (1 + 0.2/0.2); 0.6 between .7 and .5: 1 + 0.1/0.2.
    np.testing.assert_allclose(tracker.mean_passages[:, 0], [2.0, 1.5])
    assert tracker.passages.shape == (2, 2, 1) and tracker.mean_passages.shape == (2, 1)


def test_passage_at_t0_is_zero_and_final():
    tracker = track(np.array([0.3, 0.9, 0.2])[:, None], [0.5])
    assert tracker.passages[0, 0] == 0.0 and tracker.mean_passages[0] == 0.0


def test_tracker_matches_the_loop_reference_with_uneven_update_times(rng):
    ts = np.array([0, 1, 2, 5, 6, 10, 11, 15])
    curves = np.exp(-0.2 * ts[:, None, None] + 0.3 * rng.standard_normal((len(ts), 5, 3)))
    targets = [0.9, 0.5, 0.2, 0.01]
    tracker = track(curves, targets, ts=ts)
    for k, target in enumerate(targets):
        for s, l in np.ndindex(5, 3):
            ref = first_passage(ts, curves[:, s, l], target)
            np.testing.assert_allclose(tracker.passages[k, s, l], ref, rtol=1e-12)
        for l in range(3):
            ref = first_passage(ts, curves[:, :, l].mean(axis=1), target)
            np.testing.assert_allclose(tracker.mean_passages[k, l], ref, rtol=1e-12)


def test_a_diverged_member_never_passes_and_is_reported():
    # (seed, lr) = (1, 0) goes NaN at t=2 and "recovers" at t=3; (0, 1) exceeds diverge_loss at t=1.
    curves = np.array(
        [
            [[1.0, 1.0], [1.0, 1.0]],
            [[0.8, 20.0], [0.8, 0.8]],
            [[0.4, 0.4], [np.nan, 0.4]],
            [[0.1, 0.1], [0.1, np.inf]],
        ]
    )
    tracker = track(curves, [0.5], diverge_loss=10.0)
    np.testing.assert_allclose(tracker.passages[0], [[1.75, np.nan], [np.nan, 1.75]])
    np.testing.assert_array_equal(tracker.diverged_at, [[np.nan, 1.0], [2.0, 3.0]])
    assert tracker.alive.tolist() == [[True, False], [False, False]]
    # Each lr lost a seed, so neither seed-mean can pass (lr 1's mean died before reaching 0.5).
    assert np.isnan(tracker.mean_passages).all()
    with pytest.raises(ValueError, match="t must increase"):
        tracker.update(3, curves[-1])


def test_settled_waits_for_a_column_whose_median_could_still_be_earlier():
    # Four seeds, two lrs, target 0.5. At t=1 lr 0 has three of four seeds at 0.5/0.6 (median final);
    # lr 1 has two at 0.5 and two pending, so its median is ≥ (0.5 + 1)/2 = 0.75 < 5/6: not settled.
    tracker = PassageTracker([0.5], (4, 2))
    tracker.update(0, np.ones((4, 2)))
    step = np.array([[0.4, 0.0], [0.4, 0.0], [0.4, 1.0], [1.0, 1.0]])
    tracker.update(1, step)
    assert not tracker.settled()[0]
    assert tracker.settled("mean")[0]  # lr 1's mean is exactly 0.5 at t=1
    tracker.update(2, step)  # lr 1's bound is now (0.5 + 2)/2 > 5/6
    assert tracker.settled()[0]
    steps, best = critical_curve(np.moveaxis(tracker.passages, 1, 2)[:, None])
    assert steps[0, 0] == pytest.approx(5 / 6) and best[0, 0] == 0


def test_median_counts_unreached_as_infinite():
    assert median_steps([3.0, 1.0, 2.0]) == 2.0
    assert median_steps([3.0, np.nan, 1.0]) == 3.0  # 1, 3, inf
    assert median_steps([np.nan, np.nan, 1.0]) == np.inf  # only one of three reached
    assert median_steps([4.0, 1.0, 3.0, 2.0]) == 2.5  # even: mean of the middle two
    assert median_steps([1.0, np.nan, 3.0, 2.0]) == 2.5  # three of four reached: still finite
    assert median_steps([1.0, np.nan, np.nan, 2.0]) == np.inf  # exactly half is not enough
    np.testing.assert_array_equal(
        median_steps([[1.0, np.nan], [2.0, 5.0], [3.0, np.nan]], axis=0), [2, np.inf]
    )
    np.testing.assert_array_equal(median_steps([[1.0, 2.0, 3.0], [np.nan] * 3], axis=1), [2, np.inf])


def test_critical_curve_takes_the_median_then_the_smallest_lr_on_ties():
    P = np.array(
        [
            [[3.0, 1.0, 2.0], [2.0, 2.0, 9.0], [1.0, 1.0, 1.0]],  # medians 2, 2, 1
            [[5.0, 4.0, 6.0], [4.0, 6.0, 5.0], [np.nan, 1.0, np.nan]],  # 5, 5, inf: tie → lr 0
            [[np.nan, np.nan, 1.0], [np.nan] * 3, [np.nan, 2.0, np.nan]],  # nothing reached
        ]
    )
    steps, best = critical_curve(P)
    np.testing.assert_array_equal(steps, [1.0, 5.0, np.inf])
    np.testing.assert_array_equal(best, [2, 0, -1])
    steps, best = critical_curve(P, seeds_idx=[1])
    np.testing.assert_array_equal(steps, [1.0, 1.0, 2.0])
    np.testing.assert_array_equal(best, [0, 2, 2])


def objective(batch_sizes, steps, b_crit):
    """Σ_B (r_B − r̄)², r = log S − log(1 + B_crit/B), for every b_crit in an array."""
    r = np.log(steps) - np.log1p(np.asarray(b_crit, dtype=np.float64)[..., None] / np.asarray(batch_sizes))
    return np.sum((r - r.mean(axis=-1, keepdims=True)) ** 2, axis=-1)


def test_fit_recovers_an_exact_curve():
    S = S_MIN * (1 + 37.3 / BATCH_SIZES)
    fit = fit_log(BATCH_SIZES, S)
    assert fit.b_crit == pytest.approx(37.3, rel=1e-10)
    assert fit.s_min == pytest.approx(S_MIN, rel=1e-10)
    assert fit.e_min == pytest.approx(S_MIN * 37.3, rel=1e-10)
    assert fit.residual < 1e-12 and fit.points == 12
    S[[0, 5]] = [np.nan, np.inf]  # left out, and the rest still fits exactly
    fit = fit_log(BATCH_SIZES, S)
    assert fit.points == 10 and fit.b_crit == pytest.approx(37.3, rel=1e-10)


def test_fit_with_noise_is_the_least_squares_minimum(rng):
    S = S_MIN * (1 + B_CRIT / BATCH_SIZES) * np.exp(0.05 * rng.standard_normal(len(BATCH_SIZES)))
    fit = fit_log(BATCH_SIZES, S)
    assert fit.b_crit == pytest.approx(B_CRIT, rel=0.25)
    assert fit.s_min == pytest.approx(S_MIN, rel=0.1)
    # No b_crit on a dense grid does better, and S_min is the closed-form mean for this b_crit.
    dense = np.geomspace(0.01, 1e5, 20001)
    best = objective(BATCH_SIZES, S, dense).min()
    assert objective(BATCH_SIZES, S, fit.b_crit) <= best + 1e-12
    log_s_min = np.mean(np.log(S) - np.log1p(fit.b_crit / BATCH_SIZES))
    assert fit.s_min == pytest.approx(np.exp(log_s_min), rel=1e-12)
    rms = np.sqrt(objective(BATCH_SIZES, S, fit.b_crit) / 12)
    assert fit.residual == pytest.approx(rms, rel=1e-9)


@pytest.mark.parametrize(
    "steps",
    [1000.0 / BATCH_SIZES, np.full(12, 5.0), 10.0 * BATCH_SIZES, [7.0] + [np.nan] * 11],
    ids=["perfect-scaling", "no-scaling", "growing", "one-point"],
)
def test_no_knee_on_the_grid_is_nan(steps):
    fit = fit_log(BATCH_SIZES, steps)
    assert np.isnan([fit.s_min, fit.e_min, fit.b_crit, fit.residual]).all()
    assert fit.points == int(np.isfinite(steps).sum())


def simulate(rng, n_seed=32, n_lr=5, sigma=0.3, shared=0.5, cap=3000.0):
    """Passages (n_B, n_lr, n_seed): S(B)·h(lr)·exp(σ(shared seed effect + noise)), censored at cap.

    The best lr moves from index 1 to 3 across B; the others are ≥ e^0.5 slower, so the minimum over
    lr of the seed medians estimates S(B) and the fit estimates B_CRIT.
    """
    S = S_MIN * (1 + B_CRIT / BATCH_SIZES)
    best = np.round(np.linspace(1, 3, len(BATCH_SIZES)))
    h = np.exp(0.5 * (np.arange(n_lr)[None, :] - best[:, None]) ** 2)
    z = shared * rng.standard_normal(n_seed) + rng.standard_normal((len(BATCH_SIZES), n_lr, n_seed))
    passages = S[:, None, None] * h[..., None] * np.exp(sigma * z)
    return np.where(passages > cap, np.nan, passages)


@pytest.mark.parametrize("method", ["basic", "symmetric"])
def test_interval_covers_the_true_b_crit(method):
    rng = np.random.default_rng(2024)
    hits = []
    for _ in range(100):
        lo, hi = b_crit_interval(BATCH_SIZES, simulate(rng), rng, draws=200, method=method)
        hits.append(lo <= B_CRIT <= hi)
    coverage = np.mean(hits)
    print(f"{method} half-sampling coverage of a nominal 95 % interval: {coverage:.2f}")
    assert 0.85 <= coverage <= 1.0


def test_interval_is_deterministic_given_rng_and_nan_without_a_fit(rng):
    P = simulate(rng)
    a = b_crit_interval(BATCH_SIZES, P, np.random.default_rng(5))
    b = b_crit_interval(BATCH_SIZES, P, np.random.default_rng(5))
    assert a == b and a[0] < fit_log(BATCH_SIZES, critical_curve(P)[0]).b_crit < a[1]
    # Perfect scaling: no knee even with all seeds.
    flat = (1000.0 / BATCH_SIZES)[:, None, None] * np.ones((12, 1, 8))
    assert np.isnan(b_crit_interval(BATCH_SIZES, flat, rng)).all()
    # 17 of 32 seeds reach at every B: the full median is finite, but about half of the halves have
    # at most 8 of 16 reached everywhere — too many halves without a fit.
    P = simulate(rng, n_lr=1, cap=np.inf)
    P[:, :, 17:] = np.nan
    assert np.isfinite(fit_log(BATCH_SIZES, critical_curve(P)[0]).b_crit)
    assert np.isnan(b_crit_interval(BATCH_SIZES, P, rng)).all()


def test_convergence_over_seed_counts(rng):
    P = simulate(rng)
    conv = convergence(BATCH_SIZES, P, [16, 4, 32, 8, 8], rng, draws=50)
    np.testing.assert_array_equal(conv.counts, [4, 8, 16, 32])
    assert conv.b_crit.shape == conv.lo.shape == conv.hi.shape == (4,)
    assert conv.b_crit[-1] == fit_log(BATCH_SIZES, critical_curve(P)[0]).b_crit
    assert conv.b_crit[1] == fit_log(BATCH_SIZES, critical_curve(P[..., :8])[0]).b_crit
    ok = np.isfinite(conv.lo)
    assert ok[-1] and np.all(conv.lo[ok] <= conv.hi[ok])
    assert isinstance(halving_stays_inside(conv), bool)
    with pytest.raises(ValueError, match="counts must lie in"):
        convergence(BATCH_SIZES, P, [8, 64], rng)


def test_halving_check():
    conv = Convergence(
        np.array([8, 16]), np.array([50.0, 60.0]), np.array([30.0, 55.0]), np.array([90.0, 70.0])
    )
    assert not halving_stays_inside(conv)  # 50 lies outside [55, 70]
    conv = Convergence(conv.counts, np.array([58.0, 60.0]), conv.lo, conv.hi)
    assert halving_stays_inside(conv)
    conv = Convergence(conv.counts, conv.b_crit, conv.lo, np.array([90.0, np.nan]))
    assert not halving_stays_inside(conv)
    with pytest.raises(ValueError, match="lack 16"):
        halving_stays_inside(Convergence(np.array([8, 32]), *[np.ones(2)] * 3))


def test_lr_refinement_spacing_and_deduplication():
    coarse = np.geomspace(0.01, 1.28, 8)  # octaves, with rounding noise: 0.01·2^k
    ref = lr_refinement(coarse, 3)  # best 0.08
    expected_new = 0.08 * 2.0 ** (np.array([-3, -2, -1, 1, 2, 3]) / 4)
    np.testing.assert_allclose(ref.new_lrs, expected_new, rtol=1e-11)  # 0.04, 0.08, 0.16 already run
    window = ref.lrs[(ref.lrs >= 0.04 * (1 - 1e-9)) & (ref.lrs <= 0.16 * (1 + 1e-9))]
    np.testing.assert_allclose(np.diff(np.log2(window)), 0.25, atol=1e-10)
    assert len(ref.lrs) == 8 + 6 and np.all(np.diff(ref.lrs) > 0) and not ref.at_edge
    edge = lr_refinement(coarse, 0, per_octave=6)
    assert edge.at_edge and lr_refinement(coarse, 7).at_edge
    assert len(edge.new_lrs) == 11 and edge.new_lrs.min() == pytest.approx(0.005)
    with pytest.raises(ValueError, match="best_index"):
        lr_refinement(coarse, -1)
