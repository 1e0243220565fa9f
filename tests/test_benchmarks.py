"""The benchmark runner on tiny sizes: it runs, reports every case, and every variant trains alike."""

from __future__ import annotations

import json

import pytest
from benchmarks import run as bench

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
