"""The benchmark runners on tiny sizes: they run, report every case, and every variant trains alike."""

from __future__ import annotations

import json

import numpy as np
import pytest
from benchmarks import critical
from benchmarks import run as bench

from batchgraph.core.config import validate_params
from helpers import default_params

TINY = {
    **bench.QUICK,
    "sizes": (40,),
    "batch_sizes": (1, 4, 32, 64),
    "repeats": 1,
    "samples_per_repeat": 64,
    "max_updates": 50,
    "min_updates": 5,
    "ensemble_sizes": (1, 3),
    "ensemble_updates": 50,
}


@pytest.fixture(scope="module")
def results():
    return bench.run(TINY)


def test_every_case_and_variant_is_reported(results):
    expected = {"handfused", "linear", "scalar"} | ({"torch"} if bench.torch_version() else set())
    cases = {(r["data_size"], r["batch_size"]) for r in results["updates"]}
    assert cases == {(40, 1), (40, 4), (40, 32)}  # batch sizes above the data size are skipped
    for n, B in cases:
        rows = [r for r in results["updates"] if (r["data_size"], r["batch_size"]) == (n, B)]
        assert {r["variant"] for r in rows} == expected
    for table, key in ((results["updates"], ("data_size", "batch_size")), (results["ensembles"], ("seeds",))):
        for r in table:
            ref = next(h for h in table if h["variant"] == "handfused" and all(h[k] == r[k] for k in key))
            # the ratio is this variant's time over the reference's, per update of the same schedule
            assert r["ratio_to_handfused"] == pytest.approx(
                r["us_per_update"] / ref["us_per_update"], rel=1e-9
            )
    for r in results["updates"]:
        # samples per second × seconds per update = samples per update of the schedule that was timed
        sched = bench.schedule(r["data_size"], r["batch_size"], TINY)
        assert r["updates"] == len(sched)
        per_update = sum(stop - start for start, stop in sched) / len(sched)
        assert r["samples_per_s"] * r["us_per_update"] * 1e-6 == pytest.approx(per_update, rel=1e-9)
    assert {(r["seeds"], r["variant"]) for r in results["ensembles"]} == {
        (s, v) for s in (1, 3) for v in ("handfused", "linear")
    }
    assert set(results["machine"]) >= {"cpu", "cores", "numpy", "python", "torch"}


def test_every_variant_ends_with_the_reference_weights(results):
    """Same batches, same start: the engine, the hand-fused loop and PyTorch compute the same update."""
    for r in results["updates"] + results["ensembles"]:
        assert r["max_weight_diff"] <= 1e-10, r


def test_the_weights_moved(results):
    """Guards the check above against a variant that never updates anything."""
    X, y = bench.blobs(40)
    A0, b0, Xe, ye = bench.ensemble_data(X, y, 3)
    reset, loop, weights = bench.ensemble_engine(A0, b0, Xe, ye, 10)
    reset()
    loop()
    assert abs(weights()[0] - A0).max() > 1e-6


def test_main_prints_a_table_and_writes_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "QUICK", TINY)
    out = tmp_path / "r.json"
    assert bench.main(["--quick", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| N | B | hand-fused µs |" in table and "| seeds S |" in table
    saved = json.loads(out.read_text())
    assert saved["settings"]["sizes"] == [40]


# The critical-batch benchmark on one problem, two batch sizes, four seeds, a loose target.
CRITICAL_TINY = {
    **critical.QUICK,
    "problems": ("kappa_10",),
    "batch_sizes": (4, 4096),
    "seeds": (0, 1, 2, 3),
    "deltas": (0.3,),
    "max_steps": 400,
    "repeats": 1,
}


@pytest.fixture(scope="module")
def critical_results():
    return critical.run(CRITICAL_TINY)


def test_critical_engine_and_plain_loop_find_the_same_passages(critical_results):
    """Same streams, start, schedule and stop rule: the hand-written loop is the engine's sweep."""
    cells = critical_results["cells"]
    assert [(c["problem"], c["batch_size"]) for c in cells] == [("kappa_10", 4), ("kappa_10", 4096)]
    for c in cells:
        assert c["fewest_steps_agree"] and c["cells_differing"] == 0, c
        assert c["steps_run"][0] == c["steps_run"][1] > 0
        assert all(isinstance(s, float) for s in c["fewest_steps"])  # every target reached
        assert c["members"] == 5 * 4
        assert c["ratio_engine_to_plain"] == pytest.approx(c["engine_seconds"] / c["plain_seconds"], rel=0.01)
    assert [c["first"] for c in cells] == ["engine", "plain"]  # interleaved: the order alternates
    assert critical_results["cells_with_same_fewest_steps"] == "2/2"
    assert critical_results["passages_differing"] == "0/40"


def test_critical_plain_loop_drops_the_gradient_of_clipped_predictions(monkeypatch):
    """At B = 4096 and lr ≈ 2/λ_max, logits pass ±34.5 early on, where the engine's BCE (of
    probabilities clipped to [1e-15, 1 − 1e-15]) is flat: without the same cut the passages differ."""
    problem = critical.problems.by_name("kappa_10")
    targets = [1.1 * problem.optimal_loss]
    args = (problem, 4096, [2.0 * problem.lr_unit], [1, 2], targets, 30, 10.0, "random")
    engine = critical.ensemble.train_pass(*args)
    plain = critical.plain_pass(*args)
    np.testing.assert_allclose(plain[0], engine.passages, rtol=critical.RTOL)
    assert plain[2] == engine.steps_run
    monkeypatch.setattr(critical, "EPS", 0.0)  # no cut: every example's gradient counts
    uncut = critical.plain_pass(*args)
    assert not np.allclose(uncut[0], engine.passages, rtol=1e-6)


def test_critical_fine_grid_is_the_one_tune_runs():
    problem = critical.problems.by_name("kappa_10")
    coarse = problem.lr_unit * 2.0 ** np.arange(-3.0, 2.0)
    cell = critical.ensemble.tune(problem, 64, coarse, [0, 1, 2, 3], [1.3 * problem.optimal_loss], 300, 10.0)
    np.testing.assert_array_equal(critical.fine_grid(coarse, cell.coarse, 4), cell.fine.lrs)


def test_critical_default_grid_is_the_study_config():
    grid = critical.full_grid()
    cfg = validate_params(default_params()).critical  # conf/critical/mccandlish.yaml via params
    assert grid["problems"] == tuple(cfg.problems) and grid["seeds"] == tuple(cfg.seeds)
    assert grid["batch_sizes"] == tuple(cfg.batch_sizes) and grid["deltas"] == tuple(cfg.deltas)
    assert set(grid) == set(critical.QUICK)
    assert set(critical.QUICK_CENTRES) == {
        (p, B) for p in critical.QUICK["problems"] for B in critical.QUICK["batch_sizes"]
    }


def test_critical_main_writes_json_only_when_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(critical, "QUICK", CRITICAL_TINY)
    monkeypatch.chdir(tmp_path)
    assert critical.main(["--quick"]) == 0
    assert not (tmp_path / "benchmarks").exists()  # a smoke test leaves the committed results alone
    out = tmp_path / "r.json"
    assert critical.main(["--quick", "--json", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["grid"]["problems"] == ["kappa_10"] and len(saved["cells"]) == 2
    assert "ratio_engine_to_plain" in capsys.readouterr().out


def test_critical_main_fails_when_the_two_disagree(tmp_path, monkeypatch, capsys):
    plain = critical.plain_pass

    def off_by_one(*args):
        passages, means, steps = plain(*args)
        return passages + 1.0, means, steps

    monkeypatch.setattr(critical, "QUICK", {**CRITICAL_TINY, "batch_sizes": (4096,)})
    monkeypatch.setattr(critical, "plain_pass", off_by_one)
    assert critical.main(["--quick"]) == 1
    assert "disagree on the fewest steps in kappa_10 B=4096" in capsys.readouterr().out
