"""The world's vocabulary: every name a caption may use, with the exact RGB of every color.

Object colors are saturated and far apart in RGB: at least 127 from each other and 104 from every
background and scenery color (a test checks both), so a color mask with a tolerance below about
50 finds an object's pixels and nothing else. Scenery
(walls, blocks, landscape layers) uses muted colors that are not in the vocabulary, so a detector
never mistakes scenery for an object.
"""

from __future__ import annotations

# Exact RGB of the object colors; an object's pixels are exactly this color away from its edges.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "orange": (255, 128, 0),
    "yellow": (255, 255, 0),
    "green": (0, 255, 0),
    "cyan": (0, 255, 255),
    "blue": (0, 0, 255),
    "purple": (160, 0, 255),
    "white": (255, 255, 255),
}

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")

# Backgrounds: a flat color, or a vertical gradient (top, bottom) for `sky`.
BACKGROUNDS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "black": ((0, 0, 0), (0, 0, 0)),
    "gray": ((128, 128, 128), (128, 128, 128)),
    "sky": ((70, 110, 170), (170, 200, 230)),
}
DEFAULT_BACKGROUND = "black"

# Scenery colors: never object colors (see the module docstring).
SCENERY: dict[str, tuple[int, int, int]] = {
    "wall": (96, 72, 56),  # the occluder in `occlusion`
    "block": (140, 90, 50),  # near landscape layer and the game's ground
    "block_edge": (100, 62, 32),  # mortar lines between blocks
    "mid_layer": (60, 110, 80),  # middle landscape layer (parallax 0.5)
    "far_layer": (70, 70, 110),  # far landscape layer (parallax 0.25)
    "eye": (0, 0, 0),  # the player's eye: shows which way the player faces
}

# Motions of free objects (families `single` and `pair`).
MOTIONS: tuple[str, ...] = (
    "moves left",
    "moves right",
    "moves up",
    "moves down",
    "falls and bounces",
    "is thrown in an arc",
    "stays still",
)

# The player's actions in the block-world game (family `game`).
ACTIONS: tuple[str, ...] = (
    "walks right",
    "walks left",
    "jumps",
    "jumps right",
    "jumps left",
    "stands still",
)

# Horizontal directions of occlusion passes and camera pans.
DIRECTIONS: tuple[str, ...] = ("left", "right")

FAMILIES: tuple[str, ...] = ("single", "pair", "collision", "occlusion", "pan", "game")

# (color, shape) pairs held out of the default training distribution (compositional eval): two
# of each shape, each color of a pair seen in training with the other shapes. Models trained
# before 2026-12 saw the last four (only green triangle and orange square were held out then).
HELDOUT_PAIRS: tuple[tuple[str, str], ...] = (
    ("green", "triangle"),
    ("orange", "square"),
    ("purple", "circle"),
    ("cyan", "square"),
    ("white", "triangle"),
    ("blue", "circle"),
)

VOCAB: dict[str, object] = {
    "shapes": SHAPES,
    "colors": COLORS,
    "backgrounds": BACKGROUNDS,
    "motions": MOTIONS,
    "actions": ACTIONS,
    "directions": DIRECTIONS,
    "families": FAMILIES,
}


def is_heldout(color: str, shape: str) -> bool:
    """True for a (color, shape) pair that is held out of the default training distribution."""
    return (color, shape) in HELDOUT_PAIRS
