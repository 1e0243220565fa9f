"""``batchgraph-params [--check] [OVERRIDE ...]``: compose conf/ into params.yaml, or check it.

`dvc exp run` composes conf/ itself; `dvc repro` never does, so `make params` runs this first.
"""

from __future__ import annotations

from pathlib import Path

from ..core.config import (
    CONF_DIR,
    PARAMS_FILE,
    Params,
    ParamsError,
    _where,
    parse_yaml,
    read_text,
    validate_params,
)


def composed_params(overrides: list[str] = (), conf_dir: str | Path = CONF_DIR) -> Params:
    """The validated params composed from ``conf_dir``: with no overrides, the documented defaults."""
    return validate_params(parse_yaml(compose(overrides, conf_dir)), f"{CONF_DIR}/ (composed)")


def compose(overrides: list[str] = (), conf_dir: str | Path = CONF_DIR) -> str:
    """conf/ composed with Hydra into the YAML text of params.yaml, exactly as `dvc exp run` writes it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(Path(conf_dir).resolve()), version_base=None):
        cfg = hydra_compose(config_name="config", overrides=list(overrides))
    return params_text(cfg)


def params_text(cfg) -> str:
    """A composed config without its hydra node as the YAML text of params.yaml: resolved, then
    dumped, as `dvc exp run` writes it (dvc/utils/hydra.py, ``compose_and_dump``)."""
    from omegaconf import OmegaConf

    OmegaConf.resolve(cfg)
    return OmegaConf.to_yaml(cfg)


def check_composed(cfg) -> None:
    """Validate a config while Hydra composes it (its hydra node there, the overrides applied) as
    the params.yaml it becomes; ParamsError names the overrides and the first offending key."""
    from omegaconf import OmegaConf

    params = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    overrides = " ".join(cfg.hydra.overrides.task) if "hydra" in cfg else ""
    source = f"{CONF_DIR}/ with {overrides}" if overrides else f"{CONF_DIR}/ (composed)"
    validate_params(parse_yaml(params_text(params)), source)


def _compose_checked(overrides: list[str], conf_dir: str | Path = CONF_DIR) -> str:
    """``compose`` with every failure (Hydra, a broken YAML file, a file that is not UTF-8, the
    schema) as a ParamsError with one line naming the file; returns the valid params.yaml text."""
    import yaml
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        text = compose(overrides, conf_dir)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        name = _relative(mark.name) if mark and mark.name else f"a file in {conf_dir}/"
        raise ParamsError(f"{name}: is not valid YAML{_where(exc)}") from None
    except UnicodeDecodeError:
        for path in sorted(Path(conf_dir).rglob("*.yaml")):
            read_text(path, "")  # raises for the first file that is not UTF-8
        raise ParamsError(f"{conf_dir}/: a file is not UTF-8 text") from None
    except (HydraException, OmegaConfBaseException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ParamsError(f"{conf_dir}/: {first}") from None
    validate_params(parse_yaml(text), f"{CONF_DIR}/ (composed)")
    return text


def _relative(name: str) -> str:
    path = Path(name)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _write_or_check(text: str, output: Path, check: bool) -> str:
    """Compare ``text`` with ``output`` (``--check``) or replace it atomically; returns the message."""
    if check:
        current = read_text(output, "run `make params` to compose it from conf/")
        if current != text:
            raise ParamsError(f"{output} differs from the composition of {CONF_DIR}/; run `make params`")
        return f"{output} matches {CONF_DIR}/"
    if not output.parent.is_dir():
        raise ParamsError(f"{output}: the folder {output.parent} does not exist; create it first")
    if output.is_dir():
        raise ParamsError(f"{output}: is a folder; give the path of a file")
    if output.is_file() and output.read_bytes() == text.encode("utf-8"):
        return f"{output} is up to date with {CONF_DIR}/"
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ParamsError(f"{output}: cannot be written ({exc.strerror})") from None
    return f"wrote {output} from {CONF_DIR}/"


def main(argv=None) -> None:
    """Write params.yaml from conf/, or with ``--check`` fail if it differs."""
    import argparse

    from ..core.io import main_guard

    parser = argparse.ArgumentParser(prog="batchgraph-params", description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. study=seed_published")
    parser.add_argument("--check", action="store_true", help="exit 1 if params.yaml differs from conf/")
    parser.add_argument("--output", default=PARAMS_FILE)
    args = parser.parse_args(argv)
    output = Path(args.output)
    main_guard(lambda: print(_write_or_check(_compose_checked(args.overrides), output, args.check)))


if __name__ == "__main__":
    main()
