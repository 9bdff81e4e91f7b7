"""The detectors against the world's recorded states: the parse floor and the shape calibration.

The parse floor is the error the evaluation makes on perfect videos (Kang et al. 2024 report
0.010 frame sizes for theirs): every generated-video figure should be read against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chronotope.eval.detect import DetectConfig, Detection, detect
from chronotope.world import WorldClip, generate_clip


@dataclass
class Match:
    """One whole, unoccluded ground-truth object and the detection of its color nearest to it."""

    frame: int
    truth_shape: str
    truth_center: tuple[float, float]
    detection: Detection | None

    @property
    def error_px(self) -> float:
        if self.detection is None:
            return float("inf")
        (x, y), (u, v) = self.truth_center, self.detection.center
        return float(np.hypot(x - u, y - v))


def match_clip(clip: WorldClip, dets: list[list[Detection]] | None = None) -> list[Match]:
    """Match every whole object (visible_fraction == 1) of every frame to a detection."""
    dets = detect(clip.frames) if dets is None else dets
    out = []
    for i, state in enumerate(clip.states):
        for obj in state.objects:
            if obj.visible_fraction < 1.0 or obj.shape == "player":
                continue
            same = [d for d in dets[i] if d.color == obj.color]
            nearest = min(
                same,
                key=lambda d: np.hypot(d.center[0] - obj.center[0], d.center[1] - obj.center[1]),
                default=None,
            )
            out.append(Match(i, obj.shape, obj.center, nearest))
    return out


def parse_floor(clips: list[WorldClip]) -> dict[str, float]:
    """Center error of the detector on ground-truth clips, in px and in frame sizes (short side);
    shape accuracy over unclipped objects; fraction of whole objects found."""
    errs, units, shapes_ok, found, total = [], [], [], 0, 0
    for clip in clips:
        scale = float(min(clip.frames.shape[1:3]))
        for m in match_clip(clip):
            total += 1
            if m.detection is None:
                continue
            found += 1
            errs.append(m.error_px)
            units.append(m.error_px / scale)
            if not m.detection.clipped:
                shapes_ok.append(m.detection.shape == m.truth_shape)
    return {
        "center_error_px": float(np.mean(errs)) if errs else float("nan"),
        "center_error": float(np.mean(units)) if units else float("nan"),
        "center_error_px_max": float(np.max(errs)) if errs else float("nan"),
        "shape_accuracy": float(np.mean(shapes_ok)) if shapes_ok else float("nan"),
        "found": found / total if total else float("nan"),
    }


def calibrate_shapes(
    seeds: range = range(40),
    sizes: tuple[tuple[int, int], ...] = ((64, 64), (112, 64)),
    cfg: DetectConfig | None = None,
) -> dict[str, tuple[float, float]]:
    """Mean (h3, h4) harmonics per shape over clean objects of world clips: the prototypes."""
    feats: dict[str, list[tuple[float, float]]] = {}
    for seed in seeds:
        for w, h in sizes:
            clip = generate_clip(
                seed, width=w, height=h, num_frames=5, family="single", include_heldout=True
            )
            for m in match_clip(clip, detect(clip.frames, cfg)):
                if m.detection is not None and not m.detection.clipped:
                    feats.setdefault(m.truth_shape, []).append(m.detection.harmonics)
    return {s: tuple(float(v) for v in np.mean(f, axis=0)) for s, f in feats.items()}
