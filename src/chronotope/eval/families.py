"""Every scene family judged: the game's actions, camera pans, collisions and occlusion.

Each check is a pure function of uint8 frames (T,H,W,3) and the prompt's items, and returns a
small dataclass of the measured figures plus a verdict `passed`. Lengths are world units (1 = the
frame's short side) and times seconds (via `fps`), so every threshold holds at every frame size
and frame rate. Every check REQUIRES the thing it judges to be there: an object must be seen at
a plausible size in enough frames, a pan needs a landscape with texture that shifts consistently,
so an empty, still, noisy or speck-sized video fails.

The thresholds come from the world's own numbers (world/scenes.py, world/physics.py) with a
margin of about 2x either way; each says why next to it. Objects are read from the color mask of
`eval.detect.color_map`: per frame the largest 4-connected component of the prompted color
(no tracking: each family has one object per color).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chronotope.eval.detect import COLOR_NAMES, color_map, label_components
from chronotope.world.physics import GRAVITY
from chronotope.world.vocab import SCENERY

# Smallest plausible object area per family, units^2: half the area of the smallest object
# the family draws (area factor: triangle 0.5 s^2, the player about 0.52 s^2 -- body 0.6 x 0.7
# plus the part of the head above it). Half, because an object partly off screen or a decoder's
# soft edge still counts, while a speck of a few pixels does not.
MIN_AREA = {
    "game": 0.5 * 0.52 * 0.2**2,  # player size 0.2-0.28 (scenes._game)
    "collision": 0.5 * 0.5 * 0.15**2,  # OBJECT_SIZE 0.15-0.25, a triangle is the smallest
    "occlusion": 0.5 * 0.5 * 0.12**2,  # occluded objects are 0.12-0.18 (scenes._occlusion)
}
# An object must be seen in at least half the frames of the first EVENT_S seconds: the world
# tunes its speeds so that 2 s show the whole event (scenes.py), after which objects may leave.
MIN_PRESENT, EVENT_S = 0.5, 2.0

# The game (scenes._game). Walking speed is 0.15-0.3 units/s: accept half the slowest to twice
# the fastest. Jumps rise 0.2-0.35 units (GRAVITY sets the flight time): a rise counts from half
# the lowest; more than twice the highest is no jump of this world. In the air the player moves
# at 0.2-0.35 units/s for a flight of at least 2*sqrt(2*GRAVITY*0.2)/GRAVITY ~ 1.0 s, so one hop
# travels >= 0.2 units: a directed jump needs half that; a jump in place (0 travel) may drift
# at most 0.05 units (3 px at 64 px: a decoder's jitter, far below one directed hop).
WALK_SPEED = (0.5 * 0.15, 2.0 * 0.3)
RISE = (0.5 * 0.2, 2.0 * 0.35)
HOP_TRAVEL = 0.5 * 0.2 * 2 * np.sqrt(2 * GRAVITY * 0.2) / GRAVITY
HOP_SPEED_MAX = 2.0 * 0.35
STILL = 0.05  # units: the most a "still" player (or a walker's feet) may move: 3 px at 64 px
GROUND = 0.03  # units: back on the ground = within this of the lowest position seen

PAN_STEP_S = 0.125  # seconds between the frames compared (8 fps: consecutive frames)
PAN_MIN_SPEED = 0.5 * 0.25 * 0.15  # units/s: half the slowest pan's far-layer speed
PAN_CONSISTENT = 0.75  # fraction of frame pairs that must shift the same way (clearly)
# The fastest pan moves the near layer 0.3 units/s (scenes._pan): twice that is no pan.
PAN_MAX_SPEED = 2.0 * 0.3
# Phase-correlation peak (mean over rows, 1 = every row agrees on one shift): world pans show
# >= 0.18 (median over pairs, 40 clips), frames of independent noise <= 0.045: a pair counts
# as shifted only with a peak of 0.1 (twice noise, about half the weakest world pan).
PAN_MIN_PEAK = 0.1
MORTAR_TOL = 12  # RGB: the mortar color, allowing for its anti-aliasing-free rendering and a codec

# Collisions (scenes._collision): speeds 0.15-0.35 units/s each, so the closing speed is at most
# 0.7 units/s and the frame nearest the impact shows a gap of at most 0.35/fps units. Elastic
# impacts with the world's masses (area ratio up to ~5.6) change the heavier object's velocity by
# at least 2 * 0.15 * 0.3 ~ 0.09 units/s, about a quarter of its speed: "markedly" is half that.
CONTACT_GAP = 0.03  # units, + 0.35/fps: a bbox gap this small at the nearest frame is contact
KICK = 0.045  # units/s: least velocity change that counts as a change of course
KICK_RATIO = 0.12  # and at least this fraction of the object's speed before the impact

# Occlusion (scenes._occlusion): the object moves at 0.35-0.5 units/s; a path (pre-occlusion
# trailing edge line) extrapolated over ~1 s of hiding is off by the line fit's error, about
# 0.05 units at 64 px (edges are whole pixels): 0.1 units tolerance, 0.2 s at the world's speed.
PATH_TOL = 0.1
MIN_SPEED = 0.05  # units/s: half the world's slowest uniform motion (0.1)


@dataclass
class Blobs:
    """Per frame, the largest component of one color: centroid and bbox in px, NaN if none."""

    x: np.ndarray
    y: np.ndarray
    area: np.ndarray  # int, 0 where none
    x0: np.ndarray
    x1: np.ndarray
    y0: np.ndarray
    y1: np.ndarray
    clipped: np.ndarray  # bool: touches the frame border (centroid and bbox are cut)
    scale: float  # px per unit (the short side)

    def present(self, min_area_units: float) -> np.ndarray:
        """Frames where the blob has at least `min_area_units` units^2 (and 8 px)."""
        return self.area >= max(min_area_units * self.scale**2, 8.0)


def blobs(frames: np.ndarray, color: str) -> Blobs:
    """The largest 4-connected component of `color` in each frame (see `Blobs`)."""
    frames = np.asarray(frames)
    t, h, w, _ = frames.shape
    mask = (color_map(frames) == COLOR_NAMES.index(color) + 1).astype(np.int8)
    labels = label_components(mask).reshape(-1)
    nan = np.full(t, np.nan)
    out = Blobs(nan.copy(), nan.copy(), np.zeros(t, int), nan.copy(), nan.copy(), nan.copy(),
                nan.copy(), np.zeros(t, bool), float(min(h, w)))  # fmt: skip
    pix = np.flatnonzero(labels >= 0)
    if not len(pix):
        return out
    ids, inv = np.unique(labels[pix], return_inverse=True)
    area = np.bincount(inv)
    frame = ids // (h * w)
    order = np.lexsort((-area, frame))  # by frame, largest first
    first = order[np.r_[True, frame[order][1:] != frame[order][:-1]]]
    keep = np.isin(inv, first)
    ys, xs, ci = (pix[keep] // w) % h, pix[keep] % w, inv[keep]
    fi = frame[ci]
    out.area[frame[first]] = area[first]
    out.x[frame[first]] = np.bincount(fi, xs, minlength=t)[frame[first]] / area[first]
    out.y[frame[first]] = np.bincount(fi, ys, minlength=t)[frame[first]] / area[first]
    for arr, vals, fn in ((out.x0, xs, np.fmin), (out.y0, ys, np.fmin), (out.x1, xs, np.fmax),
                          (out.y1, ys, np.fmax)):  # fmt: skip
        fn.at(arr, fi, vals.astype(float))
    out.clipped[:] = (out.x0 == 0) | (out.y0 == 0) | (out.x1 == w - 1) | (out.y1 == h - 1)
    return out


def presence(seen: np.ndarray, fps: float) -> float:
    """Fraction of the first EVENT_S seconds' frames in which the object is `seen`."""
    first = seen[: max(1, int(round(EVENT_S * fps)))]
    return float(first.mean()) if len(first) else 0.0


def _slope(t: np.ndarray, v: np.ndarray) -> float:
    """Least-squares slope of v over t (0 with fewer than 2 points)."""
    return float(np.polyfit(t, v, 1)[0]) if len(t) >= 2 and np.ptp(t) > 0 else 0.0


# ---------------------------------------------------------------------------------------- game


@dataclass
class GameResult:
    action: str
    present: float  # fraction of the first EVENT_S s showing the player at a plausible size
    speed: float  # units/s, horizontal, signed (+ right), least squares over the clip
    travel: float  # units, net horizontal displacement (first to last clean frame)
    rise: float  # units: highest point above the lowest (the ground)
    lands: bool  # back on the ground after the highest point
    passed: bool


def game_action(frames: np.ndarray, color: str, action: str, fps: float) -> GameResult:
    """Whether the player of `color` does `action` (vocab.ACTIONS); figures in units and s.

    walks left/right: moves that way at WALK_SPEED and stays on the ground (rise < STILL);
    jumps: rises RISE and lands again, net travel < STILL; jumps left/right: rises RISE and
    travels at least HOP_TRAVEL that way at under HOP_SPEED_MAX; stands still: moves < STILL.
    All need the player present (MIN_AREA) in MIN_PRESENT of the frames.
    """
    b = blobs(frames, color)
    n = len(b.area)
    seen = b.present(MIN_AREA["game"])
    good = np.flatnonzero(seen & ~b.clipped)  # clean frames: the centroid is the whole player
    res = GameResult(action, presence(seen, fps), 0.0, 0.0, 0.0, False, False)
    if n < 3 or res.present < MIN_PRESENT or len(good) < 3:
        return res
    t, x, y = good / fps, b.x[good] / b.scale, b.y[good] / b.scale
    ground = y.max()
    res.speed, res.travel = _slope(t, x), float(x[-1] - x[0])
    res.rise = float(ground - y.min())
    airborne = np.flatnonzero(ground - y >= RISE[0])
    res.lands = bool(len(airborne) and np.any(ground - y[airborne[0] :] <= GROUND))
    sign = {"right": 1.0, "left": -1.0}.get(action.split()[-1], 0.0)
    span = float(t[-1] - t[0])
    if action.startswith("walks"):
        ok = WALK_SPEED[0] <= sign * res.speed <= WALK_SPEED[1] and res.rise < STILL
        ok &= span >= 0.5  # a speed needs half a second of frames
    elif action == "jumps":
        ok = RISE[0] <= res.rise <= RISE[1] and res.lands and abs(res.travel) < STILL
    elif action.startswith("jumps"):
        ok = RISE[0] <= res.rise <= RISE[1] and sign * res.travel >= HOP_TRAVEL
        ok &= abs(res.travel) <= HOP_SPEED_MAX * max(span, 1.0 / fps)
    elif action == "stands still":
        ok = np.ptp(x) < STILL and np.ptp(y) < STILL
    else:
        raise ValueError(f"unknown action {action!r}")
    res.passed = bool(ok)
    return res


# ----------------------------------------------------------------------------------------- pan


@dataclass
class PanResult:
    direction: str | None  # the camera's pan direction measured ('left'/'right'), None if none
    speed: float  # units/s the landscape content moves on screen (+ right); median over pairs
    consistency: float  # fraction of frame pairs with a clear peak and the median's sign
    passed: bool
    peak: float = 0.0  # median phase-correlation peak over the pairs (1: every row agrees)


def _landscape_gray(frames: np.ndarray) -> np.ndarray:
    """Gray frames (T,H,W) float of the landscape alone.

    Object-colored pixels take the mean of the frame's other pixels. Mortar lines (the
    `block_edge` color) take the block color: they are a grid with the period of one block,
    which would alias a shift by a block (a fast pan moves 2.3 px a frame at 64 px, a third of
    the 6.4 px block) to the wrong side.
    """
    frames = frames.astype(np.float64)
    mortar = np.abs(frames - SCENERY["block_edge"]).max(-1) <= MORTAR_TOL
    frames[mortar] = SCENERY["block"]
    gray = frames.mean(-1)
    obj = color_map(frames) > 0
    for i in range(len(gray)):
        rest = gray[i][~obj[i]]
        gray[i][obj[i]] = rest.mean() if rest.size else 0.0
    return gray


def _shift_x(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(shift px, + right; peak in [0, 1]) taking a to b: phase correlation along x, rows pooled.

    Works on horizontal gradients (vertical edges: block sides and mortar lines are what a pan
    moves; a static sky gradient has none), windowed in x so the frame border does not
    correlate with itself; the normalised cross-power spectra of the textured rows are
    averaged (flat sky rows have no say), so the peak is the share of rows agreeing on a shift. Subpixel by a parabola through the peak.
    """
    win = np.hanning(a.shape[1] - 1)[None, :]
    fa, fb = (np.fft.fft(np.diff(f, axis=1) * win, axis=1) for f in (a, b))
    cross = fb * np.conj(fa)
    rows = (np.abs(fa).sum(1) > 1.0) & (np.abs(fb).sum(1) > 1.0)  # rows with texture (not sky)
    if not rows.any():
        return 0.0, 0.0
    r = np.fft.ifft((cross[rows] / np.maximum(np.abs(cross[rows]), 1e-9)).mean(0)).real
    w, ix = len(r), int(np.argmax(r))
    left, mid, right = r[(ix - 1) % w], r[ix], r[(ix + 1) % w]
    denom = left - 2 * mid + right
    frac = 0.5 * (left - right) / denom if denom < 0 else 0.0
    return float((ix if ix <= w // 2 else ix - w) + frac), float(mid)


def pan_direction(frames: np.ndarray, fps: float, direction: str | None = None) -> PanResult:
    """The way the camera pans, from how the landscape shifts, in the world's convention.

    The world draws column `x + camera` at screen x, so when the camera pans right the landscape
    moves LEFT on screen. Frames PAN_STEP_S apart (consecutive at 8 fps; about a pixel or more
    of near-layer shift at 64 px) are phase-correlated with object colors masked out; the peak
    follows the near layer, which moves most (parallax 1 vs 0.5 and 0.25). A direction needs
    PAN_CONSISTENT of the pairs shifting one way with a clear peak (PAN_MIN_PEAK: noise has
    none), at a median speed in [PAN_MIN_SPEED, PAN_MAX_SPEED], and texture (a flat or empty
    frame has no shift to measure). `passed`: the measured direction equals
    `direction` (any direction when None).
    """
    res = PanResult(None, 0.0, 0.0, False)
    frames = np.asarray(frames)
    step = max(1, int(round(PAN_STEP_S * fps)))
    if len(frames) <= step:
        return res
    gray = _landscape_gray(frames)
    scale = float(min(gray.shape[1:]))
    if np.median(gray.std(axis=(1, 2))) < 4.0:  # no landscape: nothing to see shift
        return res
    pairs = np.array([_shift_x(gray[i], gray[i + step]) for i in range(len(gray) - step)])
    speeds = pairs[:, 0] / scale * fps / step  # units/s, + = content moves right
    clear = pairs[:, 1] >= PAN_MIN_PEAK
    res.peak = float(np.median(pairs[:, 1]))
    res.speed = float(np.median(speeds[clear])) if clear.any() else 0.0
    res.consistency = float(np.mean(clear & (np.sign(speeds) == np.sign(res.speed))))
    fast = PAN_MIN_SPEED <= abs(res.speed) <= PAN_MAX_SPEED
    if fast and res.consistency >= PAN_CONSISTENT:
        res.direction = "left" if res.speed > 0 else "right"  # content right = camera left
    res.passed = res.direction is not None and direction in (None, res.direction)
    return res


# ----------------------------------------------------------------------------------- collision


@dataclass
class CollisionResult:
    present: tuple[float, float]  # fraction of the first EVENT_S s showing each object
    contact_frame: int | None  # frame of the smallest gap between them
    gap: float  # units: the smallest horizontal gap between their boxes (<= 0: touching)
    closing: float  # units/s: the gap's rate before contact (< 0: they approach)
    opening: float  # units/s: the gap's rate after contact (> 0: they separate)
    kicks: tuple[float, float]  # units/s: each object's horizontal velocity change at contact
    passed: bool


def _vx(b: Blobs, idx: np.ndarray, fps: float) -> float:
    return _slope(idx / fps, b.x[idx] / b.scale)


def collision_bounce(frames: np.ndarray, colors: tuple[str, str], fps: float) -> CollisionResult:
    """Whether objects of the two `colors` approach, touch, and both change course at contact.

    Contact = the frame of the smallest horizontal box gap, which must be <= CONTACT_GAP +
    0.35/fps (the world's largest closing speed over half a frame). Before it the gap must close
    and after it open (an elastic impact reverses the relative velocity), each at >= MIN_SPEED;
    each object's horizontal velocity (line fits on the frames before / after contact) must
    change by >= KICK and KICK_RATIO of its speed: both change course at the same frame.
    """
    ca, cb = colors
    a, b = blobs(frames, ca), blobs(frames, cb)
    sa, sb = a.present(MIN_AREA["collision"]), b.present(MIN_AREA["collision"])
    res = CollisionResult((presence(sa, fps), presence(sb, fps)), None,
                          np.inf, 0.0, 0.0, (0.0, 0.0), False)  # fmt: skip
    both = np.flatnonzero(sa & sb & ~a.clipped & ~b.clipped)
    if ca == cb or min(res.present) < MIN_PRESENT or len(both) < 5:
        return res
    if a.x[both[0]] > b.x[both[0]]:  # a is the left one
        a, b = b, a
    gap = (b.x0[both] - a.x1[both] - 1) / a.scale
    k = int(np.argmin(gap))
    res.contact_frame, res.gap = int(both[k]), float(gap[k])
    before, after = both[:k], both[k + 1 :]
    if len(before) < 2 or len(after) < 2:
        return res
    res.closing = _slope(before / fps, gap[:k])
    res.opening = _slope(after / fps, gap[k + 1 :])
    kicks, ok = [], True
    for o in (a, b):
        v0, v1 = _vx(o, before, fps), _vx(o, after, fps)
        kicks.append(v1 - v0)
        ok &= abs(v1 - v0) >= max(KICK, KICK_RATIO * abs(v0))
    res.kicks = (kicks[0], kicks[1])
    ok &= res.gap <= CONTACT_GAP + 0.35 / fps
    ok &= res.closing <= -MIN_SPEED and res.opening >= MIN_SPEED
    res.passed = bool(ok)
    return res


# ----------------------------------------------------------------------------------- occlusion


@dataclass
class OcclusionResult:
    present: float  # fraction of the first EVENT_S s showing the object (hidden ones too)
    hidden: int  # frames hidden between the first sighting and the reappearance
    speed: float  # units/s before hiding, signed (+ right)
    path_error: float  # units: reappearance position vs the extrapolated path (leading edge)
    height_error: float  # units: reappearance bottom edge vs before
    same_way: bool  # after reappearing it moves the way it went in
    passed: bool


def _runs(seen: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(frames before hiding, frames after reappearing), or None without seen-hidden-seen."""
    idx = np.flatnonzero(seen)
    if len(idx) < 2:
        return None
    holes = np.flatnonzero(np.diff(idx) > 1)
    if not len(holes):
        return None
    post = idx[holes[0] + 1 :]
    breaks = np.flatnonzero(np.diff(post) > 1)  # the object may hide again (a second wall)
    end = breaks[0] + 1 if len(breaks) else len(post)
    return idx[: holes[0] + 1], post[:end]


def occlusion_reappears(
    frames: np.ndarray, color: str, fps: float, direction: str | None = None
) -> OcclusionResult:
    """Whether the `color` object is seen, hidden for a while, then seen again on its path.

    Going in, the object's trailing edge stays visible, so a line through the trailing edge
    (frames before hiding) gives the path and speed; coming out, its leading edge is visible.
    The reappearance passes when the leading edge of the first frames after hiding lies within
    PATH_TOL of the path (trailing edge + the object's width), its bottom within half its height
    of before, it moves the same way at >= MIN_SPEED, and (when given) it went `direction`.
    """
    b = blobs(frames, color)
    seen = b.present(MIN_AREA["occlusion"])
    res = OcclusionResult(presence(seen, fps), 0, 0.0, np.inf, np.inf, False, False)
    runs = _runs(seen)
    if runs is None:
        return res
    pre, post = (r[~b.clipped[r]] for r in runs)
    res.hidden = int(runs[1][0] - runs[0][-1] - 1)
    if len(pre) < 2 or len(post) < 2:
        return res
    s = np.sign(_slope(pre / fps, (b.x0[pre] + b.x1[pre]) / 2))
    trail, lead = (b.x0, b.x1) if s > 0 else (b.x1, b.x0)
    full = int(np.argmax(np.where(seen, b.area, -1)))
    width, height = b.x1[full] - b.x0[full], (b.y1[full] - b.y0[full] + 1) / b.scale
    fit = np.polyfit(pre / fps, trail[pre], 1) if np.ptp(pre) else np.array([0.0, trail[pre][0]])
    res.speed = float(fit[0] / b.scale)
    first = post[:3]
    predicted = np.polyval(fit, first / fps) + s * width
    res.path_error = float(np.median(np.abs(lead[first] - predicted)) / b.scale)
    res.height_error = float(abs(np.median(b.y1[post]) - np.median(b.y1[pre])) / b.scale)
    res.same_way = bool(s * _slope(post / fps, lead[post]) / b.scale >= MIN_SPEED)
    went = {1.0: "right", -1.0: "left"}.get(float(s))
    res.passed = bool(
        s * res.speed >= MIN_SPEED
        and res.path_error <= PATH_TOL
        and res.height_error <= 0.5 * height
        and res.same_way
        and direction in (None, went)
    )
    return res
