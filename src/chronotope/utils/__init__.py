"""Small helpers shared by several stages (checkpoint files, RNG state)."""
