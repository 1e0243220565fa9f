"""`make reseed`: the critical study's constant-lr grid once more on another list of seeds of the same
length, and its B_crit set against the committed table's.

    python -m batchgraph.cli.reseed [--first 32] [--jobs 2] [--sweep DIR]

The grid runs through ``batchgraph-critical`` (one job per cell, ``hydra/launcher=local``) with
``critical.seeds`` = first … first + n − 1 and the other regimes off, and ``batchgraph-collect``
fits it with the pipeline's own ``critical_fit``. ``<sweep>/reseed.csv`` gets one row per
(problem, δ): both estimates with their 95 % intervals, whether each lies inside the other's
interval, and z = (log B'_crit − log B_crit) / √(se² + se'²), with se = (log hi − log lo)/(2·1.96),
which is close to a standard normal when both intervals are right. Even then a second estimate
falls inside the first one's 95 % interval only 83 % of the time (the difference of two estimates
has √2 times the spread of one), so the z's are the test, and the inside counts the plain reading.
"""

from __future__ import annotations

import argparse
import csv
import math
import subprocess
import sys
import time
from pathlib import Path

from ..core.config import load_params
from ..core.io import DataError, csv_text, fmt, main_guard, write_text

COLUMNS = (
    "problem", "delta", "flagged", "b_crit", "b_crit_lo", "b_crit_hi",
    "b_crit_other", "b_crit_lo_other", "b_crit_hi_other", "other_inside", "inside_other", "z",
)  # fmt: skip
Z95 = 1.959963984540054


def _table(path: Path) -> dict[tuple[str, str], dict]:
    try:
        rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro` first") from None
    return {(r["problem"], r["delta"]): r for r in rows if r["regime"] == "constant"}


def compare(committed: dict, other: dict) -> list[list]:
    """One row per (problem, δ) of ``committed`` that ``other`` has (the two critical.csv tables)."""
    rows = []
    for key, a in committed.items():
        b = other.get(key)
        if b is None:
            continue
        x, lo, hi = (float(a[k]) for k in ("b_crit", "b_crit_lo", "b_crit_hi"))
        y, lo2, hi2 = (float(b[k]) for k in ("b_crit", "b_crit_lo", "b_crit_hi"))
        se = math.hypot(math.log(hi / lo), math.log(hi2 / lo2)) / (2 * Z95)
        z = math.log(y / x) / se if se > 0 else math.nan
        rows.append([
            key[0], key[1], a["small_s_min"] == "1", x, lo, hi, y, lo2, hi2,
            lo <= y <= hi, lo2 <= x <= hi2, z,
        ])  # fmt: skip
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m batchgraph.cli.reseed", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--first", type=int, default=None, help="the new list's first seed (default: after the last)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="joblib workers")
    parser.add_argument(
        "--sweep", type=Path, default=None, help="the sweep dir (default: sweeps/reseed-<first>)"
    )
    args = parser.parse_args(argv)
    params = load_params("params.yaml")
    seeds = params.critical.seeds
    first = max(seeds) + 1 if args.first is None else args.first
    other = list(range(first, first + len(seeds)))
    if set(other) & set(seeds):
        raise DataError(f"--first {first}: the new seeds {other[0]}…{other[-1]} overlap critical.seeds")
    sweep = args.sweep or Path("sweeps") / f"reseed-{first}"
    overrides = [
        f"critical.seeds=[{','.join(map(str, other))}]", "critical.optimal_problems=[]",
        "critical.init_problems=[]", "hydra/launcher=local", f"hydra.launcher.n_jobs={args.jobs}",
        f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    started = time.perf_counter()
    print(f"reseed: the constant-lr grid on seeds {other[0]}…{other[-1]} into {sweep}", flush=True)
    for command in (
        [sys.executable, "-m", "batchgraph.cli.critical", "-m", *overrides],
        [sys.executable, "-m", "batchgraph.cli.collect", str(sweep)],
    ):
        if subprocess.run(command, check=False).returncode:
            raise DataError(f"{' '.join(command[:3])} failed; see its log above")
    rows = compare(
        _table(Path("reports/critical/critical.csv")), _table(sweep / "reports/critical/critical.csv")
    )
    write_text(
        sweep / "reseed.csv",
        csv_text(COLUMNS, [[fmt(v) if isinstance(v, float) else v for v in r] for r in rows]),
    )
    both = f"seeds {seeds[0]}…{seeds[-1]} | seeds {other[0]}…{other[-1]}"
    print(f"\n| problem | δ | B_crit, {both} | inside | z |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        flag = " (S_min<10)" if r[2] else ""
        print(
            f"| {r[0]}{flag} | {r[1]} | {fmt(r[3], 3)} [{fmt(r[4], 3)}, {fmt(r[5], 3)}] "
            f"| {fmt(r[6], 3)} [{fmt(r[7], 3)}, {fmt(r[8], 3)}] | {'yes' if r[9] else 'no'} | {r[11]:+.2f} |"
        )
    kept = [r for r in rows if not r[2]]
    if kept:
        rms = math.sqrt(sum(r[11] ** 2 for r in kept) / len(kept))
        print(
            f"\nunflagged cells: {sum(r[9] for r in kept)} of {len(kept)} inside the committed interval, "
            f"rms z {rms:.2f} (1 when the intervals are right); {time.perf_counter() - started:.0f} s"
        )


if __name__ == "__main__":
    main_guard(main)
