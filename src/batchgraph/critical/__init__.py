"""The critical-batch-size study: a Gaussian population, an lr × seed ensemble per batch size, the fit."""
