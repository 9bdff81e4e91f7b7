"""config_differences: the comparison behind --init (DiT, VAE) and export's VAE swap."""

from chronotope.utils.configs import config_differences


def test_equal_configs_have_no_differences_across_tuple_and_list():
    mine = {"patch": (1, 2, 2), "width": 256, "_name_or_path": "a"}
    theirs = {"patch": [1, 2, 2], "width": 256, "_name_or_path": "b", "_diffusers_version": "x"}
    assert config_differences(mine, theirs) == []


def test_differences_are_sorted_and_missing_keys_count_as_none():
    mine = {"width": 256, "depth": 8, "heads": 4}
    theirs = {"width": 384, "depth": 8, "qk_norm": True}
    assert config_differences(mine, theirs) == ["heads", "qk_norm", "width"]


def test_keys_and_ignore_restrict_the_comparison():
    mine = {"width": 256, "latents_mean": [0.0], "new_field": 1}
    theirs = {"width": 256, "latents_mean": [0.5]}
    assert config_differences(mine, theirs, ignore=["latents_mean", "new_field"]) == []
    assert config_differences(mine, theirs, keys=["width", "new_field"]) == ["new_field"]
    assert config_differences(mine, theirs, keys=[k for k in mine if k in theirs]) == [
        "latents_mean"
    ]
