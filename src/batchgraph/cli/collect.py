"""Gather a sweep of ``batchgraph-sweep`` or ``batchgraph-critical`` into tables and figures.

    batchgraph-collect sweeps/<date>

A course sweep: one row per grid point and batch size, the point's overrides as columns, then the
columns of reports/summary.csv, recomputed from each point's runs/ with the pipeline's code; writes
``summary.csv``, ``summary.md`` and ``figures/`` into the sweep dir.

A critical sweep (one job per cell): runs the pipeline's ``critical_fit`` and ``critical_report``
on its cells; writes ``params.yaml``, ``cells.csv`` (every cell, done or missing and why) and
``reports/critical/`` (the stages' tables, metrics.json, figures and page) into the sweep dir.
With ``--commit``, a sweep whose cells went to a checkout's critical/runs is recorded there by
`dvc commit`, once its cells' code and params are shown to be the checkout's.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from ..core.config import load_params
from ..core.io import DataError, UserError, csv_text, main_guard, write_dir, write_text
from ..report import figures as rep
from ..tables.summary import curves_table, markdown_table, study_history, summary_table, table_csv
from . import critical as cells
from .points import ERROR_FILE

log = logging.getLogger(__name__)


def _job_order(sweep_dir: Path):
    def order(path: Path):
        rel = path.relative_to(sweep_dir)
        return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in rel.parts]

    return order


def find_points(sweep_dir: Path) -> list[Path]:
    """Every finished job dir under ``sweep_dir`` (it has params.yaml and runs/), in job order."""
    points = [p.parent for p in sweep_dir.rglob("params.yaml") if (p.parent / "runs").is_dir()]
    return sorted(points, key=_job_order(sweep_dir))


def missing_points(sweep_dir: Path, finished: list[Path]) -> dict[str, str]:
    """Job dirs (they have Hydra's .hydra/) that did not finish: {job: why}, from the job's error.txt."""
    jobs = sorted((p.parent for p in sweep_dir.rglob(".hydra") if p.is_dir()), key=_job_order(sweep_dir))
    missing = {}
    for job in jobs:
        if job in finished:
            continue
        missing[job.relative_to(sweep_dir).as_posix()] = _why_failed(job / ERROR_FILE)
    return missing


def _why_failed(error: Path) -> str:
    """A failed job's reason from its error.txt, or what is wrong with that file."""
    if not error.is_file():
        return "did not finish (no results)"
    try:
        return error.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        return f"failed; its {ERROR_FILE} is not UTF-8 text"
    except OSError as exc:
        return f"failed; its {ERROR_FILE} cannot be read ({exc.strerror})"


def point_overrides(point: Path) -> dict[str, str]:
    """The job's command-line overrides (``.hydra/overrides.yaml``) as {key: value}, parsed by
    Hydra's own override parser."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    path = point / ".hydra" / "overrides.yaml"
    if not path.exists():
        return {}
    try:
        overrides = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        parsed = OverridesParser.create().parse_overrides(overrides)
    except UnicodeDecodeError:
        raise DataError(f"{path}: is not UTF-8 text") from None
    except (yaml.YAMLError, HydraException) as exc:
        raise DataError(f"{path}: is not a list of overrides ({str(exc).splitlines()[0]})") from None
    return {o.key_or_group: o.get_value_element_as_str() for o in parsed}


def collect(sweep_dir: str | Path, damaged: dict[str, str] | None = None):
    """The sweep's summary table, each point's curves table, and the override columns.

    A point whose files are damaged (half-written, not UTF-8, not what the params say) is left
    out and named in ``damaged`` {point: why}, like a failed one; with none left, a DataError."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise DataError(f"{sweep_dir}: not a directory")
    points = find_points(sweep_dir)
    if not points:
        missing = missing_points(sweep_dir, [])
        why = f"; {len(missing)} failed, e.g. {next(iter(missing.values()))}" if missing else ""
        raise DataError(
            f"{sweep_dir}: has no finished grid points (job dirs with params.yaml and runs/){why}"
        )
    damaged = {} if damaged is None else damaged
    tables, curves, overrides = [], {}, {}
    for point in points:
        name = point.relative_to(sweep_dir).as_posix()
        try:
            params = load_params(point / "params.yaml")
            history, lrs = study_history(params.study.batch_sizes, point / "runs")
            overrides[name] = point_overrides(point)
        except UserError as exc:
            damaged[name] = f"damaged, left out: {exc}"
            continue
        tables.append(summary_table(history, lrs).assign(point=name))
        curves[name] = curves_table(history, params.data.n_train)
    if not tables:
        first = next(iter(damaged.items()))
        raise DataError(f"{sweep_dir}: every finished point is damaged, e.g. point {first[0]}: {first[1]}")
    columns = list(dict.fromkeys(k for o in overrides.values() for k in o))
    summary = pd.concat(tables, ignore_index=True)
    for key in columns:
        summary[key] = summary["point"].map(lambda name, key=key: overrides[name].get(key, ""))
    front = ["point", *columns]
    return summary[front + [c for c in summary.columns if c not in front]], curves, columns


CELLS_COLUMNS = ("problem", "batch_size", "status", "job", "reason")


def main_cells(sweep_dir: Path, commit: bool) -> None:
    """A critical sweep: the pipeline's critical_fit and critical_report on its finished problems;
    with ``commit``, `dvc commit` of its cells in the checkout they were written to instead."""
    got = cells.collect_cells(sweep_dir)
    write_text(sweep_dir / "cells.csv", csv_text(CELLS_COLUMNS, got.cells))
    if commit:
        _commit_cells(got)
    elif got.params_text is None:
        raise DataError(
            f"{sweep_dir}: no problem has all its cells; "
            f"{len(got.missing)} missing, e.g. {got.missing[0][2:]}"
        )
    else:
        write_text(sweep_dir / "params.yaml", got.params_text)
        reports = sweep_dir / "reports" / "critical"
        params = ("--params", str(sweep_dir / "params.yaml"))
        for stage, args in (
            ("critical_fit", ("--runs", str(got.runs), "--out", str(reports))),
            ("critical_report", ("--tables", str(reports), "--out", str(reports))),
        ):
            reason = cells.run_stage(stage, *params, *args)
            if reason is not None:
                raise DataError(f"{stage} on {sweep_dir}: {reason}")
        log.info("wrote params.yaml, cells.csv and %s", reports)
    if got.missing:
        log.warning("%d cell(s) missing:\n%s", len(got.missing), "\n".join(got.missing))


def _commit_cells(got) -> None:
    """`dvc commit` the finished cells in their checkout, once their code and params are its own."""
    if not got.finished:
        raise DataError("no cell of this sweep finished: nothing to commit")
    checkout = cells.check_inputs(got.finished, got.runs)
    stages = [cells.cell_stage(s, p, B) for (p, B), job in got.finished.items() for s in job.stages]
    dvc = subprocess.run(
        [sys.executable, "-m", "dvc", "commit", "--force", "--quiet", *stages],
        cwd=checkout, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if dvc.returncode:
        why = (dvc.stderr or dvc.stdout).strip().splitlines()
        raise DataError(f"dvc commit in {checkout} failed: {why[0] if why else dvc.returncode}")
    log.info(
        "dvc commit recorded %d cell(s) in %d stage(s) in %s/critical/dvc.lock: %s",
        len(got.finished), len(stages), checkout, ", ".join(s.rpartition(":")[2] for s in stages),
    )  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="batchgraph-collect", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a sweep's output dir, e.g. sweeps/<date>")
    parser.add_argument(
        "--commit", action="store_true",
        help="a critical sweep written into a checkout (cell.runs=critical/runs): dvc commit its cells",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.sweep_dir.is_dir() and cells.is_cell_sweep(args.sweep_dir):
        main_cells(args.sweep_dir, args.commit)
        return
    if args.commit:
        raise DataError(f"{args.sweep_dir}: --commit is for a batchgraph-critical sweep, and this is not one")
    damaged: dict[str, str] = {}
    summary, curves, columns = collect(args.sweep_dir, damaged)
    out = args.sweep_dir
    missing = missing_points(out, find_points(out)) | damaged
    notes = "".join(f"- point {job}: {why}\n" for job, why in missing.items())
    write_text(out / "summary.csv", table_csv(summary))
    write_text(
        out / "summary.md", markdown_table(summary) + (f"\nMissing points:\n\n{notes}" if notes else "")
    )
    figures = {"final_vs_batch.png": rep.png(rep.sweep_figure(summary, columns))}
    for name, c in curves.items():
        rows = summary[summary["point"] == name]
        note = ", ".join(f"{k}={rows.iloc[0][k]}" for k in columns) or name
        figures[f"{name}/loss_curves.png"] = rep.png(rep.loss_curves_figure(c, title_note=f" ({note})"))
        figures[f"{name}/final_vs_batch.png"] = rep.png(rep.final_figure(rows))
        figures[f"{name}/loss_vs_updates.png"] = rep.png(rep.updates_figure(c))
    write_dir(out / "figures", figures)
    shown = ["point", *columns, "batch_size", "lr", "train_loss_mean", "test_accuracy_mean", "diverged"]
    log.info("%s", markdown_table(summary[shown]).rstrip("\n"))
    log.info("wrote summary.csv, summary.md and %d figures in %s", len(figures), out)
    if missing:
        log.warning("%d point(s) missing:\n%s", len(missing), notes.rstrip("\n"))


def cli() -> None:
    """The ``batchgraph-collect`` command: progress and the table on stdout, missing points on stderr."""
    out = logging.StreamHandler(sys.stdout)
    out.addFilter(lambda record: record.levelno < logging.WARNING)
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.WARNING)
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[out, err])
    main_guard(main)


if __name__ == "__main__":
    cli()
