"""A task is data: known frames on a canvas and the latent frames they pin."""

from chronotope.tasks.canvas import Canvas, latent_frames, pixel_span

__all__ = ["Canvas", "latent_frames", "pixel_span"]
