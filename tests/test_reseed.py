"""`make reseed`'s comparison of two critical tables: inside counts and the z of the difference."""

from __future__ import annotations

import math

import pytest

from batchgraph.cli.reseed import Z95, compare


def row(b, lo, hi, flagged="0"):
    return {"b_crit": str(b), "b_crit_lo": str(lo), "b_crit_hi": str(hi), "small_s_min": flagged}


def test_two_estimates_one_interval_width_apart_have_z_of_one_over_root_two():
    # log-symmetric intervals of half-width w = Z95·se each: se = w/Z95, and the difference's se √2·se
    w = math.log(2.0)
    committed = {("kappa_10", "0.03"): row(100, 100 / 2, 100 * 2)}
    other = {("kappa_10", "0.03"): row(200, 200 / 2, 200 * 2), ("kappa_30", "0.03"): row(1, 1, 1)}
    (got,) = compare(committed, other)  # a (problem, δ) only one table has is left out
    assert got[:3] == ["kappa_10", "0.03", False]
    assert got[9] is True and got[10] is True  # 200 is at the edge of [50, 200], 100 of [100, 400]
    assert got[11] == pytest.approx(math.log(2) / (math.sqrt(2) * w / Z95))


def test_an_estimate_far_outside_is_counted_outside_and_a_flag_is_kept():
    committed = {("kappa_1", "0.1"): row(100, 90, 110, flagged="1")}
    other = {("kappa_1", "0.1"): row(50, 45, 55)}
    (got,) = compare(committed, other)
    assert got[2] is True and got[9] is False and got[10] is False
    assert got[11] < -5
