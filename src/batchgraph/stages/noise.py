"""Stage `noise`: minibatch-gradient variance at fixed weights (the initial ones and the Task 2
run's), measured against tr(Σ)/B · (N − B)/(N − 1), for every study batch size -> a CSV table."""

from __future__ import annotations

import argparse

from ..study.config import load_params
from ..study.io import csv_text, read_dataset, read_weights, write_text
from ..study.measure import NOISE_HEADER, noise_rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m batchgraph.stages noise", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", required=True, help="the data CSV")
    parser.add_argument("--weights", required=True, help="the Task 2 run's weights.json")
    parser.add_argument("--out", required=True, help="the CSV to write")
    args = parser.parse_args(argv)
    data = read_dataset(args.data)
    trained = read_weights(args.weights, data.X_train.shape[1])
    rows = noise_rows(load_params(args.params), data, trained["A"], trained["b"])
    write_text(args.out, csv_text(NOISE_HEADER, rows))
    print(f"wrote {args.out}: {len(rows)} rows")
