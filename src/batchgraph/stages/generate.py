"""Stage `generate`: draw the blobs and write data/blobs.csv."""

from __future__ import annotations

from ..config import load_params
from ..data import make_dataset
from ._io import DATA_FILE, dataset_csv, main_guard, write_text


def main() -> None:
    d = load_params().data
    data = make_dataset(d.n_per_class, d.means, d.std, d.test_fraction, d.seed)
    write_text(DATA_FILE, dataset_csv(data))
    print(f"wrote {DATA_FILE}: {len(data.X_train)} train and {len(data.X_test)} test rows")


if __name__ == "__main__":
    main_guard(main)
