"""Stage `generate`: draw the blobs and write the data CSV."""

from __future__ import annotations

from ..core.data import make_dataset
from ..core.io import dataset_csv, write_text
from ..core.stage import StageParser


def main(argv=None) -> None:
    args, params = StageParser("generate", __doc__, "--out", out="the data CSV to write").parse(argv)
    d = params.data
    data = make_dataset(d.n_per_class, d.means, d.std, d.test_fraction, d.seed)
    write_text(args.out, dataset_csv(data))
    print(f"wrote {args.out}: {len(data.X_train)} train and {len(data.X_test)} test rows")
