"""The study's typed parameters: a pydantic schema, loading and validating params.yaml, composing conf/.

Every rule a value must obey is a field constraint or a validator on the schema; a violation
becomes one line, ``params.yaml: <key> <what is allowed>, got <value>``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from .io import UserError
from .memory import check_memory

PARAMS_FILE = "params.yaml"
CONF_DIR = "conf"


class ParamsError(UserError):
    """A params file that is missing, unreadable or breaks the schema; the message is one line."""


def _unique(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError(f"must not repeat a value, got {values}")
    return values


def _distinct_means(means: list[list[float]]) -> list[list[float]]:
    if means[0] == means[1]:
        raise ValueError(f"must be two distinct points, got {means}")
    return means


Finite = Field(allow_inf_nan=False)
PositiveInt = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0)]
# Class means and spread up to a million: the generated features then stay far inside the data
# reader's limit (core.io.FEATURE_LIMIT), where gradients and their variances are finite.
DATA_SCALE = 1e6
Coordinate = Annotated[float, Field(ge=-DATA_SCALE, le=DATA_SCALE, allow_inf_nan=False)]
# The study's data, figures and decision boundary are in the plane: two features.
Point = Annotated[list[Coordinate], Field(min_length=2, max_length=2)]


class Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class DataParams(Section):
    n_per_class: PositiveInt
    means: Annotated[list[Point], Field(min_length=2, max_length=2), AfterValidator(_distinct_means)]
    std: Annotated[float, Field(gt=0, le=DATA_SCALE, allow_inf_nan=False)]
    test_fraction: Annotated[float, Field(gt=0, lt=1)]
    seed: Seed

    @property
    def n_test(self) -> int:
        return int(round(self.test_fraction * 2 * self.n_per_class))

    @property
    def n_train(self) -> int:
        return 2 * self.n_per_class - self.n_test

    @property
    def splits(self) -> tuple[int, int]:
        """(train rows, test rows) of the generated data."""
        return self.n_train, self.n_test


class ModelParams(Section):
    graph: Literal["linear", "scalar"]
    init: Literal["normal", "zeros"]
    init_std: Annotated[float, Field(ge=0, allow_inf_nan=False)]


LearningRate = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class TrainParams(Section):
    lr: LearningRate
    lr_scaling: Literal["none", "linear", "sqrt", "inverse"]
    lr_ref_batch: PositiveInt
    epochs: PositiveInt
    shuffle: bool


class BaselineParams(Section):
    batch_size: PositiveInt
    lr: LearningRate
    epochs: PositiveInt
    seed: Seed


class StudyParams(Section):
    name: str
    batch_sizes: Annotated[list[PositiveInt], Field(min_length=1), AfterValidator(_unique)]
    seeds: Annotated[list[Seed], Field(min_length=1), AfterValidator(_unique)]


class NoiseParams(Section):
    samples: Annotated[int, Field(ge=2)]
    enumerate_up_to: PositiveInt
    seed: Seed


Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


# A learning-rate grid's ends lie within [LR_MIN, LR_MAX]: a factor 2^80 from end to end, far wider
# than any study needs, and its rates, their ratios and a diverging run's loss stay finite floats.
LR_MIN, LR_MAX = 1e-12, 1e12


def _in_lr_range(x: float) -> float:
    if not LR_MIN <= x <= LR_MAX:
        raise ValueError(f"must lie in [{LR_MIN:g}, {LR_MAX:g}], got {x!r}")
    return x


GridEnd = Annotated[float, Field(allow_inf_nan=False), AfterValidator(_in_lr_range)]


class LrGrid(Section):
    """Learning rates start·2^(i/per_octave), i = 0, 1, …, up to stop: a log-spaced grid."""

    start: GridEnd
    stop: GridEnd
    # At most 16 rates an octave: neighbours then differ by 4 %, distinct at the tables' 10 digits.
    per_octave: Annotated[int, Field(ge=1, le=16)]

    @model_validator(mode="after")
    def _ordered(self) -> LrGrid:
        if self.stop < self.start:
            raise ValueError(f"stop must be at least start {self.start}, got {self.stop}")
        return self

    def __len__(self) -> int:
        return int(math.floor(math.log2(self.stop / self.start) * self.per_octave + 1e-9)) + 1

    def values(self) -> np.ndarray:
        """The rates, ascending (both ends included when ``stop`` is on the grid)."""
        return self.start * 2.0 ** (np.arange(len(self)) / self.per_octave)


class StepsParams(Section):
    target: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    max_steps: PositiveInt
    rules: Annotated[
        list[Literal["none", "linear", "sqrt", "inverse"]], Field(min_length=1), AfterValidator(_unique)
    ]
    seeds: Annotated[list[Seed], Field(min_length=1), AfterValidator(_unique)]
    tuned_lrs: LrGrid


def _distinct_as_written(values: list) -> list:
    """The run files write each δ with 10 significant digits: two that print alike would be one."""
    written = [f"{v:.10g}" for v in values]
    if len(set(written)) != len(written):
        raise ValueError(f"must differ in their first 10 significant digits, got {values}")
    return values


def _ascending(values: list) -> list:
    if values != sorted(values):
        raise ValueError(f"must be in ascending order, got {values}")
    return values


Correlation = Annotated[float, Field(gt=-1, lt=1, allow_inf_nan=False)]


# The critical study's problems, by canonical name: kappa_<k> is the d-dimensional Gaussian pair
# whose population Hessian at the optimum has condition number k; breast_cancer is the real set.
PROBLEM_NAME = r"kappa_[1-9][0-9]*|breast_cancer"


def _problem_name(name: str) -> str:
    if not re.fullmatch(PROBLEM_NAME, name):
        raise ValueError(
            f"must be kappa_<k> (k a positive integer, no leading zero) or breast_cancer, got {name!r}"
        )
    return name


ProblemName = Annotated[str, AfterValidator(_problem_name)]


class CriticalParams(Section):
    """The critical-batch-size study on exact populations (McCandlish et al. 2018; Shallue et al. 2018)."""

    problems: Annotated[list[ProblemName], Field(min_length=1), AfterValidator(_unique)]
    # The problems that also run McCandlish's noise-optimal step (a subset of ``problems``).
    optimal_problems: Annotated[list[ProblemName], AfterValidator(_unique)]
    # The problems that also train at constant lr from the other start (``init`` random ↔ zeros):
    # a row of the sensitivity table (a subset of ``problems``).
    init_problems: Annotated[list[ProblemName], AfterValidator(_unique)]
    batch_sizes: Annotated[
        list[PositiveInt], Field(min_length=2), AfterValidator(_unique), AfterValidator(_ascending)
    ]
    lr_grid: LrGrid
    refine_per_octave: Annotated[int, Field(ge=1, le=16)]
    seeds: Annotated[list[Seed], Field(min_length=4), AfterValidator(_unique)]
    deltas: Annotated[
        list[Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)]],
        Field(min_length=1),
        AfterValidator(_unique),
        AfterValidator(_distinct_as_written),
    ]
    init: Literal["random", "zeros"]
    max_steps: PositiveInt
    diverge_loss: Positive

    @model_validator(mode="after")
    def _optimal_subset(self) -> CriticalParams:
        for key in ("optimal_problems", "init_problems"):
            extra = [p for p in getattr(self, key) if p not in self.problems]
            if extra:
                raise ValueError(f"{key} must be among critical.problems, got {extra}")
        return self

    @property
    def other_init(self) -> str:
        """The start the sensitivity table compares against: zeros for random, random for zeros."""
        return "zeros" if self.init == "random" else "random"


class Params(Section):
    data: DataParams
    model: ModelParams
    train: TrainParams
    baseline: BaselineParams
    noise: NoiseParams
    steps: StepsParams
    study: StudyParams
    critical: CriticalParams

    @model_validator(mode="after")
    def _fits_the_data(self) -> Params:
        d = self.data
        if d.n_test < 1 or d.n_train < 1:
            raise ValueError(
                f"data.test_fraction must leave at least one row in each split of "
                f"{2 * d.n_per_class}, got {d.test_fraction}"
            )
        too_big = [b for b in self.study.batch_sizes if b > d.n_train]
        if too_big:
            raise ValueError(
                f"study.batch_sizes must be at most the training set size {d.n_train}, got {too_big}"
            )
        if self.baseline.batch_size > d.n_train:
            raise ValueError(
                f"baseline.batch_size must be at most the training set size {d.n_train}, "
                f"got {self.baseline.batch_size}"
            )
        return self

    @model_validator(mode="after")
    def _fits_in_memory(self) -> Params:
        check_memory(self)
        return self


def _describe(error: dict) -> str:
    """One pydantic error as ``<dotted key> <what is allowed>, got <value>``."""
    key = ".".join(str(part) for part in error["loc"])
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
        return f"{key} {message}" if key else message
    if error["type"] == "missing":
        return f"{key} is missing"
    if error["type"] == "extra_forbidden":
        return f"{key} is not a known key"
    # pydantic says "Input should be …" / "List should have … after validation, not 0".
    message = re.sub(r"^\w+ should ", "must ", message)
    message = re.sub(r" after validation, not \d+$", "", message)
    value = error.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        value = str(value)
    return f"{key} {message}, got {value!r}"


def validate_params(raw: object, source: str = PARAMS_FILE) -> Params:
    """The typed params, or ParamsError naming the first offending key."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: must be a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(f"{source}: {_describe(exc.errors()[0])}") from None


def read_text(path: Path, missing: str) -> str:
    """The UTF-8 text of ``path``; ParamsError (one line) if it is missing, unreadable or not UTF-8."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found; {missing}") from None
    except OSError as exc:
        raise ParamsError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParamsError(
            f"{path}: is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def parse_yaml(text: str, source: str = PARAMS_FILE):
    """YAML text parsed as DVC parses params.yaml (YAML 1.2, ``ruamel.yaml`` safe loader, an empty
    file is ``{}``): ``1e-2`` is a number, ``yes`` a string. ParamsError names the line."""
    from ruamel.yaml import YAML, YAMLError

    try:
        return YAML(typ="safe").load(text) or {}
    except YAMLError as exc:
        raise ParamsError(f"{source}: is not valid YAML{_where(exc)}") from None
    except RecursionError:
        raise ParamsError(f"{source}: is not valid params (nested too deeply)") from None


def _where(exc) -> str:
    """`` at line N (problem)`` from a (ruamel or PyYAML) YAML error, as far as it says."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    return f"{where} ({' '.join(str(problem).split())})" if problem else where


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate ``path`` as DVC reads it; every failure is a ParamsError with one line."""
    path = Path(path)
    text = read_text(path, "run `make params` to compose it from conf/")
    return validate_params(parse_yaml(text, str(path)), str(path))
