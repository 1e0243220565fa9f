"""Every params combination the schema accepts runs through every stage to a report: hypothesis
draws small valid params, and each stage's code runs on them in a scratch folder, in dvc.yaml's
order and with its paths (a value is either refused up front or runs to the end)."""

from __future__ import annotations

import contextlib
import io
import os

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from batchgraph.core.config import validate_params
from batchgraph.stages.__main__ import run
from helpers import default_params, stage_args

pytestmark = pytest.mark.slow

COURSE = ["generate", "baseline", "train", "published", "noise", "steps", "aggregate"]


@st.composite
def valid_params(draw):
    params = default_params()
    n_per_class = draw(st.integers(4, 30))
    params["data"] |= {"n_per_class": n_per_class, "seed": draw(st.integers(0, 3))}
    n_train = 2 * n_per_class - int(round(0.25 * 2 * n_per_class))
    sizes = st.lists(st.integers(1, n_train), min_size=1, max_size=3, unique=True)
    params["study"] |= {
        "batch_sizes": draw(sizes),
        "seeds": draw(st.lists(st.integers(0, 9), min_size=1, max_size=2, unique=True)),
    }
    params["train"] |= {
        "lr": draw(st.sampled_from([1e-3, 0.1, 2.0, 1e3])),  # 1e3 diverges
        "epochs": draw(st.integers(1, 3)),
        "lr_scaling": draw(st.sampled_from(["none", "linear", "sqrt", "inverse"])),
        "shuffle": draw(st.booleans()),
    }
    params["model"] |= {
        "graph": draw(st.sampled_from(["linear", "scalar"])),
        "init": draw(st.sampled_from(["normal", "zeros"])),
    }
    params["baseline"] |= {"epochs": draw(st.integers(1, 3)), "batch_size": draw(st.integers(1, n_train))}
    params["noise"] |= {"samples": draw(st.integers(2, 20)), "enumerate_up_to": draw(st.integers(1, 50))}
    params["steps"] |= {
        "max_steps": draw(st.integers(1, 30)),
        "target": draw(st.sampled_from([0.01, 0.3, 0.69])),
        "seeds": draw(st.lists(st.integers(0, 9), min_size=1, max_size=2, unique=True)),
    }
    problems = draw(
        st.lists(
            st.sampled_from(["kappa_1", "kappa_30", "breast_cancer"]), min_size=1, max_size=2, unique=True
        )
    )
    params["critical"] |= {
        "problems": problems,
        "optimal_problems": draw(st.lists(st.sampled_from(problems), max_size=len(problems), unique=True)),
        "init_problems": draw(st.lists(st.sampled_from(problems), max_size=len(problems), unique=True)),
        "batch_sizes": sorted(
            draw(st.lists(st.sampled_from([1, 2, 8, 64]), min_size=2, max_size=3, unique=True))
        ),
        "lr_grid": {"start": 0.25, "stop": draw(st.sampled_from([0.25, 1.0, 4.0])), "per_octave": 1},
        "refine_per_octave": draw(st.sampled_from([1, 4])),
        "seeds": [0, 1, 2, 3],
        "deltas": draw(st.lists(st.sampled_from([0.3, 0.1, 0.001]), min_size=1, max_size=2, unique=True)),
        "init": draw(st.sampled_from(["random", "zeros"])),
        "max_steps": draw(st.integers(1, 40)),
    }
    validate_params(params)  # the strategy draws accepted params only
    return params


MATRIX = ("critical_train", "critical_optimal", "critical_init")  # the critical study's matrix stages


def run_stage(stage: str, each=(None,)) -> None:
    """``stage`` with dvc.yaml's arguments, in-process in ``folder``; a refusal or crash fails."""
    for item in each:
        if stage in MATRIX:  # ${item.problem} and ${item.bs}
            name, bs = item
            args = [
                a.replace("${item.problem}", name).replace("${item.bs}", str(bs)) for a in stage_args(stage)
            ]
        else:
            args = stage_args(stage, item)
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            try:
                run([stage, *args])
            except SystemExit as exc:
                raise AssertionError(f"{stage} {args} exited {exc.code}: {err.getvalue()}") from None


# No shrinking: a failing example is reported as drawn (every stage runs for each, so shrinking is slow).
@settings(
    max_examples=6,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(params=valid_params())
def test_every_accepted_params_runs_every_stage_to_a_report(tmp_path_factory, params):
    folder = tmp_path_factory.mktemp("valid")
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        for stage in COURSE:
            each = [str(b) for b in params["study"]["batch_sizes"]] if stage == "train" else [None]
            run_stage(stage, each)
        crit = params["critical"]
        for stage, key in (("critical_train", "problems"), ("critical_optimal", "optimal_problems"),
                           ("critical_init", "init_problems")):  # fmt: skip
            run_stage(stage, [(p, b) for p in crit[key] for b in crit["batch_sizes"]])
        run_stage("critical_fit")
        run_stage("critical_report")
        run_stage("report")  # its last section reads the critical study's table
    finally:
        os.chdir(cwd)
    report = (folder / "reports" / "report.md").read_text()
    assert report.startswith("#") and len(report.splitlines()) > 20
    assert (folder / "reports" / "critical" / "report.md").read_text().startswith("#")
