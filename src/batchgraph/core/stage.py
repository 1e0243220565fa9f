"""The one argument parser of the pipeline stages: paths from dvc.yaml's ``cmd``, validated params.

Every bad argument, argparse's own complaints included, is refused the same way: a
``UsageError``, which the stage runner prints as one line and exits 2 (argparse's status).
"""

from __future__ import annotations

import argparse

from .config import PARAMS_FILE, Params, load_params
from .io import UserError


class UsageError(UserError):
    """A command-line argument the stage cannot take."""

    exit_status = 2


class StageParser(argparse.ArgumentParser):
    """``StageParser("train", __doc__, "--data", "--out")``: a parser with ``--params`` and the
    given required path arguments; ``parse(argv)`` returns the arguments and the validated params."""

    def __init__(self, stage: str, doc: str | None, *paths: str, **helps: str):
        super().__init__(prog=f"python -m batchgraph.stages {stage}", description=doc)
        self.add_argument("--params", default=PARAMS_FILE, help="the params file (default: params.yaml)")
        for flag in paths:
            self.add_argument(flag, required=True, help=helps.get(flag.lstrip("-").replace("-", "_")))

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")

    def refuse(self, message: str):
        """Refuse an argument that parsed but is not allowed (e.g. a batch size outside the study)."""
        self.error(message)

    def parse(self, argv=None) -> tuple[argparse.Namespace, Params]:
        args = self.parse_args(argv)
        return args, load_params(args.params)
