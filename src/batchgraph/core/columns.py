"""The columns of the tables the stages write: a training run's history per seed and epoch, and the
critical study's tables in reports/critical/ (written by critical_fit, read by the reports)."""

HISTORY_COLUMNS = ("epoch_loss", "train_loss", "test_loss", "test_accuracy")
# Measured on the full training set at the start of each epoch (see noise.py).
NOISE_COLUMNS = ("grad_sq_norm", "grad_cov_trace", "b_simple")
# runs/*/history.csv: one row per seed and epoch.
HISTORY_HEADER = ("seed", "epoch", "updates", *HISTORY_COLUMNS, *NOISE_COLUMNS)

# reports/critical/{steps,critical,convergence,sensitivity}.csv
STEPS_COLUMNS = [
    "problem", "regime", "delta", "batch_size", "steps", "steps_lo", "steps_hi", "steps_seed_mean",
    "examples", "best_lr", "best_lr_at_edge",
]  # fmt: skip
CRITICAL_COLUMNS = [
    "problem", "kappa", "regime", "delta", "target_loss", "s_min", "e_min", "b_crit", "b_crit_lo",
    "b_crit_hi", "small_s_min", "halving_inside", "b_crit_seed_mean", "b_simple", "b_noise",
    "b_noise_path", "b_nqm", "b_crit_over_b_simple", "b_crit_over_b_noise", "b_crit_over_b_noise_path",
    "b_crit_over_b_nqm", "lr_large_batch",
    "fit_residual", "fit_points", "unreached_batch_sizes", "edge_batch_sizes",
]  # fmt: skip
CONVERGENCE_COLUMNS = ["problem", "regime", "delta", "seeds", "b_crit", "b_crit_lo", "b_crit_hi"]
SENSITIVITY_COLUMNS = ["problem", "regime", "delta", "variant", "b_crit", "inside_interval"]
