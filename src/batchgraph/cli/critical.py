"""The critical study's grid as a Hydra app, one cell (problem × batch size) per job, for Hydra's
launchers (joblib, submitit, Ray).

    batchgraph-critical -m critical=quick hydra/launcher=local

A job composes the project's conf/ (``conf/critical_grid.yaml`` adds the ``cell`` keys and the
sweep over cells), validates the result with the params schema and its cell against the grid, and
only then runs the pipeline's own commands for that cell, ``python -m batchgraph.stages
critical_train`` and, for a problem in ``critical.optimal_problems`` or ``critical.init_problems``,
``critical_optimal`` and ``critical_init``, with the job's composed params.yaml: the cell folders
get exactly the files `dvc repro` writes. ``batchgraph-collect <sweep dir>`` then runs the
pipeline's ``critical_fit`` and ``critical_report`` on the cells (``collect_cells`` below).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from ..core.config import PARAMS_FILE, Params, parse_yaml, validate_params
from ..core.io import DataError, UserError, write_json, write_text
from ..critical.cells import cell_dir
from ..critical.cells import stages_of as _stages_of
from .points import CELL_FILE, ERROR_FILE

log = logging.getLogger(__name__)
# The repository's conf/ and src/, the ones DVC composes and runs: the app needs the source
# checkout (pip install -e .), and its jobs run the stages of the same src/.
CONF_DIR = Path(__file__).resolve().parents[3] / "conf"
SRC_DIR = Path(__file__).resolve().parents[2]

# `-m` sweeps the grid the composed config names: hydra.sweeper.params lists its problems and
# batch sizes through this resolver (registered on import, so in every launcher's worker too).
OmegaConf.register_new_resolver("bg.csv", lambda xs: ",".join(str(x) for x in xs), replace=True)


@dataclass(frozen=True)
class Cell:
    problem: str
    batch_size: int
    runs: Path  # the critical/runs its folders go to
    stages: tuple[str, ...]  # the training stages with a folder for this cell
    params_text: str  # the composed params.yaml
    checkout: Path | None  # the checkout whose critical/runs gets the cell, if any

    def out(self, stage: str) -> Path:
        return cell_dir(self.runs, self.problem, self.batch_size, stage)


def cell_stage(stage: str, problem: str, batch_size: int) -> str:
    """One stage of a cell, as `dvc status` and `dvc commit` know it."""
    return f"critical/dvc.yaml:{stage}@{problem}-{batch_size}"


def run_stage(stage: str, *args: str) -> str | None:
    """``python -m batchgraph.stages <stage> <args>`` of this src/, its output lines logged as they
    come; None when it succeeds, else its one-line reason (the stage's ``error:`` line)."""
    path = os.pathsep.join(filter(None, [str(SRC_DIR), os.environ.get("PYTHONPATH")]))
    env = os.environ | {"PYTHONPATH": path}
    command = [sys.executable, "-m", "batchgraph.stages", stage, *args]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, encoding="utf-8"
    )
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True)
    reader.start()
    for line in proc.stdout:
        log.info("%s", line.rstrip("\n"))
    status = proc.wait()
    reader.join()
    if status == 0:
        return None
    lines = [e.strip() for e in errors if e.strip()]
    for line in lines:
        log.error("%s", line)
    said = [e.removeprefix("error: ") for e in lines if e.startswith("error: ")]
    return (said or lines or [f"{stage} exited with status {status}"])[-1]


def inputs_of(checkout: Path, stage: str) -> dict[str, str]:
    """What `dvc commit` would record as a cell's inputs to ``stage``: a hash of the files among its
    deps in critical/dvc.yaml (bytecode caches left out) and one of params.yaml."""
    deps = yaml.safe_load((checkout / "critical" / "dvc.yaml").read_text(encoding="utf-8"))["stages"][stage]
    code = hashlib.sha256()
    for dep in deps["deps"]:
        path = checkout / dep
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            if "__pycache__" not in f.parts:
                code.update(f.relative_to(checkout).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    params = hashlib.sha256((checkout / PARAMS_FILE).read_bytes())
    return {"code": code.hexdigest(), "params": params.hexdigest()}


def _checkout_of(runs: Path) -> Path | None:
    """The checkout whose critical/runs ``runs`` is, or None."""
    if runs.name == "runs" and runs.parent.name == "critical" and (runs.parent / "dvc.yaml").is_file():
        return runs.parent.parent
    return None


def plan_cell(cfg: DictConfig, root: Path, label: str) -> Cell:
    """The job's cell, or a UserError: the composed params pass the schema, the cell is in the
    grid, and a checkout's critical/runs is written only with that checkout's params and code."""
    try:
        problem, batch_size, runs = cfg.cell.problem, cfg.cell.bs, cfg.cell.runs
    except MissingMandatoryValue:
        raise UserError(
            "cell.problem and cell.bs pick the cell (e.g. cell.problem=kappa_10 cell.bs=64); "
            "-m runs every cell of critical.problems × critical.batch_sizes"
        ) from None
    task = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "cell"])
    OmegaConf.resolve(task)
    params_text = OmegaConf.to_yaml(task)
    params: Params = validate_params(OmegaConf.to_container(task), f"conf/ with {label}")
    grid = params.critical
    if problem not in grid.problems:
        raise UserError(f"cell.problem must be one of critical.problems {grid.problems}, got {problem!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size not in grid.batch_sizes:
        raise UserError(f"cell.bs must be one of critical.batch_sizes {grid.batch_sizes}, got {batch_size!r}")
    runs = Path(runs) if runs is not None else root / "critical" / "runs"
    checkout = _checkout_of(runs.resolve())
    if checkout is not None:
        if (checkout / PARAMS_FILE).read_text(encoding="utf-8") != params_text:
            raise UserError(
                f"cell.runs={runs} is a checkout's critical/runs, but {checkout / PARAMS_FILE} is not this "
                "composition of conf/: `dvc commit` would record the cell under other params "
                "(run `make params` there, or drop the overrides)"
            )
        if checkout.resolve() != SRC_DIR.parent:
            raise UserError(
                f"cell.runs={runs} is a checkout's critical/runs, but this app runs the code in {SRC_DIR}: "
                "a checkout's cells must be computed by its own src/ (run the app from that checkout)"
            )
    return Cell(problem, batch_size, runs, tuple(_stages_of(problem, params)), params_text, checkout)


@hydra.main(config_path=str(CONF_DIR), config_name="critical_grid", version_base="1.3")
def app(cfg: DictConfig) -> dict | None:
    """One cell: validate, write params.yaml and cell.json into the job dir, run its stages.

    In a sweep (``-m``) a cell that fails costs only itself: its reason goes to ``error.txt`` in its
    job dir (``batchgraph-collect`` names it) and the launcher goes on with the other cells.
    """
    hc = HydraConfig.get()
    job_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    label = " ".join(hc.overrides.task) or "(no overrides)"
    started = time.perf_counter()
    for stale in (ERROR_FILE, CELL_FILE):  # a job dir reused by a sweep run again
        (job_dir / stale).unlink(missing_ok=True)
    try:
        cell = plan_cell(cfg, Path(hc.sweep.dir if multirun else hc.run.dir), label)
        write_text(job_dir / PARAMS_FILE, cell.params_text)
        write_json(job_dir / CELL_FILE, {
            "problem": cell.problem,
            "batch_size": cell.batch_size,
            "runs": str(cell.runs.resolve()),
            "stages": list(cell.stages),
            "inputs": {s: inputs_of(cell.checkout, s) for s in cell.stages} if cell.checkout else None,
        })  # fmt: skip
        reason = None
        for stage in cell.stages:
            reason = run_stage(
                stage, "--params", str(job_dir / PARAMS_FILE), "--problem", cell.problem,
                "--batch-size", str(cell.batch_size), "--out", str(cell.out(stage)),
            )  # fmt: skip
            if reason is not None:
                reason = f"{stage}: {reason}"
                break
    except (UserError, MemoryError, OmegaConfBaseException) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if reason is not None:
        if not multirun:
            print(f"error: {reason}", file=sys.stderr)
            raise SystemExit(1)
        log.error("error: %s", reason)
        write_text(job_dir / ERROR_FILE, reason + "\n")
        return None
    seconds = time.perf_counter() - started
    log.info(
        "%s: cell %s B=%d (%s) in %.1f s",
        label,
        cell.problem,
        cell.batch_size,
        ", ".join(cell.stages),
        seconds,
    )
    return {"problem": cell.problem, "batch_size": cell.batch_size, "seconds": seconds}


# ---- the collector ------------------------------------------------------------------------------


def is_cell_sweep(sweep_dir: Path) -> bool:
    """A sweep of this app: one of its job dirs has Hydra's config with a ``cell`` key."""
    for config in sweep_dir.rglob(".hydra/config.yaml"):
        try:
            if "cell" in (yaml.safe_load(config.read_text(encoding="utf-8")) or {}):
                return True
        except (yaml.YAMLError, UnicodeDecodeError, AttributeError, TypeError):
            continue
    return False


@dataclass
class Job:
    dir: Path
    problem: str | None
    batch_size: int | None
    runs: Path | None
    stages: list[str]
    inputs: dict | None  # stage -> its inputs (inputs_of), for a cell written into a checkout
    error: str | None

    def finished(self) -> bool:
        """Every stage of the cell wrote its folder to the end (run.json is written last)."""
        return self.runs is not None and all(
            (cell_dir(self.runs, self.problem, self.batch_size, s) / "run.json").is_file()
            for s in self.stages
        )


def _read_job(job_dir: Path) -> Job:
    info = job_dir / CELL_FILE
    error = job_dir / ERROR_FILE
    why = error.read_text(encoding="utf-8").strip() if error.is_file() else None
    if info.is_file():
        try:
            c = json.loads(info.read_text(encoding="utf-8"))
            return Job(
                job_dir,
                c["problem"],
                c["batch_size"],
                Path(c["runs"]),
                list(c["stages"]),
                c.get("inputs"),
                why,
            )
        except (json.JSONDecodeError, KeyError, TypeError):
            raise DataError(f"{info}: is not a cell record; re-run the job") from None
    # A job refused before it knew its cell still names one, in its overrides.
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    cell = {}
    overrides = job_dir / ".hydra" / "overrides.yaml"
    try:
        listed = yaml.safe_load(overrides.read_text(encoding="utf-8")) if overrides.is_file() else []
        cell = {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(listed or [])}
    except (yaml.YAMLError, HydraException, TypeError):
        raise DataError(f"{overrides}: is not a list of overrides") from None
    return Job(job_dir, cell.get("cell.problem"), cell.get("cell.bs"), None, [], None, why)


@dataclass
class Collected:
    params_text: str | None  # the params to fit with (the grid's, less incomplete problems), or None
    runs: Path | None  # the folder holding the finished cells
    cells: list[list]  # problem, batch_size, status, job, reason
    missing: list[str]  # one line per missing cell or failed job
    finished: dict[tuple[str, int], Job]


def collect_cells(sweep_dir: Path) -> Collected:
    """A cell sweep's grid, its cells (done or missing, and why) and the params to fit the finished
    problems with: a problem with a missing cell is left out of the fit (and named)."""
    jobs = [_read_job(p.parent) for p in sorted(sweep_dir.rglob(".hydra")) if p.is_dir()]
    texts = {}
    for job in jobs:
        if (job.dir / PARAMS_FILE).is_file():
            texts.setdefault((job.dir / PARAMS_FILE).read_text(encoding="utf-8"), job.dir)
    if not texts:
        why = next((f"; e.g. {j.error}" for j in jobs if j.error), "")
        raise DataError(f"{sweep_dir}: has no cells that passed the params check{why}")
    if len(texts) > 1:
        a, b = sorted(texts.values())[:2]
        raise DataError(
            f"{a / PARAMS_FILE} and {b / PARAMS_FILE} differ: a critical sweep is one grid; "
            "sweep one setting at a time"
        )
    (text,) = texts
    grid = parse_yaml(text)["critical"]
    by_cell = {(j.problem, j.batch_size): j for j in jobs}
    cells, missing, finished = [], [], {}
    for problem in grid["problems"]:
        for B in grid["batch_sizes"]:
            job = by_cell.get((problem, B))
            rel = job.dir.relative_to(sweep_dir).as_posix() if job else ""
            if job is None:
                why = "no job of this sweep ran it"
            elif job.error:
                why = job.error
            elif not job.finished():
                why = "did not finish (no results)"
            else:
                why = None
                finished[(problem, B)] = job
            cells.append([problem, B, "missing" if why else "done", rel, why or ""])
            if why:
                missing.append(f"- cell {problem} B={B}" + (f" ({rel})" if rel else "") + f": {why}")
    for job in jobs:  # a job refused for a cell outside the grid
        if (job.problem, job.batch_size) not in {(c[0], c[1]) for c in cells} and job.error:
            missing.append(f"- job {job.dir.relative_to(sweep_dir).as_posix()}: {job.error}")
    roots = {j.runs for j in finished.values()}
    if len(roots) > 1:
        raise DataError(f"{sweep_dir}: its cells were written to several folders {sorted(map(str, roots))}")
    complete = [p for p in grid["problems"] if all((p, B) in finished for B in grid["batch_sizes"])]
    fit_text = text if complete else None
    if complete and complete != grid["problems"]:
        cfg = OmegaConf.create(text)
        cfg.critical.problems = complete
        cfg.critical.optimal_problems = [p for p in grid["optimal_problems"] if p in complete]
        cfg.critical.init_problems = [p for p in grid["init_problems"] if p in complete]
        fit_text = OmegaConf.to_yaml(cfg)
    return Collected(fit_text, roots.pop() if roots else None, cells, missing, finished)


def check_inputs(finished: dict, runs: Path | None) -> Path:
    """The checkout of an in-place sweep, when the code and params its cells were computed with are
    still the checkout's; otherwise a UserError: `dvc commit` would record them under other inputs."""
    checkout = _checkout_of(runs.resolve()) if runs is not None else None
    if checkout is None:
        raise UserError(
            f"{runs or 'this sweep'}: its cells are not in a checkout's critical/runs; "
            "run the sweep in the checkout with cell.runs=critical/runs"
        )
    now = {}
    for (problem, B), job in finished.items():
        for stage in job.stages:
            now.setdefault(stage, inputs_of(checkout, stage))
            had = (job.inputs or {}).get(stage) or {}
            what = " and ".join(k for k in ("code", "params") if had.get(k) != now[stage][k])
            if not what:
                continue
            raise UserError(
                f"cell {problem} B={B} ({stage}) was computed with other {what} than {checkout} has now; "
                "re-run the sweep, or restore them (dvc commit would record the cell under the wrong inputs)"
            )
    return checkout


def cli() -> None:
    """The ``batchgraph-critical`` command."""
    app()


if __name__ == "__main__":
    app()
