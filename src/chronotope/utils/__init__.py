"""Small helpers shared by several stages (checkpoint files, RNG state, config comparison,
the bundled model's folder, precision)."""
