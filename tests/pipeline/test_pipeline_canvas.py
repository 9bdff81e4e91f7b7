import numpy as np
import pytest

from chronotope.errors import UsageError
from chronotope.tasks import Canvas, latent_frames, pixel_span


def frames(n, h=8, w=8, start=0):
    return np.stack([np.full((h, w, 3), 10 * (start + i), np.uint8) for i in range(n)])


def test_latent_geometry():
    assert latent_frames(1, 4) == 1 and latent_frames(17, 4) == 5
    with pytest.raises(UsageError, match="1 \\+ k\\*4"):
        latent_frames(8, 4)
    assert list(pixel_span(0, 4)) == [0] and list(pixel_span(2, 4)) == [5, 6, 7, 8]


def test_mask_pins_only_fully_known_latent_frames():
    c = Canvas(13, 8, 8, 4).place(frames(5), 0)  # pixel 0..4 -> latents 0 and 1
    assert c.latent_mask().tolist() == [True, True, False, False]
    c = Canvas(13, 8, 8, 4).place(frames(3), 10)  # pixels 10..12: latent 3 is 9..12, not all known
    assert c.latent_mask().tolist() == [False, False, False, False]
    c.place(frames(1), 9)
    assert c.latent_mask().tolist() == [False, False, False, True]


def test_filled_crossfades_bridges_holds_ends_and_splice_is_exact():
    c = Canvas(9, 8, 8, 4).place(frames(1, start=1), 0).place(frames(1, start=5), 8)
    f = c.filled()
    assert [int(x[0, 0, 0]) for x in f] == [10, 15, 20, 25, 30, 35, 40, 45, 50]
    one_sided = Canvas(9, 8, 8, 4).place(frames(2, start=3), 3).filled()  # known 30, 40 at 3, 4
    assert [int(x[0, 0, 0]) for x in one_sided] == [30, 30, 30, 30, 40, 40, 40, 40, 40]
    two_gaps = Canvas(9, 8, 8, 4).place(frames(1), 0).place(frames(1, start=2), 4)
    two_gaps.place(frames(1, start=4), 8)  # 0, 20, 40 at frames 0, 4, 8
    assert [int(x[0, 0, 0]) for x in two_gaps.filled()] == [0, 5, 10, 15, 20, 25, 30, 35, 40]
    gen = np.full((9, 8, 8, 3), 7, np.uint8)
    out = c.splice(gen)
    assert np.array_equal(out[0], c.frames[0]) and np.array_equal(out[8], c.frames[8])
    assert (out[1:8] == 7).all()


def test_place_refuses_wrong_size_or_overflow():
    c = Canvas(5, 8, 8, 4)
    with pytest.raises(UsageError, match="resize"):
        c.place(np.zeros((16, 8, 3), np.uint8), 0)
    with pytest.raises(UsageError, match="does not fit"):
        c.place(frames(3), 3)


def test_feathered_splice_carries_the_residual_across_the_seam():
    # known frames 0..4 are 100; the decoder made everything 10 brighter (its reconstruction error)
    c = Canvas(17, 8, 8, 4).place(np.full((5, 8, 8, 3), 100, np.uint8), 0)
    gen = np.full((17, 8, 8, 3), 110, np.uint8)
    plain = c.splice(gen)
    out = c.splice(gen, feather=4)
    assert np.array_equal(out[:5], c.frames[:5])  # given frames stay bit-exact
    seam_plain = int(plain[5, 0, 0, 0]) - int(plain[4, 0, 0, 0])
    levels = [int(x[0, 0, 0]) for x in out]
    assert seam_plain == 10
    # residual -10 fades in equal steps of 10/5: 102, 104, 106, 108, then the decoded 110
    assert levels[5:10] == [102, 104, 106, 108, 110]
    assert (out[10:] == gen[10:]).all()  # beyond the feather the decoded frames are untouched


def test_feathered_bridge_blends_both_residuals_linearly():
    # A ends at 50, B starts at 70, both decoded as 60, like the 3-frame bridge between them
    c = Canvas(9, 4, 4, 4).place(np.full((5, 4, 4, 3), 50, np.uint8), 0)
    c.place(np.full((1, 4, 4, 3), 70, np.uint8), 8)
    gen = np.full((9, 4, 4, 3), 60, np.uint8)
    out = c.splice(gen, feather=8)  # longer than the bridge: it fades over the bridge's 3 frames
    # residuals -10 (A side) and +10 (B side), weights 3/4, 2/4, 1/4 from each end
    assert [int(x[0, 0, 0]) for x in out[4:]] == [50, 55, 60, 65, 70]


def test_feathered_splice_leaves_no_ghost_where_an_object_moved_away():
    known = np.full((1, 32, 32, 3), 20, np.uint8)
    known[0, 2:5, 0:3] = 200  # an object at the left, sharp
    c = Canvas(5, 32, 32, 4).place(known, 0)
    gen = np.full((5, 32, 32, 3), 30, np.uint8)  # the decoder: background 10 levels too bright,
    gen[0, 2:5, 0:3] = 150  # the object too dark, and in frame 1 the object has moved right
    gen[1:, 2:5, 5:8] = 150
    out = c.splice(gen, feather=4)
    assert out[1, 25, 25, 0] == 30 - 8  # static background: 4/5 of its residual -10
    assert out[1, 3, 1, 0] == 30  # where the object was: nothing of its residual (+50)


def test_bridged_latents_lie_between_pinned_ones():
    c = Canvas(17, 8, 8, 4).place(frames(5), 0).place(frames(4), 13)  # latents 0, 1 and 4
    assert c.latent_mask().tolist() == [True, True, False, False, True]
    assert c.bridged_latents().tolist() == [False, False, True, True, False]
    head_only = Canvas(17, 8, 8, 4).place(frames(5), 0)  # an extension: nothing bridged
    assert not head_only.bridged_latents().any()


def test_feathered_splice_leaves_no_ring_where_a_blurred_edge_was():
    # the decoder blurs the object's edge: a dim halo (60) where the sharp object (200) ends,
    # and the generated frame has moved the object away; the edge's residual (+140 inside,
    # -40 on the halo) must not be drawn as a ring at the old place
    known = np.full((1, 16, 16, 3), 20, np.uint8)
    known[0, 4:10, 4:10] = 200
    c = Canvas(5, 16, 16, 4).place(known, 0)
    gen = np.full((5, 16, 16, 3), 20, np.uint8)
    gen[0, 3:11, 3:11] = 60  # halo
    gen[0, 5:9, 5:9] = 190  # the blurred object's core
    gen[1:, 4:10, 12:16] = 190  # moved to the right edge in the generated frames
    out = c.splice(gen, feather=4).astype(int)
    old_place = (slice(3, 11), slice(3, 11))
    assert np.abs(out[1][old_place] - 20).max() <= 2  # background there, no ring
