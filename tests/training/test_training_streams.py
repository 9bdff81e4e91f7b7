import pytest
import torch

from chronotope.errors import UsageError
from chronotope.training import LatentCodec, get_preset
from chronotope.training.streams import WorldPool, default_stream_factory


def _cfg(tmp_path, **kw):
    return get_preset("test").override(
        out=str(tmp_path), sizes=((16, 16), (32, 16)), token_budget=1024, **kw
    )


def test_world_pool_cycles_and_encodes_each_clip_once(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, world_clips=3)
    pool = default_stream_factory(cfg, LatentCodec())
    assert isinstance(pool, WorldPool)
    first = [s for s, _ in zip(pool(0), range(7))]
    # clip i of the pool is clip i of the world stream, encoded (pixel space: identical)
    for i in range(3):
        torch.testing.assert_close(first[i].latent, pool.world[i].video)
        assert first[i].text == pool.world[i].text
    assert torch.equal(first[3].latent, first[0].latent)  # the pool cycles
    assert [s.meta["next_position"] for s in first] == list(range(1, 8))
    # reopening at a position continues the same sequence
    assert torch.equal(next(pool(5)).latent, first[5].latent)
    # a fresh pool (a resumed run) reads the disk cache and renders nothing
    again = default_stream_factory(cfg, LatentCodec())
    monkeypatch.setattr(type(again.world), "__getitem__", lambda *a: pytest.fail("rendered"))
    for s, ref in zip(again(0), first[:3]):
        assert torch.equal(s.latent, ref.latent) and s.text == ref.text


def test_pool_key_changes_with_the_world(tmp_path):
    a = WorldPool(_cfg(tmp_path, world_clips=2), LatentCodec(), tmp_path)
    b = WorldPool(_cfg(tmp_path, world_clips=2, fps=4.0), LatentCodec(), tmp_path)
    mix = (("pair", 1.0),)
    c = WorldPool(_cfg(tmp_path, world_clips=2, world_families=mix), LatentCodec(), tmp_path)
    assert len({a.folder, b.folder, c.folder}) == 3
    assert c.world.plan(0)["family"] == "pair"


def test_manifest_path_must_exist(tmp_path):
    with pytest.raises(UsageError, match="--data"):
        default_stream_factory(_cfg(tmp_path, data=str(tmp_path / "none.csv")), LatentCodec())


def test_encode_shards_fill_the_pool_once_and_a_run_then_renders_nothing(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, world_clips=5)
    folder = tmp_path / "latents"
    a, b = WorldPool(cfg, LatentCodec(), folder), WorldPool(cfg, LatentCodec(), folder)
    assert a.encode_shard(0, 2, progress=False) == 3  # clips 0, 2, 4
    assert b.encode_shard(1, 2, progress=False) == 2  # clips 1, 3
    assert a.encode_shard(0, 1, progress=False) == 0  # nothing is encoded twice
    assert not a.memory and not b.memory  # shards only write the cache
    names = sorted(p.name for p in a.folder.iterdir())
    assert names == [f"{i:08d}.safetensors" for i in range(5)]
    expected = [(a.world[i].video, a.world[i].text) for i in range(5)]
    run = WorldPool(cfg, LatentCodec(), folder)
    monkeypatch.setattr(type(run.world), "__getitem__", lambda *a: pytest.fail("rendered"))
    for i, (video, text) in enumerate(expected):
        latent, caption = run.latent(i)
        assert torch.equal(latent, video) and caption == text
    with pytest.raises(UsageError, match="shard"):
        a.encode_shard(2, 2)
