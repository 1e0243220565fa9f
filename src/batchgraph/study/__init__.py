"""The course study as a library: params schema, data, models, training, gradient noise, file I/O."""
