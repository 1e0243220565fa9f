"""The columns a training run records per seed and epoch (the run history's format)."""

HISTORY_COLUMNS = ("epoch_loss", "train_loss", "test_loss", "test_accuracy")
# Measured on the full training set at the start of each epoch (see noise.py).
NOISE_COLUMNS = ("grad_sq_norm", "grad_cov_trace", "b_simple")
# runs/*/history.csv: one row per seed and epoch.
HISTORY_HEADER = ("seed", "epoch", "updates", *HISTORY_COLUMNS, *NOISE_COLUMNS)
