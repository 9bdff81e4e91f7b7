"""Sizes and lengths of a generation request, validated before anything is allocated.

Every user-facing size passes through here: width and height must be multiples of the VAE's
spatial factor (the pipeline pads internally to the transformer's patch grid and crops back) and
frame counts must be 1 + k*ft. Errors name the nearest valid values.
"""

from __future__ import annotations

import math
import numbers
import re

from chronotope.errors import UsageError

MIN_SIDE, MAX_SIDE = 16, 4096
_SIZE = re.compile(r"\s*(\d{1,5})\s*[xX]\s*(\d{1,5})\s*")


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' -> (W, H) (the CLI's --size and the server's `size`); the range is
    `check_size`'s."""
    m = _SIZE.fullmatch(text)
    if not m:
        raise UsageError(
            f"size must look like WIDTHxHEIGHT (e.g. 1280x720), got {text!r}", param="size"
        )
    return int(m[1]), int(m[2])


def nearest_multiples(value: int, multiple: int) -> tuple[int, int]:
    lo = max(multiple, value // multiple * multiple)
    return lo, lo + multiple


def check_size(width: int, height: int, multiple: int) -> None:
    for name, v in (("width", width), ("height", height)):
        if not MIN_SIDE <= v <= MAX_SIDE:
            raise UsageError(f"{name} must be in {MIN_SIDE}..{MAX_SIDE}, got {v}", param="size")
    if width % multiple or height % multiple:
        ws = nearest_multiples(width, multiple) if width % multiple else (width,)
        hs = nearest_multiples(height, multiple) if height % multiple else (height,)
        options = ", ".join(f"{w}x{h}" for w in ws for h in hs)
        raise UsageError(
            f"size {width}x{height} is not a multiple of {multiple}; nearest valid: {options}",
            param="size",
        )


# A condition within this factor of the model's pixel area is at the model's scale: the output
# takes its own size. Beyond it (a 1280x720 clip for a model trained at 112x64 is 129x its area)
# the output takes the model's scale at the condition's aspect ratio: sampling far from the
# trained scale is slow and leaves what the model learned.
SCALE_TOLERANCE = 2.0


def at_scale(width: int, height: int, pixels: int, multiple: int) -> tuple[int, int]:
    """The size with the aspect ratio of `width` x `height` whose area is nearest `pixels`,
    each side a multiple of `multiple` in MIN_SIDE..MAX_SIDE (nearest: the smallest sum of
    the log errors of aspect ratio and area)."""
    aspect = width / height
    low = -(-MIN_SIDE // multiple) * multiple
    high = MAX_SIDE // multiple * multiple

    def sides(ideal: float) -> set[int]:
        lo = int(ideal // multiple) * multiple
        return {min(high, max(low, v)) for v in (lo, lo + multiple)}

    def error(size: tuple[int, int]) -> float:
        w, h = size
        return abs(math.log(w / h / aspect)) + abs(math.log(w * h / pixels))

    options = [
        (w, h) for w in sides(math.sqrt(pixels * aspect)) for h in sides(math.sqrt(pixels / aspect))
    ]
    return min(sorted(options), key=error)


def condition_size(
    width: int, height: int, *, multiple: int, grid: int, pixels: int
) -> tuple[int, int, bool] | None:
    """The output size for a condition of `width` x `height` when the call gives none:
    (w, h, scaled). Its own size rounded down to `multiple` (scaled False) when that is a valid
    size within SCALE_TOLERANCE of the model's `pixels`; the model's scale at its aspect ratio
    on the token `grid` (scaled True) when it is valid but of another scale; None when no
    output size fits it (a side rounds below MIN_SIDE or is above MAX_SIDE)."""
    w, h = (max(multiple, v - v % multiple) for v in (width, height))
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        return None
    if 1 / SCALE_TOLERANCE <= (w * h) / pixels <= SCALE_TOLERANCE:
        return w, h, False
    return (*at_scale(width, height, pixels, grid), True)


def scale_message(name: str, source: tuple[int, int], size: tuple[int, int], pixels: int) -> str:
    """The one line that says which size was chosen for a condition of another scale."""
    return (
        f"size {size[0]}x{size[1]} chosen: the {name} is {source[0]}x{source[1]}, far from the "
        f"model's scale ({pixels} pixels a frame); the output takes that scale at the {name}'s "
        "aspect ratio (give a size to choose another)"
    )


# The longest output one call makes (an hour at any fps): far beyond the minute a multi-shot
# video needs, and it turns a typo (`--seconds 1e9`) into an error instead of a run for ever.
MAX_SECONDS = 3600.0


def check_length(num_frames: int, fps: float) -> None:
    """Refuse an output longer than `MAX_SECONDS`, naming its length."""
    if num_frames / fps > MAX_SECONDS:
        raise UsageError(
            f"the output would last {num_frames / fps:,.0f} s ({num_frames:,} frames at {fps:g} "
            f"fps); one call makes at most {MAX_SECONDS:,.0f} s",
            param="seconds",
        )


def check_numbers(
    *,
    fps: float | None = None,
    seconds: float | None = None,
    shot_seconds: float | None = None,
    seed: int | None = None,
) -> None:
    """The scalar lengths and seed of a call, where given: a 0 or NaN is an error, never a
    default (the sampling settings check their own: `flow.settings.SamplingSettings`)."""
    for name, value in (("fps", fps), ("seconds", seconds), ("shot_seconds", shot_seconds)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UsageError(f"{name} must be a number > 0, got {value}", param=name)
    for name, value in (("seconds", seconds), ("shot_seconds", shot_seconds)):
        if value is not None and value > MAX_SECONDS:
            raise UsageError(f"{name} must be <= {MAX_SECONDS:g}, got {value:g}", param=name)
    if seed is not None and not -(2**63) <= seed < 2**63:
        raise UsageError(f"seed must fit in 64 bits, got {seed}", param="seed")


def snap_frames(num_frames: int, ft: int) -> int:
    """The nearest frame count of the form 1 + k*ft (rounding half up), at least 1."""
    if num_frames < 1:
        raise UsageError(f"frames must be >= 1, got {num_frames}", param="frames")
    return 1 + ft * max(0, math.floor((num_frames - 1) / ft + 0.5))


def check_frames(num_frames: int, ft: int) -> None:
    if num_frames < 1 or (num_frames - 1) % ft:
        lo = 1 + max(0, (num_frames - 1) // ft) * ft
        raise UsageError(
            f"frames must be 1 + k*{ft} (1, {1 + ft}, {1 + 2 * ft}, ...); nearest valid: "
            f"{lo} or {lo + ft}, got {num_frames}",
            param="frames",
        )


def frames_for_seconds(seconds: float, fps: float, ft: int) -> int:
    if not seconds > 0:
        raise UsageError(f"seconds must be > 0, got {seconds}", param="seconds")
    if not fps > 0:
        raise UsageError(f"fps must be > 0, got {fps}", param="fps")
    return snap_frames(max(1, round(seconds * fps)), ft)


def padded_length(num_frames: int, ft: int) -> int:
    """The shortest latent-aligned length 1 + k*ft that holds `num_frames` frames."""
    return 1 + ft * -(-(num_frames - 1) // ft)


def whole_multiple(n: int, ft: int) -> int:
    """`n` rounded down to a multiple of ft, at least ft."""
    return max(ft, n // ft * ft)


def output_frames(num_frames: int | None, seconds: float | None, fps: float, ft: int) -> int:
    """Frames of an output given as `num_frames` (1 + k*ft) or `seconds` (snapped to it)."""
    if num_frames is not None and seconds is not None:
        raise UsageError("give frames or seconds, not both", param="frames")
    if num_frames is not None:
        check_frames(num_frames, ft)
        return num_frames
    return frames_for_seconds(seconds, fps, ft)


def new_frames(num_frames, seconds, fps: float, default: int) -> int:
    """How many frames to make beside given clips (an extension): exactly `num_frames`, or
    `seconds` at `fps`, any count >= 1 (the sampler makes the next latent-aligned length and
    the frames farthest from the clip are dropped); `default` when neither is given."""
    if num_frames is not None and seconds is not None:
        raise UsageError("give frames or seconds, not both", param="frames")
    if num_frames is not None:
        whole = isinstance(num_frames, numbers.Integral) or (
            isinstance(num_frames, numbers.Real) and float(num_frames).is_integer()
        )
        if isinstance(num_frames, bool) or not whole or num_frames < 1:
            raise UsageError(
                f"frames must be a whole number >= 1, got {num_frames}", param="frames"
            )
        return int(num_frames)
    if seconds is not None:
        return frames_for_seconds(seconds, fps, 1)  # any count: ft=1
    return default


def bridge_frames(num_frames, seconds, fps: float, ft: int, default: int) -> int:
    """Frames of connect's bridge: B's first frames must start a latent frame, so the bridge
    is a multiple of ft; another count is refused with the nearest valid ones."""
    n = new_frames(num_frames, seconds, fps, default)
    if n % ft == 0:
        return n
    if num_frames is None:  # seconds: the nearest whole number of latent frames to them
        return whole_multiple(round(seconds * fps / ft) * ft, ft)
    lo = n // ft * ft
    near = f"{lo} or {lo + ft}" if lo else str(ft)
    raise UsageError(
        f"a connect bridge is a multiple of {ft} frames (B starts a latent frame); "
        f"nearest valid: {near}, got {num_frames}",
        param="frames",
    )


def loop_period(request, ft: int) -> bool:
    """Whether `num_frames` asks for a text-to-video loop of exactly that many frames: a
    whole number of latent frames (a multiple of ft). A count 1 + k*ft keeps its meaning
    (a period of k*ft frames after the causal first frame); any other is refused, naming
    the nearest periods."""
    num_frames = request.num_frames
    if not request.loop or request.image is not None or request.last_image is not None:
        return False
    if not isinstance(num_frames, numbers.Integral) or isinstance(num_frames, bool):
        return False  # None (seconds) or not a whole number: the usual checks answer
    if num_frames >= ft and num_frames % ft == 0:
        return True
    if num_frames > 1 and (num_frames - 1) % ft:
        lo = max(ft, num_frames // ft * ft)
        raise UsageError(
            f"a loop's frames are a multiple of {ft} (the period) or 1 + k*{ft} (a period of "
            f"k*{ft}); nearest valid period: {lo} or {lo + ft}, got {num_frames}",
            param="frames",
        )
    return False


def task_frames(request, model, fps: float, video) -> tuple[int, int | None]:
    """(total, new) frames of a request: beside given clips (an extension, a connect) `new`
    is the new part and `total` the largest window's share of it; a loop of a period gets
    the causal first frame before its circle; otherwise the output's (a shot's) length."""
    ft, r = model.ft, request
    if (video is not None and r.extend is not None) or r.connect is not None:
        if r.connect is None:
            default = frames_for_seconds(model.seconds, fps, ft)
            new = new_frames(r.num_frames, r.seconds, fps, default)
        else:
            default = whole_multiple(round(model.tasks.bridge_seconds * fps), ft)
            new = bridge_frames(r.num_frames, r.seconds, fps, ft, default)
        return padded_length(new, ft), new
    if loop_period(r, ft):
        return r.num_frames + 1, None  # the causal first frame, then a circle of num_frames
    if r.shot_seconds is not None:
        if r.shot_seconds <= 0:
            raise UsageError(
                f"shot seconds must be > 0, got {r.shot_seconds}", param="shot_seconds"
            )
        return frames_for_seconds(r.shot_seconds, fps, ft), None
    seconds = model.seconds if r.num_frames is None and r.seconds is None else r.seconds
    total = output_frames(r.num_frames, seconds, fps, ft)
    shots = len(r.prompts)
    return (total if shots == 1 else snap_frames(max(1, total // shots), ft)), None
