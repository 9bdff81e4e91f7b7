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


def test_filled_uses_nearest_known_frame_and_splice_is_exact():
    c = Canvas(9, 8, 8, 4).place(frames(1, start=1), 0).place(frames(1, start=5), 8)
    f = c.filled()
    assert [int(x[0, 0, 0]) for x in f] == [10, 10, 10, 10, 10, 50, 50, 50, 50]
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
