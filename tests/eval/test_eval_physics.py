import numpy as np

from chronotope.eval import physics
from chronotope.eval.detect import detect
from chronotope.eval.tracks import motion_direction, track
from chronotope.world import generate_clip
from chronotope.world.physics import GRAVITY

W, H, FPS = 112, 64, 8.0


def test_motion_direction_of_world_clips_is_always_right():
    motions = ("moves left", "moves right", "moves up", "moves down", "stays still")
    for seed in range(25):
        motion = motions[seed % len(motions)]
        clip = generate_clip(seed, width=W, height=H, num_frames=9, family="single", motion=motion)
        tracks = track(detect(clip.frames), scale=H)
        assert len(tracks) == 1 and len(tracks[0].frames) == 9
        assert motion_direction(tracks[0], H) == motion


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


def test_falling_objects_accelerate_at_the_worlds_gravity():
    for clip in physics.falling_cases(6, seed=200, width=W, height=H, num_frames=9, fps=FPS):
        a = physics.fall_acceleration(clip.frames, clip.spec.objects[0].color, FPS)
        assert abs(a / GRAVITY - 1.0) < 0.1
    # a uniform motion has no acceleration
    clip = generate_clip(3, width=W, height=H, num_frames=9, family="single", motion="moves down")
    assert abs(physics.fall_acceleration(clip.frames, clip.spec.objects[0].color, FPS)) < 0.05


def test_permanence_holds_on_world_clips_and_fails_when_the_object_vanishes():
    clip = generate_clip(5, width=W, height=H, num_frames=9, family="single", motion="moves right")
    assert physics.permanence(clip.frames) == {"size": True, "count": True}
    broken = clip.frames.copy()
    broken[4] = broken[0, 0, 0]  # frame 4: background only
    assert physics.permanence(broken) == {"size": False, "count": False}


def test_occluded_objects_reappear_in_the_truth_not_in_a_frozen_clip():
    cases = physics.occlusion_cases(3, seed=300, width=64, height=64, max_frames=33, fps=FPS)
    assert len(cases) == 3
    for clip in cases:
        color = clip.spec.objects[0].color
        vis = [s.objects[0].visible for s in clip.states]
        assert not all(vis) and vis[-1] and (len(clip.frames) - 1) % 4 == 0
        assert physics.reappears(clip.frames, color)
        hidden = clip.frames[vis.index(False)]
        assert not physics.reappears(np.stack([clip.frames[0], hidden]), color)
