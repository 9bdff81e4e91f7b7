"""The procedural world: scenes with exact physics, rendered with numpy, captioned, with the
ground truth of every frame. It is both the bundled model's training data and the evaluation's
ground truth."""

from chronotope.world.captions import make_caption, parse_prompt
from chronotope.world.clip import (
    FrameState,
    ObjectState,
    WorldClip,
    generate_clip,
    render_clip,
    scene_from_prompt,
)
from chronotope.world.overrides import FAMILY_OVERRIDES
from chronotope.world.scenes import check_family_weights, draw_family, sample_scene
from chronotope.world.spec import ObjectSpec, SceneSpec
from chronotope.world.vocab import (
    ACTIONS,
    BACKGROUNDS,
    COLORS,
    FAMILIES,
    HELDOUT_PAIRS,
    MOTIONS,
    SCENERY,
    SHAPES,
    VOCAB,
)

__all__ = [
    "ACTIONS",
    "BACKGROUNDS",
    "COLORS",
    "FAMILIES",
    "FAMILY_OVERRIDES",
    "HELDOUT_PAIRS",
    "MOTIONS",
    "SCENERY",
    "SHAPES",
    "VOCAB",
    "FrameState",
    "check_family_weights",
    "draw_family",
    "ObjectSpec",
    "ObjectState",
    "SceneSpec",
    "WorldClip",
    "generate_clip",
    "make_caption",
    "parse_prompt",
    "render_clip",
    "sample_scene",
    "scene_from_prompt",
]
