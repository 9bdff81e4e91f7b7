import numpy as np
import pytest

from chronotope.eval import physics
from chronotope.eval.detect import detect
from chronotope.eval.tracks import motion_direction, track
from chronotope.world import generate_clip

W, H, FPS = 112, 64, 8.0


def test_motion_direction_of_world_clips_is_always_right():
    motions = ("moves left", "moves right", "moves up", "moves down", "stays still")
    for seed in range(25):
        motion = motions[seed % len(motions)]
        clip = generate_clip(seed, width=W, height=H, num_frames=9, family="single", motion=motion)
        tracks = track(detect(clip.frames), scale=H)
        assert len(tracks) == 1 and len(tracks[0].frames) == 9
        assert motion_direction(tracks[0], H, FPS, 1.0) == motion


def test_references_on_ground_truth_are_ordered():
    cases = physics.uniform_cases(8, seed=100, width=W, height=H, num_frames=13, fps=FPS)
    scores = [physics.score_continuation(c, 5, c.frames) for c in cases]
    vel = {k: np.mean([s.velocity[k] for s in scores]) for k in scores[0].velocity}
    pos = {k: np.mean([s.position[k] for s in scores]) for k in scores[0].position}
    # the truth itself scores exactly the parse floor
    assert vel["model"] == vel["parse_floor"] and all(s.found == 1.0 for s in scores)
    assert vel["parse_floor"] < 0.005  # frame sizes / frame
    assert vel["linear"] < vel["copy_last"] / 10 and pos["linear"] < pos["copy_last"] / 5
    # copy-last's velocity error is the true speed: 0.1-0.25 frame sizes/s over 8 fps
    assert 0.1 / FPS - 1e-3 < vel["copy_last"] < 0.25 / FPS + 1e-3


def test_a_frozen_continuation_scores_like_copy_last():
    clip = physics.uniform_cases(1, seed=7, width=W, height=H, num_frames=13, fps=FPS)[0]
    frozen = np.concatenate([clip.frames[:5], np.repeat(clip.frames[4:5], 8, axis=0)])
    s = physics.score_continuation(clip, 5, frozen)
    assert abs(s.velocity["model"] - s.velocity["copy_last"]) < 2e-3
    assert s.velocity["model"] > 5 * s.velocity["linear"]


def test_lost_steps_score_as_copying_the_last_frame():
    clip = physics.uniform_cases(1, seed=9, width=W, height=H, num_frames=13, fps=FPS)[0]
    gone = np.concatenate([clip.frames[:5], np.zeros_like(clip.frames[5:])])
    s = physics.score_continuation(clip, 5, gone)
    assert s.found == 0.0
    assert s.velocity["model"] == pytest.approx(s.velocity["copy_last"])
    # half found, half lost: between the truth and copy-last, never better than the found half
    half = np.concatenate([clip.frames[:9], np.zeros_like(clip.frames[9:])])
    h = physics.score_continuation(clip, 5, half)
    assert h.found == 0.5 and s.velocity["parse_floor"] < h.velocity["model"] < s.velocity["model"]


def test_the_prompted_direction_at_median_speed_is_a_reference_between_linear_and_copy_last():
    cases = physics.uniform_cases(8, seed=100, width=W, height=H, num_frames=13, fps=FPS)
    scores = [physics.score_continuation(c, 5, None) for c in cases]
    vel = {k: np.mean([s.velocity[k] for s in scores]) for k in scores[0].velocity}
    assert vel["linear"] < vel["direction_median_speed"] < vel["copy_last"]


def test_falls_are_read_at_the_worlds_gravity_with_a_bounce():
    n = 17  # 2 s: the bounce is inside the clip
    for clip in physics.falling_cases(6, seed=200, width=W, height=H, num_frames=n, fps=FPS):
        ok, ratio = physics.fall_check(clip.frames, clip.spec.objects[0].color, FPS)
        assert ok and abs(ratio - 1.0) < 0.15
    # a uniform motion down has no acceleration; a fall cut before its bounce has no bounce
    clip = generate_clip(3, width=W, height=H, num_frames=n, family="single", motion="moves down")
    assert not physics.fall_check(clip.frames, clip.spec.objects[0].color, FPS)[0]
    fall = physics.falling_cases(1, seed=200, width=W, height=H, num_frames=n, fps=FPS)[0]
    color = fall.spec.objects[0].color
    ys = [s.objects[0].center[1] for s in fall.states]
    before = int(np.argmax(ys))  # the lowest point
    assert not physics.fall_check(fall.frames[:before], color, FPS)[0]
    assert not physics.fall_check(fall.frames[::-1], color, FPS)[0]  # rising is no fall


def test_permanence_holds_on_world_clips_and_fails_when_the_object_vanishes():
    clip = generate_clip(5, width=W, height=H, num_frames=9, family="single", motion="moves right")
    assert physics.permanence(clip.frames) == {"size": True, "count": True}
    broken = clip.frames.copy()
    broken[4] = broken[0, 0, 0]  # frame 4: background only
    assert physics.permanence(broken) == {"size": False, "count": False}
