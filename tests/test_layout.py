"""The package layout keeps dvc.yaml's code deps exact: every file a stage imports is one of its deps,
the engine stands alone, nothing imports a stage, and a stage loads only the libraries it uses."""

from __future__ import annotations

import ast
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import dvc_stages

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "batchgraph"
STAGES = dvc_stages()


def module_file(name: str) -> Path | None:
    """The file of a module of the package (its __init__.py for a package), or None outside it."""
    path = SRC.joinpath(*name.split("."))
    if path.is_dir():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module of the package that ``path`` imports, anywhere in the file, with its parents."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module
            found.add(stem)
            found |= {f"{stem}.{alias.name}" for alias in node.names}  # `from pkg import module`
    names = set()
    for name in found:
        parts = name.split(".")
        names |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return {n for n in names if n.split(".")[0] == "batchgraph" and module_file(n)}


def closure(modules: set[str]) -> set[Path]:
    """The files of ``modules`` and of everything they import inside the package, transitively."""
    todo, seen = list(modules), set()
    while todo:
        name = todo.pop()
        path = module_file(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        todo += imported_modules(path)
    return seen


def stage_modules(stage: dict) -> set[str]:
    """The modules a stage's command runs: ``python -m batchgraph.stages <name>`` runs the runner,
    which imports ``batchgraph.stages.<name>``."""
    words = shlex.split(stage.get("do", stage)["cmd"])
    runner = words[words.index("-m") + 1]
    return {runner, f"{runner}.__main__", f"{runner}.{words[words.index('-m') + 2]}"}


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT)
    return any(rel == Path(d) or Path(d) in rel.parents for d in deps)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_file_a_stage_imports_is_among_its_deps(name):
    stage = STAGES[name].get("do", STAGES[name])
    files = closure(stage_modules(STAGES[name]))
    assert len(files) > 3
    missing = sorted(str(f.relative_to(ROOT)) for f in files if not covered(f, stage["deps"]))
    assert missing == [], f"stage {name} imports files that are not among its deps: {missing}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_no_stage_lists_a_folder_it_mostly_does_not_run(name):
    """The converse: a folder among a stage's deps is code the stage runs, at least half of its
    files, so an edit elsewhere in the package does not re-run the stage for nothing."""
    stage = STAGES[name].get("do", STAGES[name])
    files = closure(stage_modules(STAGES[name]))
    for dep in stage["deps"]:
        folder = ROOT / dep
        if not (folder.is_dir() and PACKAGE in folder.parents):
            continue
        mine = sorted(folder.rglob("*.py"))
        used = [f for f in mine if f in files]
        assert 2 * len(used) >= len(mine), (
            f"stage {name} lists {dep} but runs {len(used)} of its {len(mine)} files: "
            f"{[f.name for f in used]}; list the files, or move them"
        )


def test_every_stage_module_is_a_stage_and_every_stage_has_its_module():
    """stages/ is exactly the stages of the pipeline files, one module each, plus the runner."""
    modules = {p.stem for p in (PACKAGE / "stages").glob("*.py")} - {"__init__", "__main__"}
    named = {shlex.split(s.get("do", s)["cmd"])[4] for s in STAGES.values()}
    assert modules == named == set(STAGES)


def test_the_closure_walk_finds_imports():
    """The checker itself: a stage's closure holds what its module really imports."""
    files = {f.relative_to(PACKAGE).as_posix() for f in closure({"batchgraph.stages.report"})}
    assert {"report/figures.py", "report/writeup.py", "tables/summary.py", "engine/graph.py"} <= files
    files = {f.relative_to(PACKAGE).as_posix() for f in closure({"batchgraph.stages.generate"})}
    assert not any(f.startswith(("engine/", "tables/", "report/")) for f in files), files


def test_the_engine_imports_nothing_from_the_study_and_nothing_imports_a_stage():
    for path in PACKAGE.rglob("*.py"):
        imports = imported_modules(path)
        if "engine" in path.relative_to(PACKAGE).parts:
            assert all(n.startswith("batchgraph.engine") or n == "batchgraph" for n in imports), path
        if "stages" not in path.relative_to(PACKAGE).parts:
            assert not any(n.startswith("batchgraph.stages") for n in imports), path
        elif path.name not in ("__init__.py", "__main__.py"):
            stage_imports = {n for n in imports if n.startswith("batchgraph.stages.")}
            assert stage_imports == set(), f"{path} imports another stage: {stage_imports}"


HEAVY = ("pandas", "matplotlib", "pydantic", "batchgraph.engine", "hydra")
NEEDS = {
    "generate": {"pydantic"},
    "baseline": {"pydantic", "batchgraph.engine"},
    "train": {"pydantic", "batchgraph.engine"},
    "published": {"pydantic", "batchgraph.engine"},
    "noise": {"pydantic", "batchgraph.engine"},
    "steps": {"pydantic", "batchgraph.engine"},
    "aggregate": {"pydantic", "pandas"},
    "report": {"pydantic", "pandas", "batchgraph.engine"},  # matplotlib loads when it draws
    "critical_train": {"pydantic", "batchgraph.engine"},
    "critical_optimal": {"pydantic", "batchgraph.engine"},
    "critical_init": {"pydantic", "batchgraph.engine"},
    "critical_fit": {"pydantic", "batchgraph.engine"},
    "critical_report": {"pydantic", "pandas"},
}


@pytest.mark.parametrize("stage", sorted(NEEDS))
def test_a_stage_loads_only_the_libraries_it_uses(stage):
    code = (
        "import sys, importlib; importlib.import_module('batchgraph.stages.' + sys.argv[1]); "
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, stage], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert set(result.stdout.split()) == NEEDS[stage]
