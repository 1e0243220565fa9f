"""Stage `validate`: check params.yaml against the schema before DVC reaches any other stage.

Every other stage depends on its output, so DVC runs it first: a value the schema refuses stops
`dvc repro` here, before DVC interpolates it into another stage's command or removes another
stage's outputs (a batch size of ``1$(rm …)`` or ``x/../../folder`` never reaches a shell or a
path). `dvc exp run` checks the params earlier still, while it composes them
(src/batchgraph/plugins/), because it checks the workspace out before any stage runs. The output
says only that the params passed; it is the same for every valid params.yaml, so a change of
params re-runs just the stages that read the changed keys.
"""

from __future__ import annotations

from ..core.io import write_text
from ..core.stage import StageParser

VALID = "params.yaml passed the schema\n"


def main(argv=None) -> None:
    parser = StageParser("validate", __doc__, "--out", out="the file that says the params passed")
    args, _ = parser.parse(argv)
    write_text(args.out, VALID)
    print(f"params.yaml is valid: wrote {args.out}")
