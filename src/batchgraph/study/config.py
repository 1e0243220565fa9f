"""The study's typed parameters: a pydantic schema, loading and validating params.yaml, composing conf/.

Every rule a value must obey is a field constraint or a validator on the schema; a violation
becomes one line, ``params.yaml: <key> <what is allowed>, got <value>``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from .io import UserError

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
# The study's data, figures and decision boundary are in the plane: two features.
Point = Annotated[list[Annotated[float, Finite]], Field(min_length=2, max_length=2)]


class Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class DataParams(Section):
    n_per_class: PositiveInt = 100
    means: Annotated[list[Point], Field(min_length=2, max_length=2), AfterValidator(_distinct_means)] = [
        [1.0, 2.0],
        [1.0, -2.0],
    ]
    std: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.25
    seed: Seed = 0

    @property
    def n_test(self) -> int:
        return int(round(self.test_fraction * 2 * self.n_per_class))

    @property
    def n_train(self) -> int:
        return 2 * self.n_per_class - self.n_test


class ModelParams(Section):
    graph: Literal["linear", "scalar"] = "linear"
    init: Literal["normal", "zeros"] = "normal"
    init_std: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.1


LearningRate = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class TrainParams(Section):
    lr: LearningRate = 0.01
    lr_scaling: Literal["none", "linear", "sqrt", "inverse"] = "none"
    lr_ref_batch: PositiveInt = 1
    epochs: PositiveInt = 20
    shuffle: bool = True


class BaselineParams(Section):
    batch_size: PositiveInt = 1
    lr: LearningRate = 0.01
    epochs: PositiveInt = 100
    seed: Seed = 0


class StudyParams(Section):
    name: str = "seed_report"
    batch_sizes: Annotated[list[PositiveInt], Field(min_length=1), AfterValidator(_unique)] = [
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        150,
    ]
    seeds: Annotated[list[Seed], Field(min_length=1), AfterValidator(_unique)] = [0, 1, 2, 3, 4]


class NoiseParams(Section):
    samples: Annotated[int, Field(ge=2)] = 2000
    enumerate_up_to: PositiveInt = 20_000
    seed: Seed = 0


class StepsParams(Section):
    target: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 0.1
    max_steps: PositiveInt = 20_000
    rules: Annotated[
        list[Literal["none", "linear", "sqrt", "inverse"]], Field(min_length=1), AfterValidator(_unique)
    ] = ["none", "linear", "sqrt"]
    seeds: Annotated[list[Seed], Field(min_length=1), AfterValidator(_unique)] = [0, 1, 2, 3, 4]


def _ascending(values: list) -> list:
    if values != sorted(values):
        raise ValueError(f"must be in ascending order, got {values}")
    return values


Correlation = Annotated[float, Field(gt=-1, lt=1, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class LrGrid(Section):
    """Learning rates start·2^(i/per_octave), i = 0, 1, …, up to stop: a log-spaced grid."""

    start: Positive = 2.0**-6
    stop: Positive = 8.0
    per_octave: PositiveInt = 2

    @model_validator(mode="after")
    def _ordered(self) -> LrGrid:
        if self.stop < self.start:
            raise ValueError(f"stop must be at least start {self.start}, got {self.stop}")
        return self


class CriticalParams(Section):
    """The critical-batch-size study on the exact two-Gaussian population (McCandlish et al. 2018)."""

    rhos: Annotated[list[Correlation], Field(min_length=1), AfterValidator(_unique)] = [0.0, 0.9, 0.99]
    batch_sizes: Annotated[
        list[PositiveInt], Field(min_length=2), AfterValidator(_unique), AfterValidator(_ascending)
    ] = [2**i for i in range(14)]
    lr_grid: LrGrid = LrGrid()
    seeds: Annotated[list[Seed], Field(min_length=2), AfterValidator(_unique)] = list(range(16))
    deltas: Annotated[list[Positive], Field(min_length=1), AfterValidator(_unique)] = [0.1, 0.05, 0.02, 0.01]
    max_steps: PositiveInt = 50_000
    diverge_loss: Positive = 10.0


class Params(Section):
    data: DataParams = DataParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    baseline: BaselineParams = BaselineParams()
    noise: NoiseParams = NoiseParams()
    steps: StepsParams = StepsParams()
    study: StudyParams = StudyParams()
    critical: CriticalParams = CriticalParams()

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


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate ``path``; every failure is a ParamsError with one line."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found; run `make params` to compose it from conf/") from None
    except OSError as exc:
        raise ParamsError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path}: is not valid YAML{where}") from None
    return validate_params(raw, str(path))


def compose(overrides: list[str] = (), conf_dir: str | Path = CONF_DIR) -> str:
    """conf/ composed with Hydra into the YAML text of params.yaml, exactly as `dvc exp run` writes it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(Path(conf_dir).resolve()), version_base=None):
        cfg = hydra_compose(config_name="config", overrides=list(overrides))
    OmegaConf.resolve(cfg)
    return OmegaConf.to_yaml(cfg)


def main(argv=None) -> None:
    """``python -m batchgraph.study.config [--check] [OVERRIDE ...]``: write or check params.yaml."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m batchgraph.study.config", description=main.__doc__)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. study=seed_published")
    parser.add_argument("--check", action="store_true", help="exit 1 if params.yaml differs from conf/")
    parser.add_argument("--output", default=PARAMS_FILE)
    args = parser.parse_args(argv)
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        text = compose(args.overrides)
        validate_params(__import__("yaml").safe_load(text), f"{CONF_DIR}/ (composed)")
    except (HydraException, OmegaConfBaseException) as exc:
        print(f"error: {CONF_DIR}/: {str(exc).splitlines()[0]}", file=sys.stderr)
        raise SystemExit(1) from None
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    output = Path(args.output)
    current = output.read_text(encoding="utf-8") if output.exists() else None
    if args.check:
        if current != text:
            print(
                f"error: {output} differs from the composition of {CONF_DIR}/; run `make params`",
                file=sys.stderr,
            )
            raise SystemExit(1)
        print(f"{output} matches {CONF_DIR}/")
        return
    if current != text:
        tmp = output.with_name(f".{output.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
        print(f"wrote {output} from {CONF_DIR}/")
    else:
        print(f"{output} is up to date with {CONF_DIR}/")


if __name__ == "__main__":
    main()
