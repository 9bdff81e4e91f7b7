import json
import math

import pytest
import torch
from data_media_helpers import clip

from chronotope.data import (
    ManifestDataset,
    ManifestRow,
    WorldStream,
    to_tensor,
    write_manifest,
    write_video,
)
from chronotope.errors import UsageError


def small_stream(seed=7, **kw) -> WorldStream:
    kw = {"sizes": [(32, 32), (48, 32)], "seconds": (0.5, 2), "fps": 8, **kw}
    return WorldStream(seed, **kw)


def test_world_stream_samples_have_valid_shapes_and_ground_truth():
    stream = small_stream(image_prob=0.3)
    for sample in [stream[i] for i in range(6)]:
        c, t, h, w = sample.video.shape
        assert c == 3 and (w, h) in [(32, 32), (48, 32)]
        assert (t - 1) % 4 == 0  # 1 + k*temporal_factor; images are 1 frame
        assert sample.video.min() >= -1 and sample.video.max() <= 1
        assert sample.fps == 8.0 and sample.text
        truth = sample.meta["ground_truth"]
        assert truth["num_frames"] == t and (truth["width"], truth["height"]) == (w, h)
        json.dumps(sample.meta)  # JSON-able


def test_world_stream_plan_statistics():
    stream = small_stream(image_prob=0.25, seconds=(1, 2))
    plans = [stream.plan(i) for i in range(400)]
    frames = [p["num_frames"] for p in plans]
    images = sum(f == 1 for f in frames) / len(frames)
    assert 0.18 < images < 0.32
    assert all(f == 1 or f in (9, 13, 17) for f in frames)  # 1..2 s at 8 fps, k in 2..4


def test_world_stream_is_deterministic_and_index_addressed():
    a, b = small_stream(), small_stream()
    first = next(iter(a))
    assert torch.equal(first.video, b[0].video) and first.text == b[0].text
    assert torch.equal(a[5].video, b[5].video)  # random access: sample i needs only (seed, i)
    other = small_stream(seed=8)[0]
    assert not (other.video.shape == first.video.shape and torch.equal(other.video, first.video))


def test_world_stream_resumes_from_state():
    stream = small_stream()
    it = iter(stream)
    head = [next(it) for _ in range(3)]
    state = json.loads(json.dumps(stream.state()))  # survives a checkpoint's JSON
    assert state["position"] == 3
    tail_resumed = [s for s, _ in zip(WorldStream.from_state(state), range(2))]
    tail_straight = [next(it) for _ in range(2)]
    for x, y in zip(tail_resumed, tail_straight):
        assert torch.equal(x.video, y.video) and x.meta["index"] == y.meta["index"]
    started = next(iter(small_stream(start=3)))
    assert torch.equal(started.video, tail_straight[0].video)
    assert [s.meta["index"] for s in head] == [0, 1, 2]


def test_world_stream_workers_split_indices():
    loader = torch.utils.data.DataLoader(small_stream(), batch_size=None, num_workers=2)
    got = []
    for sample, _ in zip(loader, range(6)):
        got.append(sample.meta["index"])
    assert sorted(got) == list(range(6))


def test_world_stream_rejects_bad_arguments():
    with pytest.raises(UsageError, match="seconds"):
        WorldStream(0, seconds=(3, 1))
    with pytest.raises(UsageError, match="sizes"):
        WorldStream(0, sizes=[(-64, 64)])
    with pytest.raises(UsageError, match="image_prob"):
        WorldStream(0, image_prob=1.5)


def test_world_stream_family_weights_choose_the_scene_family_and_nothing_else():
    default, mixed = small_stream(), small_stream(families={"pair": 3, "single": 1, "pan": 0})
    fams = []
    for i in range(200):
        a, b = default.plan(i), mixed.plan(i)
        assert a["family"] is None  # the world draws it from its own mix
        # size, length and world seed are the same draws: only the family is added
        assert {k: v for k, v in b.items() if k != "family"} == {
            k: v for k, v in a.items() if k != "family"
        }
        fams.append(b["family"])
    assert set(fams) == {"pair", "single"}  # weight 0 and families left out: never drawn
    assert 0.65 < fams.count("pair") / len(fams) < 0.85  # 3:1
    for i in range(4):  # the clip is of the planned family
        assert mixed.clip(i).spec.family == mixed.plan(i)["family"]
    state = json.loads(json.dumps(mixed.state()))
    assert WorldStream.from_state(state).families == mixed.families
    assert torch.equal(WorldStream.from_state(state)[3].video, mixed[3].video)


@pytest.mark.parametrize(
    "families,match",
    [({"pairs": 1}, "unknown scene family pairs; valid: single, pair"), ({"pair": 0}, ">= 0")],
)
def test_world_stream_rejects_bad_family_weights(families, match):
    with pytest.raises(UsageError, match=match):
        WorldStream(0, families=families)


def make_manifest(tmp_path, items) -> str:
    rows = []
    for name, frames, fps in items:
        path = tmp_path / name
        if frames is None:
            path.write_text("corrupt")
        else:
            write_video(path, frames, fps)
        rows.append(ManifestRow(name, f"caption of {name}"))
    return write_manifest(tmp_path / "m.csv", rows)


def test_manifest_dataset_keeps_native_size_and_trims_frames(tmp_path):
    frames = clip(14, height=48, width=80)
    manifest = make_manifest(tmp_path, [("a.mp4", frames, 8), ("b.png", clip(1, 32, 64), 1)])
    samples = list(ManifestDataset(manifest))
    a, b = samples
    assert a.video.shape == (3, 13, 48, 80)  # 14 -> 1 + 3*4; native 80x48 kept
    assert a.text == "caption of a.mp4" and a.fps == 8.0
    assert b.video.shape == (3, 1, 32, 64)
    exact = to_tensor(clip(1, 32, 64))
    assert torch.equal(b.video, exact)


def test_manifest_dataset_resizes_to_multiples_and_budget(tmp_path):
    manifest = make_manifest(tmp_path, [("a.png", clip(1, height=50, width=90), 1)])
    (sample,) = list(ManifestDataset(manifest, size_multiple=16))
    assert sample.video.shape[-2:] == (48, 96)  # nearest multiples of 16
    assert sample.meta["source_size"] == (50, 90)
    (small,) = list(ManifestDataset(manifest, size_multiple=16, max_pixels=1600))
    h, w = small.video.shape[-2:]
    assert h * w <= 1600 and h % 16 == 0 and w % 16 == 0 and w > h  # aspect kept (landscape)


def test_manifest_dataset_fps_and_max_seconds(tmp_path):
    manifest = make_manifest(tmp_path, [("a.mp4", clip(40, 32, 32), 16)])
    (sample,) = list(ManifestDataset(manifest, fps=8, max_seconds=1.5))
    # at 8 fps 1.5 s is 12 frames -> trimmed to 1 + 2*4 = 9
    assert sample.video.shape[1] == 9 and sample.fps == 8.0


def test_manifest_dataset_skips_and_counts_corrupt_clips(tmp_path):
    manifest = make_manifest(
        tmp_path, [("a.mp4", clip(5), 8), ("bad.mp4", None, 0), ("c.mp4", clip(9), 8)]
    )
    dataset = ManifestDataset(manifest)
    names = [s.meta["path"].split("/")[-1] for s in dataset]
    assert names == ["a.mp4", "c.mp4"]
    assert dataset.skipped == 1 and dataset.failures[0][0].name == "bad.mp4"
    (tmp_path / "c.mp4").unlink()  # a missing file is skipped too
    assert len(list(dataset)) == 1 and dataset.skipped == 3


def test_manifest_dataset_real_clips_at_native_size(real_clips, tmp_path):
    rows = [ManifestRow(str(real_clips / n), n) for n in ("bikes.mp4", "carphone_pristine.mp4")]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    samples = list(ManifestDataset(manifest, max_seconds=1.0))
    assert samples[0].video.shape == (3, 25, 272, 640)
    assert samples[1].video.shape == (3, 29, 144, 176)
    assert samples[1].fps == pytest.approx(29.97, abs=1e-3)


def test_shuffle_is_a_seeded_permutation_per_epoch(tmp_path):
    items = [(f"{i}.png", clip(1, 16, 16, seed=i), 1) for i in range(6)]
    dataset = ManifestDataset(make_manifest(tmp_path, items), shuffle_seed=3)
    order0 = [s.meta["index"] for s in dataset]
    assert sorted(order0) == list(range(6)) and order0 == [s.meta["index"] for s in dataset]
    dataset.set_epoch(1)
    assert [s.meta["index"] for s in dataset] != order0


def test_valid_sizes_module_math():
    from chronotope.data import native_size, valid_num_frames

    assert [valid_num_frames(t, 4) for t in (1, 4, 5, 8, 9, 250)] == [1, 1, 5, 5, 9, 249]
    assert native_size(272, 640) == (272, 640)
    assert native_size(144, 176) == (144, 176)
    assert native_size(50, 90) == (48, 96)
    assert native_size(3, 5) == (16, 16)
    h, w = native_size(1080, 1920, max_pixels=256 * 256)
    assert h * w <= 256 * 256 and (h, w) == (192, 336)
    assert math.isclose(w / h, 1920 / 1080, rel_tol=0.05)
    with pytest.raises(UsageError):
        native_size(64, 64, max_pixels=10)
