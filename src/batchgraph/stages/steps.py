"""Stage `steps`: SGD steps to reach steps.target for each batch size, under each lr-scaling rule
and with the lr tuned per batch size over steps.tuned_lrs (the rule `tuned`) -> a CSV table."""

from __future__ import annotations

import argparse

from ..study.config import load_params
from ..study.io import csv_text, read_dataset, write_text
from ..study.measure import STEPS_HEADER, steps_rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m batchgraph.stages steps", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", required=True, help="the data CSV")
    parser.add_argument("--out", required=True, help="the CSV to write")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    rows = steps_rows(params, read_dataset(args.data), log=lambda line: print(line, flush=True))
    write_text(args.out, csv_text(STEPS_HEADER, rows))
