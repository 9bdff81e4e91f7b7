"""Thin entry points: parse, build, run. The CLI only calls the library."""
