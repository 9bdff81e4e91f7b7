"""Ground truth against pixels: what the states say is what the frames show."""

import numpy as np
import pytest

from chronotope.world import COLORS, FAMILIES, SCENERY, generate_clip
from chronotope.world.render import background_rows


def color_mask(frame: np.ndarray, color: str, tol: float = 60.0) -> np.ndarray:
    """Pixels within `tol` (RGB distance) of a vocabulary color."""
    diff = frame.astype(np.float64) - np.asarray(COLORS[color], dtype=np.float64)
    return np.sqrt((diff * diff).sum(-1)) < tol


def weighted_centroid(frame: np.ndarray, color: str, background: np.ndarray) -> np.ndarray:
    """(x, y) centroid weighted by coverage: each pixel's blend factor between bg and color."""
    c = np.asarray(COLORS[color], dtype=np.float64)
    d = c - background  # (H, 3) per-row background
    a = ((frame.astype(np.float64) - background[:, None, :]) * d[:, None, :]).sum(-1)
    a = np.clip(a / (d * d).sum(-1)[:, None], 0.0, 1.0)
    a[~color_mask(frame, color, tol=200)] = 0.0  # other objects / scenery
    ys, xs = np.mgrid[: frame.shape[0], : frame.shape[1]]
    return np.array([(a * xs).sum(), (a * ys).sum()]) / a.sum()


@pytest.mark.parametrize("family", FAMILIES)
def test_center_pixel_has_the_object_color_when_whole(family):
    checked = 0
    for seed in range(6):
        clip = generate_clip(seed, family=family, num_frames=12, width=64, height=48)
        for frame, state in zip(clip.frames, clip.states):
            for obj in state.objects:
                if obj.visible_fraction == 1.0:
                    x, y = (int(round(v)) for v in obj.center)
                    assert tuple(frame[y, x]) == COLORS[obj.color]
                    checked += 1
    assert checked > 12


@pytest.mark.parametrize("size", [(16, 16), (2048, 64), (20, 200)])
def test_center_pixel_is_pure_at_extreme_sizes(size):
    w, h = size
    for family in FAMILIES:
        for seed in range(3):
            clip = generate_clip(seed, family=family, num_frames=3, width=w, height=h)
            for frame, state in zip(clip.frames, clip.states):
                for obj in state.objects:
                    assert obj.size >= 7.0
                    if obj.visible_fraction == 1.0:
                        x, y = (int(round(v)) for v in obj.center)
                        assert tuple(frame[y, x]) == COLORS[obj.color]


def test_pixels_count_matches_visibility():
    """An object not visible shows no pixel of its color; a visible one shows some."""
    for seed in range(8):
        clip = generate_clip(seed, family="single", num_frames=24, width=48, height=48)
        for frame, state in zip(clip.frames, clip.states):
            (obj,) = state.objects
            assert color_mask(frame, obj.color).any() == obj.visible


def test_occluded_object_disappears_and_reappears():
    for seed in range(6):
        clip = generate_clip(seed, family="occlusion", num_frames=20, fps=8.0, width=64, height=48)
        (obj_spec,) = clip.spec.objects
        wall = clip.spec.to_pixels(np.array([clip.spec.wall.x_left, clip.spec.wall.x_right]))
        xs = np.array([s.objects[0].center[0] for s in clip.states])
        vis = np.array([s.objects[0].visible for s in clip.states])
        whole = np.array([s.objects[0].visible_fraction == 1.0 for s in clip.states])
        behind = (xs > wall[0]) & (xs < wall[1])
        hidden = np.flatnonzero(~vis & (xs >= 0) & (xs <= 63))  # not visible yet in the frame
        assert len(hidden) >= 1 and np.all(behind[hidden]), clip.caption  # hidden = behind it
        first, last = hidden[0], hidden[-1]
        assert np.all(~vis[first : last + 1])  # one contiguous stretch behind the wall
        assert whole[:first].any() and whole[last + 1 :].any(), clip.caption  # seen on both sides
        for i in hidden:
            assert not color_mask(clip.frames[i], obj_spec.color).any()
            assert tuple(clip.frames[i][0, int(round(xs[i]))]) == SCENERY["wall"]
        # object permanence in the ground truth: uniform motion continues behind the wall
        assert np.allclose(np.diff(xs), np.diff(xs)[0])


def test_uniform_motion_is_uniform_in_states_and_pixels():
    for motion in ("moves left", "moves right", "moves up", "moves down"):
        clip = generate_clip(
            2, family="single", motion=motion, num_frames=10, fps=8.0, width=96, height=96
        )
        centers = np.array([s.objects[0].center for s in clip.states])
        v = np.diff(centers, axis=0)
        assert np.allclose(v, v[0]) and np.abs(v[0]).max() > 0.5
        axis = 0 if motion in ("moves left", "moves right") else 1
        sign = 1 if motion in ("moves right", "moves down") else -1
        assert np.sign(v[0][axis]) == sign and v[0][1 - axis] == 0
        bg = background_rows(clip.spec.background, 96).astype(np.float64)
        color = clip.spec.objects[0].color
        seen = [
            weighted_centroid(f, color, bg)
            for f, s in zip(clip.frames, clip.states)
            if s.objects[0].visible_fraction == 1.0
        ]
        assert len(seen) >= 5
        pix_v = np.diff(np.array(seen), axis=0)
        assert np.allclose(pix_v, v[0], atol=0.15)  # measured velocity agrees within 0.15 px


def test_whole_object_centroid_is_its_center():
    for seed in range(10):
        clip = generate_clip(seed, family="single", num_frames=1, width=64, height=64)
        obj = clip.states[0].objects[0]
        if obj.visible_fraction < 1.0:
            continue
        bg = background_rows(clip.spec.background, 64).astype(np.float64)
        c = weighted_centroid(clip.frames[0], obj.color, bg)
        assert c == pytest.approx(obj.center, abs=0.25), clip.caption


def test_falling_object_accelerates_until_the_bounce_in_states_and_pixels():
    for seed in range(3):
        clip = generate_clip(
            seed, family="single", motion="falls and bounces", num_frames=40, fps=24.0, width=64
        )
        y = np.array([s.objects[0].center[1] for s in clip.states])
        t_hit = clip.spec.objects[0].trajectory.fall_time
        before = np.array([s.time for s in clip.states]) < t_hit
        vy = np.diff(y[before])
        assert len(vy) >= 4 and np.all(vy > 0) and np.all(np.diff(vy) > 0)
        after = np.flatnonzero(~before)[:3]
        assert y[after[1]] < y[after[0]] or y[after[2]] < y[after[1]]  # on its way back up
        # pixels: the lowest colored row descends, faster and faster
        low = [
            np.flatnonzero(color_mask(f, s.objects[0].color).any(1)).max()
            for f, s in zip(clip.frames, clip.states)
        ]
        drop = np.diff(np.array(low)[before])
        assert drop.sum() > 10 and np.all(drop >= 0)
        assert drop[-3:].sum() > drop[:3].sum()


def test_collision_objects_touch_but_never_overlap():
    for seed in range(6):
        clip = generate_clip(seed, family="collision", num_frames=40, fps=16.0, width=96, height=64)
        a, b = clip.spec.objects
        contact = clip.spec.extras["contact_distance"] * clip.spec.scale
        gaps = np.array([s.objects[1].center[0] - s.objects[0].center[0] for s in clip.states])
        assert gaps.min() >= contact - 1e-6
        assert gaps.min() <= contact + 0.1 * clip.spec.scale  # they did come close
        va = np.diff([s.objects[0].center[0] for s in clip.states])
        assert va[0] > 0 and va[-1] < va[0]  # the left one was pushed back
        # pixels: the two colors never cover the same pixel-centered area with full strength
        for f in clip.frames:
            assert not (color_mask(f, a.color, 1) & color_mask(f, b.color, 1)).any()


def top_edges(frame: np.ndarray, colors: list) -> np.ndarray:
    """Pixels of a layer whose upper neighbour is not the layer: its skyline. Nearer layers
    cut into a layer from below, never from above, so the skyline is the layer's own."""
    own = np.any([np.all(frame == np.asarray(c, np.uint8), axis=-1) for c in colors], axis=0)
    edge = own.copy()
    edge[1:] &= ~own[:-1]
    return edge


def test_pan_layers_move_with_parallax():
    """Each layer's pixels shift by parallax x camera offset (far layers move slower)."""
    clip = generate_clip(
        3,
        family="pan",
        num_frames=9,
        fps=4.0,
        width=128,
        height=64,
        background="black",
        direction="right",
    )
    cam = np.array([s.camera[0] for s in clip.states])
    assert cam[0] == 0 and np.all(np.diff(cam) > 0)
    found = []
    for layer in clip.spec.landscape.layers:
        colors = [SCENERY[layer.name]] + ([SCENERY["block_edge"]] if layer.name == "block" else [])
        first, last = (top_edges(f, colors) for f in (clip.frames[0], clip.frames[-1]))
        # the camera moved right, so the layer moved left by parallax * camera on screen
        iou = [
            (first[:, s:] & last[:, : 128 - s]).sum() / (first[:, s:] | last[:, : 128 - s]).sum()
            for s in range(64)
        ]
        found.append(int(np.argmax(iou)))
        assert abs(found[-1] - layer.parallax * cam[-1]) <= 1.0, layer.name
    assert found[0] < found[1] < found[2]  # far < mid < near


def test_pan_object_stays_put_in_the_world():
    clip = generate_clip(5, family="pan", num_frames=8, width=96, height=64)
    xs = np.array([s.objects[0].center[0] + s.camera[0] for s in clip.states])
    assert np.allclose(xs, xs[0])


@pytest.mark.parametrize(
    "action, dx_sign, jumps",
    [
        ("walks right", 1, False),
        ("walks left", -1, False),
        ("jumps", 0, True),
        ("jumps right", 1, True),
        ("stands still", 0, False),
    ],
)
def test_game_player_does_what_the_caption_says(action, dx_sign, jumps):
    clip = generate_clip(
        9, family="game", action=action, num_frames=24, fps=8.0, width=96, height=64
    )
    assert action.split()[0] in clip.caption
    c = np.array([s.objects[0].center for s in clip.states])
    dx = c[-1, 0] - c[0, 0]
    assert np.sign(round(dx, 6)) == dx_sign
    ground = c[0, 1]
    assert (c[:, 1].min() < ground - 3) == jumps
    assert c[:, 1].max() <= ground + 1e-9  # never sinks into the ground
