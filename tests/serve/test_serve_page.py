"""GET /page/config: the page's settings, and prompt suggestions in the model's own words."""

import math
import re
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from serve_fakes import FakeEngine

from chronotope.pipeline.vocabulary import unknown_words, vocabulary_of
from chronotope.serve import submit
from chronotope.serve.page import size_choices, suggestions
from chronotope.tasks.sizes import parse_size
from chronotope.world import make_caption, parse_prompt, sample_scene


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


@pytest.fixture(scope="module")
def vocabulary() -> frozenset[str]:
    """The content words of 2000 training captions (about every phrasing the world writes)."""
    rng = np.random.default_rng(123)
    captions = [make_caption(sample_scene(rng, width=64, height=64), rng) for _ in range(2000)]
    return vocabulary_of(captions)


def test_suggestions_are_world_scenes_in_the_vocabulary(vocabulary):
    ideas = suggestions(vocabulary)
    assert len(ideas) == 5 and len(set(ideas)) == 5
    for idea in ideas:
        assert unknown_words(idea, vocabulary) == []
        assert parse_prompt(idea)["family"] is not None  # each names a scene the world draws
    assert suggestions(vocabulary) == ideas  # the same list each time (one per server)


def test_a_word_outside_the_vocabulary_is_never_suggested(vocabulary):
    assert any("circle" in words(s) for s in suggestions(vocabulary))
    without = suggestions(vocabulary - {"circle"})
    assert without and not any("circle" in words(s) for s in without)
    assert suggestions(None) == [] and suggestions(frozenset()) == []


@pytest.mark.parametrize("default,multiple", [("64x64", 8), ("1280x720", 16)])
def test_sizes_are_the_models_area_at_three_aspects_then_four_times_it(default, multiple):
    sizes = size_choices(default, multiple)
    assert sizes[0] == default and len(sizes) == len(set(sizes))
    w0, h0 = parse_size(default)
    wanted = [(a, w0 * h0 * k) for k in (1, 4) for a in (1.0, 16 / 9, 9 / 16)]

    def fits(size, aspect, area):
        w, h = parse_size(size)
        return w / h == pytest.approx(aspect, rel=0.15) and w * h == pytest.approx(area, rel=0.2)

    assert all(any(fits(s, *want) for s in sizes) for want in wanted)
    for size in sizes[1:]:
        w, h = parse_size(size)
        assert w % multiple == 0 and h % multiple == 0
        assert any(fits(size, *want) for want in wanted)


def test_page_config_needs_no_key_and_names_what_the_server_takes(make_server, vocabulary):
    engine = FakeEngine()
    engine.pipe = SimpleNamespace(vocabulary=vocabulary)
    url = make_server(engine, api_key="secret", max_seconds=20.0)
    config = httpx.get(url + "/page/config").json()
    assert httpx.get(url + "/v1/videos").status_code == 401  # the API itself still needs it
    assert config["model"] == "chronotope" and config["default_size"] == engine.default_size
    assert config["sizes"][0] == engine.default_size
    assert config["fps"] == engine.fps and math.isclose(config["max_seconds"], 20.0)
    assert config["loop"] == ("loop" in submit.CREATE_FIELDS)
    assert config["suggestions"] == suggestions(vocabulary)
