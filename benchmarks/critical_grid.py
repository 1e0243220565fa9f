"""Time ``batchgraph-critical`` sweeps: 2 joblib workers against 1 on a grid of cells, and what each
launcher adds per job.

``python -m benchmarks.critical_grid [--repeats N] [--json PATH]``. Every sweep is a fresh process
(``python -m batchgraph.cli.critical -m …``) timed from start to exit, into a scratch folder.

- Scaling: GRID (the default preset on two problems × four batch sizes: 8 cells of 2–11 s) under
  ``hydra/launcher=local`` with ``n_jobs`` 1 and 2, ``--repeats`` times each, the order of the two
  alternating from repeat to repeat so drift in a shared machine's load falls on both. Every run's
  cells must be byte-identical to the first's, or the run ends with status 1.
- Overhead: NO_WORK, cells whose stage does one update of 4 seeds (the same process, imports and
  files as a real cell, no training to speak of), swept as 1 cell and as 8 cells under each
  launcher: the startup (the 1-cell sweep's wall time), the cost of one more job ((T₈ − T₁)/7, with
  the launcher's own parallelism: 2 workers for ``local`` and ``local_ray``), and the job's own time
  inside it (the stage's process, as the job logs it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = [  # the default preset (32 seeds, 2 targets, both regimes) on two problems, four batch sizes
    "critical.problems=[kappa_10,kappa_100]",
    "critical.optimal_problems=[kappa_10,kappa_100]",
    "critical.init_problems=[]",
    "critical.batch_sizes=[4,16,64,256]",
]
NO_WORK = [
    "critical=quick",
    "critical.max_steps=1",
    "critical.seeds=[0,1,2,3]",
    "critical.optimal_problems=[]",
    "critical.batch_sizes=[1,2,3,4,5,6,7,8]",
]
LAUNCHERS = ["basic", "local", "local_submitit", "local_ray"]
CELL_TIME = re.compile(r": cell \S+ B=\d+ \([^)]*\) in ([0-9.]+) s$", re.MULTILINE)


def sweep(out: Path, *overrides: str) -> tuple[float, list[float]]:
    """Wall time of one sweep, and each job's own time as its log says."""
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "batchgraph.cli.critical", "-m", *overrides, f"hydra.sweep.dir={out}"]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"error: {' '.join(command)} failed:\n{result.stderr[-2000:]}")
    jobs = [float(m) for log in out.rglob("critical.log") for m in CELL_TIME.findall(log.read_text())]
    return wall, jobs


def cells(out: Path) -> dict[str, bytes]:
    runs = out / "critical" / "runs"
    return {str(p.relative_to(runs)): p.read_bytes() for p in sorted(runs.rglob("*")) if p.is_file()}


def scaling(scratch: Path, repeats: int) -> dict:
    walls: dict[int, list[float]] = {1: [], 2: []}
    jobs: dict[int, list[float]] = {1: [], 2: []}
    first = None
    for r in range(repeats):
        for n in (1, 2) if r % 2 == 0 else (2, 1):
            out = scratch / f"grid-{n}-{r}"
            wall, times = sweep(out, *GRID, "hydra/launcher=local", f"hydra.launcher.n_jobs={n}")
            got = cells(out)
            first = first or got
            if got != first:
                sys.exit(f"error: the cells of {out} differ from the first run's")
            walls[n].append(wall)
            jobs[n].append(sum(times))
            print(f"grid n_jobs={n} repeat {r}: {wall:.1f} s (jobs {sum(times):.1f} s)", flush=True)
    speedups = [a / b for a, b in zip(walls[1], walls[2])]
    return {
        "overrides": GRID,
        "cells": len(first) // 3,
        "wall_s": {str(n): walls[n] for n in walls},
        "job_s_sum": {str(n): jobs[n] for n in jobs},
        "speedup_paired": speedups,
        "speedup_median": statistics.median(walls[1]) / statistics.median(walls[2]),
    }


def overhead(scratch: Path) -> dict:
    found = {}
    for launcher in LAUNCHERS:
        if launcher == "local_ray" and importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None:
            continue
        choice = [] if launcher == "basic" else [f"hydra/launcher={launcher}"]
        one, one_jobs = sweep(scratch / f"{launcher}-1", *NO_WORK, *choice, "cell.bs=1")
        eight, eight_jobs = sweep(scratch / f"{launcher}-8", *NO_WORK, *choice)
        found[launcher] = {
            "one_job_s": one,
            "eight_jobs_s": eight,
            "per_more_job_s": (eight - one) / 7,
            "job_own_s": statistics.median(one_jobs + eight_jobs),
        }
        print(f"{launcher}: 1 job {one:.1f} s, 8 jobs {eight:.1f} s", flush=True)
    return found


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.critical_grid", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="critical-grid-") as scratch:
        result = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "scaling": scaling(Path(scratch), args.repeats),
            "overhead": overhead(Path(scratch)),
        }
    text = json.dumps(result, indent=2) + "\n"
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
