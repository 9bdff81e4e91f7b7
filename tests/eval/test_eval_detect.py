import numpy as np
import pytest

from chronotope.eval.detect import SHAPE_PROTOTYPES, color_map, detect, label_components
from chronotope.eval.groundtruth import calibrate_shapes, match_clip, parse_floor
from chronotope.world import COLORS, generate_clip


def flood_fill_count(cmap: np.ndarray) -> int:
    """Oracle: number of 4-connected equal-color components, by a plain Python flood fill."""
    t, h, w = cmap.shape
    seen = np.zeros_like(cmap, dtype=bool)
    count = 0
    for f in range(t):
        for i in range(h):
            for j in range(w):
                if cmap[f, i, j] == 0 or seen[f, i, j]:
                    continue
                count += 1
                stack = [(i, j)]
                seen[f, i, j] = True
                while stack:
                    y, x = stack.pop()
                    for v, u in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                        inside = 0 <= v < h and 0 <= u < w
                        if inside and not seen[f, v, u] and cmap[f, v, u] == cmap[f, i, j]:
                            seen[f, v, u] = True
                            stack.append((v, u))
    return count


def test_labelling_matches_flood_fill_and_never_crosses_colors_or_frames():
    rng = np.random.default_rng(0)
    cmap = (rng.random((3, 20, 24)) < 0.5) * rng.integers(1, 4, (3, 20, 24))
    labels = label_components(cmap)
    fg = labels >= 0
    assert len(np.unique(labels[fg])) == flood_fill_count(cmap)
    flat = labels.reshape(-1)
    # a label is a pixel of its own component: same color, same frame
    assert (cmap.reshape(-1)[flat[fg.reshape(-1)]] == cmap.reshape(-1)[fg.reshape(-1)]).all()
    assert (flat[fg.reshape(-1)] // (20 * 24) == np.flatnonzero(fg) // (20 * 24)).all()


def test_exact_colors_map_to_themselves_and_backgrounds_to_nothing():
    rgb = np.asarray([list(COLORS.values())], dtype=np.uint8)[None]  # (1, 1, K, 3)
    assert (color_map(rgb)[0, 0] == np.arange(1, len(COLORS) + 1)).all()
    bg = np.asarray([[[[0, 0, 0], [128, 128, 128], [70, 110, 170], [96, 72, 56]]]], np.uint8)
    assert (color_map(bg) == 0).all()


@pytest.mark.parametrize("size", [(64, 64), (112, 64), (48, 96)])
def test_clean_objects_found_centred_and_shaped(size):
    w, h = size
    errors, shapes_ok = [], []
    for seed in range(24):
        fam = ("single", "pair")[seed % 2]
        clip = generate_clip(
            seed, width=w, height=h, num_frames=5, family=fam, include_heldout=True
        )
        for m in match_clip(clip):
            assert m.detection is not None, f"seed {seed}: {m.truth_shape} not found"
            errors.append(m.error_px)
            if not m.detection.clipped:
                shapes_ok.append(m.detection.shape == m.truth_shape)
    assert max(errors) < 1.0 and np.mean(errors) < 0.35
    assert np.mean(shapes_ok) >= 0.95 and len(shapes_ok) > 100


def test_hidden_objects_are_not_detected():
    hidden = 0
    for seed in range(12):
        clip = generate_clip(seed, width=64, height=64, num_frames=25, family="occlusion")
        dets = detect(clip.frames)
        color = clip.spec.objects[0].color
        for state, frame_dets in zip(clip.states, dets):
            seen = any(d.color == color for d in frame_dets)
            if not state.objects[0].visible:
                hidden += 1
                assert not seen
            elif state.objects[0].visible_fraction == 1.0:
                assert seen
    assert hidden > 10  # the test did look at hidden frames


def test_parse_floor_is_small():
    clips = [generate_clip(s, width=112, height=64, num_frames=9, family="pair") for s in range(6)]
    floor = parse_floor(clips)
    assert floor["found"] == 1.0
    assert floor["center_error"] < 0.005  # frame sizes (Kang et al. report 0.010 for theirs)
    assert floor["shape_accuracy"] >= 0.95


def test_shape_prototypes_match_a_fresh_calibration():
    measured = calibrate_shapes(seeds=range(12), sizes=((64, 64),))
    for shape, proto in SHAPE_PROTOTYPES.items():
        assert np.abs(np.subtract(measured[shape], proto)).max() < 0.03, (shape, measured[shape])


def test_two_same_colored_objects_make_two_tracks():
    from chronotope.eval.tracks import track

    frames = np.zeros((5, 64, 64, 3), np.uint8)
    for t in range(5):
        frames[t, 10:18, 5 + t : 13 + t] = COLORS["red"]  # moves right
        frames[t, 40:48, 50 - t : 58 - t] = COLORS["red"]  # moves left
    tracks = track(detect(frames), scale=64)
    assert len(tracks) == 2 and all(len(tr.frames) == 5 and tr.shape == "square" for tr in tracks)
    xs = sorted(np.asarray(tr.centers)[:, 0].tolist() for tr in tracks)
    assert xs[0] == [8.5, 9.5, 10.5, 11.5, 12.5] and xs[1] == [53.5, 52.5, 51.5, 50.5, 49.5]


def _paint(inside) -> np.ndarray:
    """A red object on black, 64x64, from a predicate on pixel-centre offsets (x, y up)."""
    ys, xs = np.mgrid[0:64, 0:64] + 0.5
    frame = np.zeros((1, 64, 64, 3), np.uint8)
    frame[0][inside(xs - 32.0, 32.0 - ys)] = COLORS["red"]
    return frame


@pytest.mark.parametrize(
    "shape, inside",
    [
        # a square whose sides a decoder pinched inward by up to 2 px (area / bbox ~0.87, which
        # a fill-ratio rule reads as a circle) and one whose corners it rounded off
        (
            "square",
            lambda x, y: (
                (np.abs(x) <= 7 - 2 * np.cos(np.pi * y / 14))
                & (np.abs(y) <= 7 - 2 * np.cos(np.pi * x / 14))
            ),
        ),
        (
            "square",
            lambda x, y: np.hypot(np.maximum(np.abs(x) - 4, 0), np.maximum(np.abs(y) - 4, 0)) <= 3,
        ),
        ("circle", lambda x, y: np.hypot(x, y) <= 7),
        ("circle", lambda x, y: np.hypot(x / 8, y / 6.5) <= 1),  # squashed a little
        # apex up, with a bulge at the middle of its base (a blob the decoder left there)
        (
            "triangle",
            lambda x, y: (y >= -5) & (y <= 8 - 1.6 * np.abs(x)) | (np.hypot(x, y + 5) < 2),
        ),
    ],
)
def test_shape_survives_decoder_like_distortions(shape, inside):
    (det,) = detect(_paint(inside))[0]
    assert det.shape == shape, det.harmonics
