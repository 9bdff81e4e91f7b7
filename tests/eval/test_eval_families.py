"""Family checks: the world's own clips pass (a perfect model); degenerate "models" fail.

Degenerate models built here: the first frame repeated (nothing moves), random noise, the right
object doing the wrong thing (another action's clip, a pan played backwards, an object alone,
objects passing through each other, an object that never comes back or turns back), and a speck
of the right color. Clips are small (64x64, 2 s at 8 fps) so the file runs in seconds.
"""

import dataclasses

import numpy as np
import pytest

from chronotope.eval.families import (
    blobs,
    collision_bounce,
    game_action,
    occlusion_reappears,
    pan_direction,
)
from chronotope.world import COLORS, generate_clip
from chronotope.world.clip import render_clip
from chronotope.world.physics import Collision

FPS, T = 8.0, 16
ACTIONS = ("walks right", "walks left", "jumps", "jumps right", "jumps left", "stands still")


def clip(seed, family, width=64, height=64, num_frames=T, fps=FPS, **pins):
    return generate_clip(seed, width=width, height=height, num_frames=num_frames, fps=fps,
                         family=family, **pins)  # fmt: skip


def still(frames):
    return np.repeat(frames[:1], len(frames), axis=0)


def noise(frames, seed=0):
    return np.random.default_rng(seed).integers(0, 256, frames.shape, dtype=np.uint8)


def speck(color, n=T, size=(64, 64), start=(20, 40), step=(1, 0), side=3):
    """A `side`-px square of `color` on black moving `step` px per frame from `start` (x, y)."""
    out = np.zeros((n, *size, 3), np.uint8)
    for i in range(n):
        x, y = start[0] + step[0] * i, start[1] + step[1] * i
        out[i, y : y + side, x : x + side] = COLORS[color]
    return out


def degenerates(c, color):
    return {"still": still(c.frames), "noise": noise(c.frames), "speck": speck(color)}


# ---------------------------------------------------------------------------------------- game


@pytest.mark.parametrize("action", ACTIONS)
def test_game_world_clips_pass(action):
    for seed, (w, h) in ((0, (64, 64)), (1, (64, 64)), (2, (112, 64)), (3, (64, 112))):
        c = clip(seed, "game", w, h, num_frames=(16, 24)[seed % 2], action=action)
        r = game_action(c.frames, c.spec.objects[0].color, action, FPS)
        assert r.passed, (seed, w, h, r)


def test_game_degenerates_fail():
    for action in ACTIONS:
        c = clip(5, "game", action=action)
        color = c.spec.objects[0].color
        for name, frames in degenerates(c, color).items():
            if name == "still" and action == "stands still":
                continue  # a still copy IS a player standing still
            assert not game_action(frames, color, action, FPS).passed, (action, name)


@pytest.mark.parametrize(
    "shown, prompt",
    [
        ("walks left", "walks right"),
        ("walks right", "walks left"),
        ("jumps left", "jumps right"),
        ("jumps", "jumps right"),
        ("walks right", "jumps right"),
        ("jumps right", "walks right"),
        ("jumps right", "jumps"),
        ("stands still", "jumps"),
        ("walks right", "stands still"),
        ("stands still", "walks left"),
    ],
)
def test_game_wrong_action_fails(shown, prompt):
    c = clip(7, "game", action=shown, color="red")
    assert not game_action(c.frames, "red", prompt, FPS).passed
    assert not game_action(c.frames, "blue", shown, FPS).passed  # wrong color: no player


def test_game_needs_the_player_present():
    c = clip(8, "game", action="stands still", color="green")
    empty = render_clip(dataclasses.replace(c.spec, objects=()), num_frames=T, fps=FPS, caption="")
    brief = np.concatenate([c.frames[:4], empty.frames[4:]])  # seen in 4 frames of 16
    assert game_action(c.frames, "green", "stands still", FPS).passed
    assert not game_action(brief, "green", "stands still", FPS).passed
    assert not game_action(empty.frames, "green", "stands still", FPS).passed
    assert not game_action(c.frames[:2], "green", "stands still", FPS).passed  # too short


# ----------------------------------------------------------------------------------------- pan


@pytest.mark.parametrize("direction", ["left", "right"])
def test_pan_world_clips_pass_and_reversed_fails(direction):
    for seed, (w, h) in ((0, (64, 64)), (1, (112, 64)), (2, (64, 112))):
        c = clip(seed, "pan", w, h, direction=direction)
        r = pan_direction(c.frames, FPS, direction)
        assert r.passed and r.direction == direction, (seed, r)
        # the world's convention: when the camera pans left the landscape moves right
        assert (r.speed > 0) == (direction == "left")
        back = pan_direction(c.frames[::-1], FPS, direction)
        assert not back.passed and back.direction != direction


def test_pan_degenerates_fail():
    c = clip(4, "pan", direction="left")
    color = c.spec.objects[0].color
    for name, frames in degenerates(c, color).items():
        r = pan_direction(frames, FPS, "left")
        assert not r.passed and r.direction is None, (name, r)


def test_pan_holds_at_another_fps():
    c = clip(6, "pan", num_frames=33, fps=16.0, direction="right")
    assert pan_direction(c.frames, 16.0, "right").passed


# ----------------------------------------------------------------------------------- collision


def test_collision_world_clips_pass():
    for seed, (w, h) in ((0, (64, 64)), (1, (112, 64)), (2, (64, 64)), (3, (64, 64))):
        c = clip(seed, "collision", w, h, num_frames=(16, 24)[seed % 2])
        colors = tuple(o.color for o in c.spec.objects)
        r = collision_bounce(c.frames, colors, FPS)
        assert r.passed, (seed, r)
        assert r.closing < 0 < r.opening


def test_collision_degenerates_fail():
    c = clip(9, "collision")
    a, b = (o.color for o in c.spec.objects)
    alone = render_clip(
        dataclasses.replace(c.spec, objects=c.spec.objects[:1]), num_frames=T, fps=FPS, caption=""
    )
    through = dataclasses.replace(
        c.spec,
        objects=tuple(
            dataclasses.replace(
                o, trajectory=dataclasses.replace(o.trajectory, vx_after=o.trajectory.vx)
            )
            for o in c.spec.objects
        ),
    )
    assert isinstance(c.spec.objects[0].trajectory, Collision)
    cases = {
        "still": still(c.frames),
        "noise": noise(c.frames),
        "one object alone": alone.frames,
        "pass through": render_clip(through, num_frames=T, fps=FPS, caption="").frames,
        "specks": np.maximum(
            speck(a, start=(10, 40), step=(1, 0)), speck(b, start=(50, 40), step=(-1, 0))
        ),
        "same color twice": c.frames,
    }
    for name, frames in cases.items():
        colors = (a, a) if name == "same color twice" else (a, b)
        assert not collision_bounce(frames, colors, FPS).passed, name


# ----------------------------------------------------------------------------------- occlusion


def test_occlusion_world_clips_pass():
    for seed, (w, h) in ((0, (64, 64)), (1, (112, 64)), (2, (64, 64)), (3, (64, 112))):
        c = clip(seed, "occlusion", w, h, num_frames=(16, 24)[seed % 2])
        r = occlusion_reappears(c.frames, c.spec.objects[0].color, FPS, c.spec.direction)
        assert r.passed and r.hidden >= 1, (seed, r)


def test_occlusion_degenerates_fail():
    c = clip(11, "occlusion", direction="right")
    color = c.spec.objects[0].color
    seen = blobs(c.frames, color).area > 0
    hidden = int(np.flatnonzero(~seen)[0])  # the first frame with the object wholly hidden
    gone = c.frames.copy()
    gone[hidden:] = c.frames[hidden]  # it never comes back
    turned = np.concatenate([c.frames[: hidden + 1], c.frames[:hidden][::-1]])[:T]  # turns back
    cases = {**degenerates(c, color), "never comes back": gone, "turns back": turned}
    for name, frames in cases.items():
        assert not occlusion_reappears(frames, color, FPS, "right").passed, name
    assert not occlusion_reappears(c.frames[::-1], color, FPS, "right").passed  # wrong way
    assert not occlusion_reappears(c.frames, "white" if color != "white" else "red", FPS).passed
