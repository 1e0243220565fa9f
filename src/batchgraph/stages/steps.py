"""Stage `steps`: SGD steps to reach steps.target for each batch size, under each lr-scaling rule
and with the lr tuned per batch size over steps.tuned_lrs (the rule `tuned`) -> a CSV table."""

from __future__ import annotations

from ..core.io import csv_text, read_dataset, write_text
from ..core.stage import StageParser
from ..study.measure import STEPS_HEADER, steps_rows


def main(argv=None) -> None:
    parser = StageParser("steps", __doc__, "--data", "--out", data="the data CSV", out="the CSV to write")
    args, params = parser.parse(argv)
    rows = steps_rows(
        params, read_dataset(args.data, params.data.splits), log=lambda line: print(line, flush=True)
    )
    write_text(args.out, csv_text(STEPS_HEADER, rows))
