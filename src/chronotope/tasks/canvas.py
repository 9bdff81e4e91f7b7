"""A task as data: known pixel frames placed on a canvas, and the latent frames they pin.

Every conditioning task (image-to-video, extend, connect, loop, long video) is the same thing:
some frames of the output are known. We lay the known frames on a pixel canvas of the output's
length, fill the unknown frames with the nearest known frame (a neutral guess the VAE can encode),
encode the whole canvas once, and pin (sigma 0) every latent frame whose pixel frames are all
known. Encoding the canvas as a whole, rather than each clip alone, gives the pinned latents the
same causal context they have in training (a clip's head placed after new frames is encoded as
the middle of a video, not as its start).

Causal latent geometry (ft = temporal factor): latent frame 0 covers pixel frame 0; latent frame
j >= 1 covers pixel frames (j-1)*ft+1 .. j*ft.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chronotope.errors import UsageError


def latent_frames(num_frames: int, ft: int) -> int:
    """Latent length of a `num_frames` clip: 1 + (T-1)/ft."""
    if num_frames < 1 or (num_frames - 1) % ft:
        raise UsageError(f"frames must be 1 + k*{ft}, got {num_frames}", param="frames")
    return 1 + (num_frames - 1) // ft


def pixel_span(j: int, ft: int) -> range:
    """Pixel frames covered by latent frame j."""
    return range(0, 1) if j == 0 else range((j - 1) * ft + 1, j * ft + 1)


# decoded change (levels of 255) over which a seam residual stops being carried (Canvas.splice)
_FEATHER_TOLERANCE = 48.0
# ... measured as the largest change within this many pixels: the decoder blurs an object's edge
# into a dim halo that looks unchanged once the object has moved away, and the residual of that
# edge would draw a ring at its old place (seen in backward extensions: rings at radius 1, none
# at 3). It costs seam smoothness: on the 2026-12-02 model the median backward seam ratio of 4
# eval clips went from 3.1 (no radius: rings) to 4.3; a ring is an artifact, a step is not
_FEATHER_RADIUS = 3


def _dilate(x: np.ndarray, r: int) -> np.ndarray:
    """Max of (H, W, ...) over a (2r+1) x (2r+1) window (separable: rows, then columns)."""
    out = x
    for axis in (0, 1):
        src, out = out, out.copy()
        n = out.shape[axis]
        for s in range(1, min(r, n - 1) + 1):
            lo = [slice(None)] * out.ndim
            hi = [slice(None)] * out.ndim
            lo[axis], hi[axis] = slice(0, n - s), slice(s, n)
            np.maximum(out[tuple(lo)], src[tuple(hi)], out=out[tuple(lo)])
            np.maximum(out[tuple(hi)], src[tuple(lo)], out=out[tuple(hi)])
    return out


@dataclass
class Canvas:
    """Known frames of an output of `num_frames` frames at `height` x `width`.

    `known[t]` is True where pixel frame t is given; `frames[t]` holds it (uint8 (H,W,3)).
    With `reference`, the unknown frames hold a source to start from (SDEdit, restyle) and are
    encoded as they are instead of being filled from the known ones.
    """

    num_frames: int
    height: int
    width: int
    ft: int
    reference: bool = False
    frames: np.ndarray = field(init=False)  # (T,H,W,3) uint8
    known: np.ndarray = field(init=False)  # (T,) bool

    def __post_init__(self):
        latent_frames(self.num_frames, self.ft)  # validates T = 1 + k*ft
        self.frames = np.zeros((self.num_frames, self.height, self.width, 3), np.uint8)
        self.known = np.zeros(self.num_frames, bool)

    def place(self, clip: np.ndarray, at: int) -> Canvas:
        """Place `clip` (T,H,W,3) or an image (H,W,3) so its first frame is output frame `at`."""
        clip = clip[None] if clip.ndim == 3 else clip
        if clip.shape[1:3] != (self.height, self.width):
            raise UsageError(
                f"condition is {clip.shape[2]}x{clip.shape[1]}, output is "
                f"{self.width}x{self.height}; resize it first",
                param="size",
            )
        if at < 0 or at + len(clip) > self.num_frames:
            raise UsageError(
                f"condition of {len(clip)} frames at frame {at} does not fit in "
                f"{self.num_frames} frames",
                param="frames",
            )
        self.frames[at : at + len(clip)] = clip
        self.known[at : at + len(clip)] = True
        return self

    @property
    def num_latent_frames(self) -> int:
        return latent_frames(self.num_frames, self.ft)

    def latent_mask(self) -> np.ndarray:
        """(T',) bool: latent frames whose pixel frames are all known (these get sigma 0)."""
        return np.array(
            [self.known[pixel_span(j, self.ft)].all() for j in range(self.num_latent_frames)]
        )

    def filled(self) -> np.ndarray:
        """The canvas with every unknown frame guessed from the known ones, for the encoder.

        A gap between two known frames becomes a linear cross-fade from one to the other (the
        encoder sees a continuous clip, and a bridge that starts from it, `bridge_start`, starts
        from a smooth change); a gap with known frames on one side only holds the nearest one.
        With nothing known the canvas is returned as is (black): nothing is pinned then anyway;
        so is a `reference` canvas.
        """
        idx = np.flatnonzero(self.known)
        if self.reference or len(idx) == 0 or self.known.all():
            return self.frames
        t = np.arange(self.num_frames)
        right = idx[np.searchsorted(idx, t).clip(0, len(idx) - 1)]  # first known at or after t
        left = idx[(np.searchsorted(idx, t, side="right") - 1).clip(0, len(idx) - 1)]
        out = self.frames[np.where(t < idx[0], idx[0], left)]  # holds: before/after all known
        bridged = ~self.known & (t > idx[0]) & (t < idx[-1])
        if bridged.any():
            tb, lb, rb = t[bridged], left[bridged], right[bridged]
            w = ((tb - lb) / (rb - lb)).astype(np.float32)[:, None, None, None]
            mix = (1 - w) * self.frames[lb].astype(np.float32) + w * self.frames[rb]
            out[bridged] = np.rint(mix).astype(np.uint8)
        return out

    def bridged_latents(self) -> np.ndarray:
        """(T',) bool: unpinned latent frames with a pinned latent frame on each side."""
        pinned = self.latent_mask()
        idx = np.flatnonzero(pinned)
        j = np.arange(len(pinned))
        if len(idx) < 2:
            return np.zeros(len(pinned), bool)
        return ~pinned & (j > idx[0]) & (j < idx[-1])

    def splice(self, generated: np.ndarray, feather: int = 0) -> np.ndarray:
        """Put the known frames back, bit-exactly, into the decoded output (T,H,W,3).

        The decoded frames next to a known one differ from it by the autoencoder's
        reconstruction error as well as by real motion, so splicing alone leaves a jump at the
        seam. With `feather` > 0 each generated frame within `feather` frames of a seam gets the
        residual (known - decoded) of the known frame beside it, weighted 1 - d/(feather + 1) at
        distance d: the seam step becomes the model's own step, and the residual fades out in
        equal steps of 1/(feather + 1). The residual is carried only where the decoded frame
        still shows what the decoded known frame showed (a Gaussian of their difference, scale
        `_FEATHER_TOLERANCE` levels, of the largest change within `_FEATHER_RADIUS` pixels), so
        a moving object leaves no ghost behind, not even of its blurred edge. Between two
        known frames (a bridge) both residuals apply; a bridge shorter than `feather` fades
        over its own length, so there the two weights sum to exactly 1 (a linear blend from one
        residual to the other).
        """
        out = generated.copy()
        if feather > 0 and self.known.any() and not self.known.all():
            out = self._feathered(generated, feather)
        out[self.known] = self.frames[self.known]
        return out

    def _feathered(self, generated: np.ndarray, feather: int) -> np.ndarray:
        known = np.flatnonzero(self.known)
        # seams: known frames with an unknown neighbour, and the direction the gap lies in
        edges = [(k, +1) for k in known if k + 1 < self.num_frames and not self.known[k + 1]]
        edges += [(k, -1) for k in known if k >= 1 and not self.known[k - 1]]
        correction = np.zeros(generated.shape, np.float32)
        for k, direction in edges:
            gap = []  # the unknown frames from k's neighbour to the next known frame or the end
            t = k + direction
            while 0 <= t < self.num_frames and not self.known[t]:
                gap.append(t)
                t += direction
            bounded = 0 <= t < self.num_frames  # a bridge: the other side has its own seam
            reach = min(feather, len(gap)) if bounded else feather
            decoded_k = generated[k].astype(np.float32)
            residual = self.frames[k].astype(np.float32) - decoded_k
            for d, t in enumerate(gap[:reach], start=1):
                # only where frame t still shows what frame k showed: where an object has moved
                # away, k's residual (its edges) would leave a ghost at its old place
                change = np.abs(generated[t].astype(np.float32) - decoded_k).mean(-1, keepdims=True)
                change = _dilate(change, _FEATHER_RADIUS)
                same = np.exp(-((change / _FEATHER_TOLERANCE) ** 2))
                correction[t] += (1.0 - d / (reach + 1)) * same * residual
        out = generated.astype(np.float32) + correction
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
