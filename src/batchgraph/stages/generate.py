"""Stage `generate`: draw the blobs and write the data CSV."""

from __future__ import annotations

from ..core.data import make_dataset
from ..core.io import UserError, dataset_csv, write_text
from ..core.stage import StageParser


def main(argv=None) -> None:
    args, params = StageParser("generate", __doc__, "--out", out="the data CSV to write").parse(argv)
    d = params.data
    data = make_dataset(d.n_per_class, d.means, d.std, d.test_fraction, d.seed)
    if len(set(data.y_train)) < 2:
        raise UserError(
            f"params.yaml: data.seed {d.seed} puts only label {int(data.y_train[0])} in the train split of "
            f"{len(data.y_train)} rows; nothing can learn from one class, so change data.seed or lower "
            f"data.test_fraction"
        )
    write_text(args.out, dataset_csv(data))
    print(f"wrote {args.out}: {len(data.X_train)} train and {len(data.X_test)} test rows")
