"""Stage `noise`: minibatch-gradient variance at fixed weights (the initial ones and the Task 2
run's), measured against tr(Σ)/B · (N − B)/(N − 1), for every study batch size -> a CSV table."""

from __future__ import annotations

from ..core.io import csv_text, read_dataset, read_weights, write_text
from ..core.stage import StageParser
from ..study.measure import NOISE_HEADER, noise_rows


def main(argv=None) -> None:
    parser = StageParser(
        "noise", __doc__, "--data", "--weights", "--out",
        data="the data CSV", weights="the Task 2 run's weights.json", out="the CSV to write",
    )  # fmt: skip
    args, params = parser.parse(argv)
    data = read_dataset(args.data, params.data.splits)
    trained = read_weights(args.weights, data.X_train.shape[1])
    rows = noise_rows(params, data, trained["A"], trained["b"])
    write_text(args.out, csv_text(NOISE_HEADER, rows))
    print(f"wrote {args.out}: {len(rows)} rows")
