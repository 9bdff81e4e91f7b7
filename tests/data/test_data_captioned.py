"""One's own training clips (a captioned folder or a CSV manifest): read at the model's fps and
scale, bad entries skipped and counted; the training pool encodes each clip once."""

import numpy as np
import pytest
from data_media_helpers import clip

from chronotope.data import write_video
from chronotope.data.captioned import (
    NO_CAPTION,
    TOO_SHORT,
    UNREADABLE,
    ClipReader,
    SkippedClip,
    clip_entries,
)
from chronotope.data.sizes import size_at_area
from chronotope.errors import UsageError
from chronotope.training.config import get_preset
from chronotope.training.latents import LatentCodec
from chronotope.training.streams import ClipPool

WORLD_SIZES = ((64, 64), (112, 64), (64, 112))


@pytest.fixture
def captioned(tmp_path):
    """ok: a 2 s clip, a still, a nested 25 fps clip; bad: no .txt, an empty .txt, a file that is
    not a video, a clip of 2 frames at 8 fps (under 1 + 4)."""
    root = tmp_path / "clips"
    (root / "sub").mkdir(parents=True)

    def put(name: str, frames, fps: float, caption: str | None) -> None:
        write_video(root / name, frames, fps=fps)
        if caption is not None:
            (root / name).with_suffix(".txt").write_text(caption)

    put("ok.mp4", clip(17), 8, "a red circle moves right\n")
    put("still.png", clip(1, seed=1), 1, "a blue square")
    put("sub/fast.mp4", clip(50, seed=2), 25, "a pink bar falls")
    put("nocap.mp4", clip(17, seed=3), 8, None)
    put("empty.mp4", clip(17, seed=4), 8, "  \n")
    put("short.mp4", clip(2, seed=5), 8, "too short")
    (root / "broken.mp4").write_text("not a video\n" * 20)
    (root / "broken.txt").write_text("a broken clip")
    return root


def reader(**kw) -> ClipReader:
    args = dict(fps=8.0, max_seconds=8.0, temporal_factor=4, size_multiple=16, sizes=WORLD_SIZES)
    return ClipReader(**{**args, **kw})


def test_a_folder_pairs_each_clip_with_its_caption_and_counts_those_without(captioned):
    entries, skips = clip_entries(captioned)
    names = [e.path.name for e in entries]
    assert names == ["broken.mp4", "ok.mp4", "short.mp4", "still.png", "fast.mp4"]
    assert [e.text for e in entries][1] == "a red circle moves right"  # stripped
    assert dict(skips.counts) == {NO_CAPTION: 2}


def test_clips_are_read_at_the_models_fps_length_and_scale(captioned):
    entries = {e.path.name: e for e in clip_entries(captioned)[0]}
    ok = reader().read(entries["ok.mp4"])
    assert tuple(ok.video.shape) == (3, 17, 64, 96)  # 48x32 at 112x64's area: 96x64
    fast = reader().read(entries["fast.mp4"])  # 2 s at 25 fps -> 8 fps: frames 0, 3, 6, ...
    assert fast.video.shape[1] == 13 and fast.fps == 8.0  # 16 picked, cut to 1 + 3*4
    # at most 1 s: 1 + 8 frames (as the world counts seconds)
    assert reader(max_seconds=1.0).read(entries["fast.mp4"]).video.shape[1] == 9
    assert reader().read(entries["still.png"]).video.shape[1] == 1  # an image trains as one
    for name, reason in (("short.mp4", TOO_SHORT), ("broken.mp4", UNREADABLE)):
        with pytest.raises(SkippedClip) as e:
            reader().read(entries[name])
        assert e.value.reason == reason and name in str(e.value)


@pytest.mark.parametrize(
    ("hw", "expect"),
    [
        ((720, 1280), (64, 112)),
        ((64, 64), (64, 64)),
        ((32, 32), (64, 64)),
        ((1280, 720), (112, 64)),
    ],
)
def test_the_scale_is_the_training_size_of_the_nearest_aspect(hw, expect):
    r = reader()
    assert size_at_area(*hw, area=r.area(*hw), size_multiple=16) == expect


def test_size_at_area_keeps_the_aspect_and_never_exceeds_the_area():
    for h, w in [(480, 640), (1080, 1920), (100, 2000), (33, 47)]:
        sh, sw = size_at_area(h, w, area=7168, size_multiple=16)
        assert sh % 16 == 0 and sw % 16 == 0 and sh * sw <= 7168
        assert abs(np.log((sw / sh) / (w / h))) < 0.5  # within a multiple of the aspect


def _pool(tmp_path, data) -> ClipPool:
    cfg = get_preset("test").override(data=str(data), out=str(tmp_path / "run"), sizes=((16, 16),))
    return ClipPool(cfg, LatentCodec(), tmp_path / "latents")


def test_a_manifest_skips_and_counts_bad_rows_in_one_line_and_each_clip_is_encoded_once(
    tmp_path, monkeypatch
):
    for i, frames in enumerate([clip(9), clip(9, seed=1), clip(1, seed=2)]):
        write_video(tmp_path / f"c{i}.mp4", frames, fps=8)
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    (tmp_path / "data.csv").write_text(
        "path,text\nc0.mp4,a red circle\nc1.mp4,\nc2.mp4,a short one\nbad.mp4,bad\n"
        "gone.mp4,a missing file\nc0.mp4,the same clip again\n"
    )
    pool = _pool(tmp_path, tmp_path / "data.csv")
    assert pool.prepare(progress=False) == [0, 4]  # entries: c0, c2, bad, gone, c0 again
    assert pool.report() == (
        "6 clips: 2 ok, 4 skipped (1 too short: c2.mp4; 2 unreadable: bad.mp4; "
        "1 without a caption: c1.mp4)"
    )
    first = [next(s) for s in [pool(0)] for _ in range(4)]  # two epochs of the two good clips
    assert sorted(s.text for s in first[:2]) == ["a red circle", "the same clip again"]
    # pixel space (ft 1, 2 px tokens): 0.5 s at most (1 + 4 frames), 48x32 at 16x16's area
    assert first[0].latent.shape == (3, 5, 12, 20)
    assert [s.meta["next_position"] for s in first] == [1, 2, 3, 4]

    calls = []
    monkeypatch.setattr(LatentCodec, "encode", lambda self, v: calls.append(1))
    again = _pool(tmp_path, tmp_path / "data.csv")
    assert again.prepare(progress=False) == [0, 4] and not calls  # read from disk, no decode
    assert again.report() == pool.report()


def test_no_clip_to_train_on_is_a_usage_error(tmp_path):
    (tmp_path / "data.csv").write_text("path,text\nmissing.mp4,a caption\n")
    with pytest.raises(UsageError, match="no clip to train on"):
        _pool(tmp_path, tmp_path / "data.csv").prepare(progress=False)
    with pytest.raises(UsageError, match="neither a file nor a folder"):
        _pool(tmp_path, tmp_path / "nothing")
