"""Evaluation with no downloaded networks: detectors turn videos back into world states, metrics
compare them with prompts and with the world's ground truth, and a report shows the figures."""

from chronotope.eval.adherence import score_video
from chronotope.eval.detect import DetectConfig, Detection, detect
from chronotope.eval.groundtruth import calibrate_shapes, parse_floor
from chronotope.eval.prompts import SETS, PromptCase, prompt_cases
from chronotope.eval.report import write_report
from chronotope.eval.suite import QUICK, EvalConfig, EvalResult, run_eval
from chronotope.eval.tracks import Track, track

__all__ = [
    "QUICK",
    "SETS",
    "DetectConfig",
    "Detection",
    "EvalConfig",
    "EvalResult",
    "PromptCase",
    "Track",
    "calibrate_shapes",
    "detect",
    "parse_floor",
    "prompt_cases",
    "run_eval",
    "score_video",
    "track",
    "write_report",
]
