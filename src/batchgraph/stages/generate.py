"""Stage `generate`: draw the blobs and write the data CSV."""

from __future__ import annotations

import argparse

from ..study.config import load_params
from ..study.data import make_dataset
from ..study.io import dataset_csv, write_text


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m batchgraph.stages generate", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, help="the data CSV to write")
    args = parser.parse_args(argv)
    d = load_params(args.params).data
    data = make_dataset(d.n_per_class, d.means, d.std, d.test_fraction, d.seed)
    write_text(args.out, dataset_csv(data))
    print(f"wrote {args.out}: {len(data.X_train)} train and {len(data.X_test)} test rows")
