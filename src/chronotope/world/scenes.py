"""Scene sampling: one function per family turns a Generator (and pinned items) into a SceneSpec.

Nothing here looks at fps or the number of frames: a spec depends only on the seed, the frame
size and the pinned items (see spec.py). Speeds are tuned so that a 2-4 s clip shows the whole
event (a bounce, a pass behind the wall, a collision); longer clips simply continue the physics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from chronotope.errors import UsageError
from chronotope.world import shapes
from chronotope.world.landscape import Landscape, Layer
from chronotope.world.overrides import FAMILY_OVERRIDES, check_overrides
from chronotope.world.physics import (
    GRAVITY,
    Ballistic,
    Bounce,
    Collision,
    Hops,
    Linear,
    elastic_velocities,
)
from chronotope.world.spec import ObjectSpec, SceneSpec, Wall
from chronotope.world.vocab import (
    ACTIONS,
    COLORS,
    DIRECTIONS,
    FAMILIES,
    MOTIONS,
    SHAPES,
    is_heldout,
)

# Default mix of families; single objects dominate because they teach the vocabulary.
FAMILY_WEIGHTS: dict[str, float] = {
    "single": 0.3,
    "pair": 0.15,
    "collision": 0.15,
    "occlusion": 0.15,
    "pan": 0.1,
    "game": 0.15,
}
BACKGROUND_WEIGHTS: dict[str, float] = {"black": 0.5, "gray": 0.25, "sky": 0.25}

OBJECT_SIZE = (0.15, 0.25)  # units (fractions of the short side)
MIN_SIZE_PX = 7.0  # below about 6 px the center pixel of a player or triangle is no longer pure
SPEED = (0.1, 0.25)  # units/s for uniform motions (the world's own range)
BLOCK = 0.1  # landscape block side, units


def _uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _choose(rng: np.random.Generator, items, weights=None):
    items = list(items)
    if weights is not None:
        p = np.asarray(weights, dtype=np.float64)
        return items[int(rng.choice(len(items), p=p / p.sum()))]
    return items[int(rng.integers(len(items)))]


def check_family_weights(weights: Mapping[str, float] | None) -> dict[str, float] | None:
    """Scene-family weights (like `FAMILY_WEIGHTS`) as a dict of floats, or a `UsageError`
    naming the valid families; None stays None (the world's own mix)."""
    if weights is None:
        return None
    out = {str(k): float(v) for k, v in dict(weights).items()}
    unknown = sorted(set(out) - set(FAMILIES))
    if unknown:
        raise UsageError(
            f"unknown scene famil{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; "
            f"valid: {', '.join(FAMILIES)}",
            param="families",
        )
    if not all(math.isfinite(v) and v >= 0 for v in out.values()) or sum(out.values()) <= 0:
        raise UsageError(
            f"family weights must be >= 0 with a positive sum, got {out}", param="families"
        )
    return out


def draw_family(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    """One family drawn from `weights` (checked by `check_family_weights`)."""
    return _choose(rng, weights, list(weights.values()))


def sample_scene(
    rng: np.random.Generator,
    *,
    width: int,
    height: int,
    family: str | None = None,
    include_heldout: bool = False,
    overrides: dict | None = None,
) -> SceneSpec:
    """Draw a scene of `family` (or of a family that takes all `overrides`) from `rng`."""
    overrides = dict(overrides or {})
    family = check_overrides(family, overrides)
    # Every choice is drawn whether or not it is pinned, so pinning an item to the value the
    # seed would draw anyway reproduces the unpinned clip exactly (scene_from_prompt relies on it).
    drawn = _choose(rng, FAMILIES, [FAMILY_WEIGHTS[f] for f in FAMILIES])
    if family is None:
        names = [f for f in FAMILIES if set(overrides) <= set(FAMILY_OVERRIDES[f])]
        family = (
            drawn if drawn in names else _choose(rng, names, [FAMILY_WEIGHTS[f] for f in names])
        )
    ctx = _Context(rng, width, height, include_heldout, overrides)
    background = ctx.pinned("background", BACKGROUND_WEIGHTS, list(BACKGROUND_WEIGHTS.values()))
    return _SAMPLERS[family](ctx, background)


class _Context:
    """What every family sampler needs: the Generator, frame size in units, pinned items."""

    def __init__(self, rng, width, height, include_heldout, overrides):
        self.rng, self.width, self.height = rng, width, height
        self.scale = float(min(width, height))
        self.wu, self.hu = width / self.scale, height / self.scale  # frame size in units
        self.include_heldout, self.pins = include_heldout, overrides

    def size(self, lo: float = OBJECT_SIZE[0], hi: float = OBJECT_SIZE[1]) -> float:
        return max(_uniform(self.rng, lo, hi), MIN_SIZE_PX / self.scale)

    def pinned(self, name: str, options, weights=None) -> str:
        """Draw one of `options`, then let a pin replace it (the draw happens either way)."""
        drawn = _choose(self.rng, options, weights)
        return self.pins.get(name) or drawn

    def look(self, suffix: str = "", avoid_colors: tuple[str, ...] = ()) -> tuple[str, str]:
        """A (color, shape) honoring pins and the held-out pairs, avoiding some colors."""
        pin_c, pin_s = self.pins.get("color" + suffix), self.pins.get("shape" + suffix)
        pinned_heldout = pin_c is not None and pin_s is not None and is_heldout(pin_c, pin_s)
        if pinned_heldout and not self.include_heldout:
            raise UsageError(
                f"{pin_c} {pin_s} is held out of training; pass include_heldout=True",
                param="color" + suffix,
            )
        allowed = [
            (c, s)
            for c in COLORS
            for s in SHAPES
            if c not in avoid_colors and (self.include_heldout or not is_heldout(c, s))
        ]
        drawn = _choose(self.rng, allowed)
        if pin_c in (None, drawn[0]) and pin_s in (None, drawn[1]):
            return drawn
        options = [(c, s) for c, s in allowed if pin_c in (None, c) and pin_s in (None, s)]
        if not options:
            raise UsageError(
                f"color{suffix} must differ from the other object's color {', '.join(avoid_colors)}",
                param="color" + suffix,
            )
        return _choose(self.rng, options)

    def color(self) -> str:
        return self.pinned("color", COLORS)

    def inside(self, shape: str, size: float, x: float, y: float) -> tuple[float, float]:
        """Clamp a center so the whole shape starts inside the frame."""
        left, right, up, down = shapes.extent(shape, size)
        return float(np.clip(x, left, self.wu - right)), float(np.clip(y, up, self.hu - down))


def _free_object(ctx: _Context, region: tuple[float, float], suffix: str = "", avoid=()):
    """One object with a vocabulary motion, starting inside the x-`region` (fractions of width)."""
    rng = ctx.rng
    color, shape = ctx.look(suffix, avoid)
    size = ctx.size()
    motion = ctx.pinned("motion" + suffix, MOTIONS)
    x_lo, x_hi = region[0] * ctx.wu, region[1] * ctx.wu

    def at(fx: float, fy: float) -> tuple[float, float]:  # fractions of the region / height
        return ctx.inside(shape, size, x_lo + fx * (x_hi - x_lo), fy * ctx.hu)

    speed = _uniform(rng, *SPEED)
    fx_mid, fy_mid = _uniform(rng, 0.2, 0.8), _uniform(rng, 0.2, 0.8)
    fx_start, fy_start = _uniform(rng, 0.6, 0.9), _uniform(rng, 0.6, 0.85)
    if motion == "moves left":
        traj = Linear(**_xy(at(fx_start, fy_mid)), vx=-speed)
    elif motion == "moves right":
        traj = Linear(**_xy(at(1 - fx_start, fy_mid)), vx=speed)
    elif motion == "moves up":
        traj = Linear(**_xy(at(fx_mid, fy_start)), vy=-speed)
    elif motion == "moves down":
        traj = Linear(**_xy(at(fx_mid, 1 - fy_start)), vy=speed)
    elif motion == "stays still":
        traj = Linear(**_xy(at(fx_mid, fy_mid)))
    elif motion == "falls and bounces":
        floor_y = ctx.hu - shapes.extent(shape, size)[3]
        x0, y0 = at(fx_mid, _uniform(rng, 0.05, 0.35))
        traj = Bounce(
            x0=x0, y0=min(y0, floor_y - 0.2), floor_y=floor_y, restitution=_uniform(rng, 0.5, 0.8)
        )
    else:  # "is thrown in an arc": from low on one side toward the other
        rightward = bool(rng.integers(2))
        fx = _uniform(rng, 0.05, 0.3)
        x0, y0 = at(fx if rightward else 1 - fx, _uniform(rng, 0.6, 0.85))
        rise = min(_uniform(rng, 0.25, 0.5), y0 - shapes.extent(shape, size)[2] - 0.02)
        vx = _uniform(rng, 0.25, 0.45) * (1 if rightward else -1)
        traj = Ballistic(x0=x0, y0=y0, vx=vx, vy=-float(np.sqrt(2 * GRAVITY * max(rise, 0.0))))
    return ObjectSpec(shape=shape, color=color, size=size, motion=motion, trajectory=traj)


def _xy(p: tuple[float, float]) -> dict:
    return {"x0": p[0], "y0": p[1]}


def _single(ctx: _Context, background: str) -> SceneSpec:
    obj = _free_object(ctx, (0.0, 1.0))
    return SceneSpec(
        family="single", width=ctx.width, height=ctx.height, background=background, objects=(obj,)
    )


def _pair(ctx: _Context, background: str) -> SceneSpec:
    """Two objects, one starting in each half; distinct colors so a color mask tells them apart."""
    a = _free_object(ctx, (0.0, 0.5))
    b = _free_object(ctx, (0.5, 1.0), suffix="2", avoid=(a.color,))
    return SceneSpec(
        family="pair", width=ctx.width, height=ctx.height, background=background, objects=(a, b)
    )


def _mass(shape: str, size: float) -> float:
    """Mass = area (uniform density)."""
    return {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5}[shape] * size * size


def _collision(ctx: _Context, background: str) -> SceneSpec:
    """Two objects on a common baseline approach each other and bounce apart elastically."""
    rng = ctx.rng
    (ca, sa), za = ctx.look(), ctx.size()
    (cb, sb), zb = ctx.look("2", avoid_colors=(ca,)), ctx.size()
    baseline = _uniform(rng, 0.5, 0.85) * ctx.hu  # the objects' bottoms rest on this line
    ya, yb = baseline - shapes.extent(sa, za)[3], baseline - shapes.extent(sb, zb)[3]
    contact = shapes.contact_distance((sa, za, ya), (sb, zb, yb))
    va, vb = _uniform(rng, 0.15, 0.35), -_uniform(rng, 0.15, 0.35)
    x_meet = _uniform(rng, 0.4, 0.6) * ctx.wu  # midpoint of the two centers at impact
    xa_hit, xb_hit = x_meet - contact / 2, x_meet + contact / 2
    # impact after 0.5-1.1 s, sooner if an object would otherwise start outside the frame
    t_hit = min(
        _uniform(rng, 0.5, 1.1),
        (xa_hit - shapes.extent(sa, za)[0]) / va,
        (ctx.wu - shapes.extent(sb, zb)[1] - xb_hit) / -vb,
    )
    t_hit = max(t_hit, 0.0)
    ma, mb = _mass(sa, za), _mass(sb, zb)
    va2, vb2 = elastic_velocities(ma, va, mb, vb)
    a = ObjectSpec(
        shape=sa,
        color=ca,
        size=za,
        motion="collides",
        trajectory=Collision(x0=xa_hit - va * t_hit, y0=ya, vx=va, t_hit=t_hit, vx_after=va2),
    )
    b = ObjectSpec(
        shape=sb,
        color=cb,
        size=zb,
        motion="collides",
        trajectory=Collision(x0=xb_hit - vb * t_hit, y0=yb, vx=vb, t_hit=t_hit, vx_after=vb2),
    )
    extras = {"t_hit": t_hit, "masses": [ma, mb], "contact_distance": contact}
    return SceneSpec(
        family="collision",
        width=ctx.width,
        height=ctx.height,
        background=background,
        objects=(a, b),
        extras=extras,
    )


def _occlusion(ctx: _Context, background: str) -> SceneSpec:
    """An object passes behind a wall wider than itself, so it is wholly hidden for a while."""
    rng = ctx.rng
    color, shape = ctx.look()
    size = ctx.size(0.12, 0.18)  # small and fast: the whole pass fits in about 2 s
    direction = ctx.pinned("direction", DIRECTIONS)
    sign = 1.0 if direction == "right" else -1.0
    wall_w = size * _uniform(rng, 1.2, 1.6) + 2.0 / ctx.scale  # + 2 px: hides the AA fringe too
    wall_c = _uniform(rng, 0.4, 0.6) * ctx.wu
    gap = _uniform(rng, 0.03, 0.12)  # between the object's leading edge and the wall at t=0
    x0 = wall_c - sign * (wall_w / 2 + gap + size / 2)
    x0, y0 = ctx.inside(shape, size, x0, _uniform(rng, 0.25, 0.75) * ctx.hu)
    traj = Linear(x0=x0, y0=y0, vx=sign * _uniform(rng, 0.35, 0.5))
    obj = ObjectSpec(
        shape=shape, color=color, size=size, motion="passes behind a wall", trajectory=traj
    )
    return SceneSpec(
        family="occlusion",
        width=ctx.width,
        height=ctx.height,
        background=background,
        objects=(obj,),
        wall=Wall(x_left=wall_c - wall_w / 2, x_right=wall_c + wall_w / 2),
        direction=direction,
    )


def _layers(rng: np.random.Generator) -> tuple[Layer, ...]:
    salts = rng.integers(0, 2**62, size=3)
    return (
        Layer(name="far_layer", parallax=0.25, low=4, high=8, salt=int(salts[0]), smooth=4),
        Layer(name="mid_layer", parallax=0.5, low=2, high=6, salt=int(salts[1]), smooth=3),
        Layer(name="block", parallax=1.0, low=1, high=3, salt=int(salts[2]), smooth=2),
    )


def _pan(ctx: _Context, background: str) -> SceneSpec:
    """The camera pans over three block layers; an object stands still on the near layer."""
    rng = ctx.rng
    landscape = Landscape(block=BLOCK, layers=_layers(rng))
    direction = ctx.pinned("direction", DIRECTIONS)
    speed = _uniform(rng, 0.15, 0.3) * (1.0 if direction == "right" else -1.0)
    color, shape = ctx.look()
    size = ctx.size(0.15, 0.22)
    left, right, _, down = shapes.extent(shape, size)
    x = _uniform(rng, 0.3, 0.7) * ctx.wu
    y = ctx.hu - landscape.ground_top(x - left, x + right) - down
    obj = ObjectSpec(
        shape=shape, color=color, size=size, motion="stays still", trajectory=Linear(x0=x, y0=y)
    )
    return SceneSpec(
        family="pan",
        width=ctx.width,
        height=ctx.height,
        background=background,
        objects=(obj,),
        landscape=landscape,
        camera=Linear(x0=0.0, y0=0.0, vx=speed),
        direction=direction,
    )


GROUND_BLOCKS = 2


def _game(ctx: _Context, background: str) -> SceneSpec:
    """A player on a flat ground of blocks; the action is in the caption."""
    rng = ctx.rng
    ground = Layer(name="block", parallax=1.0, low=GROUND_BLOCKS, high=GROUND_BLOCKS, salt=0)
    action = ctx.pinned("action", ACTIONS)
    color = ctx.color()
    size = ctx.size(0.2, 0.28)
    y0 = ctx.hu - GROUND_BLOCKS * BLOCK - 0.5 * size
    sign = {"right": 1.0, "left": -1.0}.get(action.split()[-1], 0.0)
    facing = {1.0: "right", -1.0: "left"}.get(sign) or _choose(rng, DIRECTIONS)
    # moving actions start on the side they move away from
    x0 = (
        (0.5 - sign * _uniform(rng, 0.15, 0.35)) * ctx.wu
        if sign
        else _uniform(rng, 0.3, 0.7) * ctx.wu
    )
    x0, _ = ctx.inside("player", size, x0, y0)
    if action.startswith("walks"):
        traj = Linear(x0=x0, y0=y0, vx=sign * _uniform(rng, 0.15, 0.3))
    elif action.startswith("jumps"):
        rise = min(_uniform(rng, 0.2, 0.35), y0 - 0.5 * size - 0.02)
        traj = Hops(
            x0=x0,
            y0=y0,
            t0=_uniform(rng, 0.1, 0.4),
            v_jump=float(np.sqrt(2 * GRAVITY * max(rise, 0.0))),
            vx_air=sign * _uniform(rng, 0.2, 0.35),
            pause=_uniform(rng, 0.2, 0.4),
        )
    else:
        traj = Linear(x0=x0, y0=y0)
    player = ObjectSpec(
        shape="player", color=color, size=size, motion=action, trajectory=traj, facing=facing
    )
    return SceneSpec(
        family="game",
        width=ctx.width,
        height=ctx.height,
        background=background,
        objects=(player,),
        landscape=Landscape(block=BLOCK, layers=(ground,)),
    )


_SAMPLERS = {
    "single": _single,
    "pair": _pair,
    "collision": _collision,
    "occlusion": _occlusion,
    "pan": _pan,
    "game": _game,
}
