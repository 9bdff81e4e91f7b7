"""The official `openai` SDK's `client.videos.*`, unmodified, against a local server, twice:
with the fake engine (`serve_fakes`: fast, and it records which request reached it) and with
the bundled model behind the real engine (what `chronotope serve` loads), where what came back
is checked: size, length, fps, thumbnails and spritesheets against the video's frames, and with
the eval's detectors the prompt's color and motion; an extension starts with its source."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import openai
import pytest
from openai import OpenAI, omit
from PIL import Image
from serve_fakes import FakeEngine, prompt_color, server_in_thread

from chronotope.eval.adherence import score_video
from chronotope.eval.prompts import PromptCase
from chronotope.serve import ServeConfig
from chronotope.world import scene_from_prompt

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # "Sora API shuts down"

# A caption as the world's training writes it (world.captions.TRAINING, template "{a_a} {verb}")
PROMPT = "a red circle moves right"
SIZE = "64x64"  # the bundled model's native size; the fake takes it too
FPS = 8.0  # both engines generate at 8 fps
# frames of `seconds`: the fake makes round(s * fps); the model 1 + 4k (its VAE's temporal
# factor is 4), the nearest to 1 + s * fps
FRAMES = {"fake": {"0.5": 4, "1": 8}, "real": {"0.5": 5, "1": 9}}
EXTENDED = {"fake": 16, "real": 17}  # 1 s + 1 s: the source's frames and 8 new ones
# mean |difference| (0-255) allowed between a frame and the same frame once more through a lossy
# codec: H.264 again (an extension's source frames), WEBP (the thumbnail), JPEG (a spritesheet
# tile). Measured on the model's videos 0.24-0.30, 0.64-0.71, <= 1.08; on the fake's (a flat
# color that yuv420p shifts by 2, a hard-edged square) 1.96-1.99, 2.99, <= 2.60.
TOLERANCE = {
    "fake": {"codec": 3.0, "thumbnail": 4.0, "tile": 3.5},
    "real": {"codec": 1.0, "thumbnail": 1.5, "tile": 2.0},
}


@dataclass
class Served:
    kind: str  # "fake" or "real"
    engine: Any
    client: OpenAI

    def frames(self, seconds: str) -> int:
        return FRAMES[self.kind][seconds]

    def tolerance(self, what: str) -> float:
        return TOLERANCE[self.kind][what]


@pytest.fixture(scope="module", params=["fake", "real"])
def served(request, tmp_path_factory) -> Served:
    kind = request.param
    engine = FakeEngine() if kind == "fake" else request.getfixturevalue("bundled_engine")
    config = ServeConfig(data_dir=tmp_path_factory.mktemp(f"sdk-{kind}"))
    with server_in_thread(config, engine) as url:
        client = OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=120)
        yield Served(kind, engine, client)


def decode_mp4(data: bytes) -> tuple[np.ndarray, float]:
    with av.open(io.BytesIO(data)) as c:
        fps = float(c.streams.video[0].average_rate)
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]), fps


def download(client: OpenAI, video_id: str) -> tuple[np.ndarray, float]:
    return decode_mp4(client.videos.download_content(video_id).content)


def wait(client: OpenAI, video_id: str):
    video = client.videos.poll(video_id, poll_interval_ms=50)
    assert video.status == "completed", video.error
    return video


def scored(prompt: str, frames: np.ndarray) -> dict[str, bool]:
    """The eval's adherence score (detectors, tracks, the world's motion rules) of `frames`
    against the scene `prompt` describes: {"color", "shape", "motion", "count"}."""
    case = PromptCase("in_distribution", prompt, scene_from_prompt(prompt).spec)
    return score_video(case, frames, FPS)


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def assert_starts_with(frames: np.ndarray, source: np.ndarray, tolerance: float) -> None:
    """An extension's first frames are its source's, within one more H.264 encode, and what
    follows is new (not the source's last frame held)."""
    n = len(source)
    per_frame = [mean_diff(a, b) for a, b in zip(frames[:n], source)]
    assert max(per_frame) < tolerance, per_frame
    assert max(mean_diff(f, source[-1]) for f in frames[n:]) > 1.0


def test_create_poll_and_download_every_variant(served):
    client = served.client
    video = client.videos.create(
        prompt=PROMPT, size=SIZE, seconds="1", model="sora-2", extra_body={"seed": 0}
    )
    assert video.status == "queued" and video.object == "video" and video.progress == 0
    assert (video.size, video.seconds, video.model, video.prompt) == (SIZE, "1", "sora-2", PROMPT)

    seen = set()
    while (v := client.videos.retrieve(video.id)).status in ("queued", "in_progress"):
        seen.add(v.progress)
    assert v.status == "completed" and v.progress == 100
    assert v.completed_at >= v.created_at and v.expires_at > v.completed_at
    assert any(0 < p < 100 for p in seen)  # progress moves in between (8 or 24 steps)

    frames, fps = download(client, video.id)
    assert frames.shape == (served.frames("1"), 64, 64, 3) and fps == FPS
    if served.kind == "fake":  # the background is the prompt's color (lossy codec: a tolerance)
        assert np.abs(frames[:, 30:].reshape(-1, 3).mean(0) - prompt_color(PROMPT)).max() < 6
    else:  # the model draws the prompt's object in its color (seed 0; see the seeds test)
        assert scored(PROMPT, frames)["color"]

    thumb = client.videos.download_content(video.id, variant="thumbnail").content
    with Image.open(io.BytesIO(thumb)) as img:
        assert (img.format, img.size) == ("WEBP", (64, 64))
        middle = frames[len(frames) // 2]
        assert mean_diff(np.asarray(img.convert("RGB")), middle) < served.tolerance("thumbnail")
    sheet = client.videos.download_content(video.id, variant="spritesheet").content
    with Image.open(io.BytesIO(sheet)) as img:  # 8 or 9 tiles: a 3x3 grid of frames in order
        assert img.format == "JPEG" and img.size == (3 * 64, 3 * 64)
        tiles = np.asarray(img.convert("RGB")).reshape(3, 64, 3, 64, 3).transpose(0, 2, 1, 3, 4)
    for k, frame in enumerate(frames):  # 9 or fewer frames: each is its own tile
        assert mean_diff(tiles.reshape(9, 64, 64, 3)[k], frame) < served.tolerance("tile"), k


def test_image_to_video_starts_from_the_image(served):
    image = scene_from_prompt(PROMPT, seed=3, num_frames=1).frames[0]  # the world's own frame
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    video = served.client.videos.create(
        prompt=PROMPT, size=SIZE, seconds="1", extra_body={"seed": 0},
        input_reference=("first.png", buf.getvalue(), "image/png"),
    )  # fmt: skip
    wait(served.client, video.id)
    if served.kind == "fake":
        assert served.engine.calls[-1].task == "image_to_video"
        assert np.array_equal(served.engine.calls[-1].image, image)  # same size: exact
    frames, _ = download(served.client, video.id)
    assert frames.shape == (served.frames("1"), 64, 64, 3)
    # the first frame is the image: the model's, through its VAE and H.264, measured 0.54-0.65
    # (its next frame, where the circle has moved, 1.4-1.5)
    assert mean_diff(frames[0], image) < 1.2
    if served.kind == "real":
        assert scored(PROMPT, frames)["color"]  # the image's red circle stays in view


def test_remix_extend_by_id_and_upload_edit_and_delete(served):
    client = served.client
    src = client.videos.create(prompt=PROMPT, size=SIZE, seconds="1", extra_body={"seed": 1})
    wait(client, src.id)
    source, _ = download(client, src.id)

    remix = client.videos.remix(src.id, prompt="a blue circle moves right")
    assert remix.remixed_from_video_id == src.id and remix.size == SIZE and remix.seconds == "1"
    wait(client, remix.id)
    assert download(client, remix.id)[0].shape == source.shape
    if served.kind == "fake":
        assert served.engine.calls[-1].task == "restyle"
        assert served.engine.calls[-1].video.shape == source.shape

    # openai 3.x rejects `video={"id": ...}` client-side (extract_files wants a file), so a
    # reference by id goes through extra_body; the wire form is the same multipart `video[id]`
    ext = client.videos.extend(
        video=omit, extra_body={"video": {"id": src.id}}, prompt=PROMPT, seconds="1"
    )
    assert ext.seconds == "2"  # the stitched total as submitted
    wait(client, ext.id)
    frames, fps = download(client, ext.id)
    assert frames.shape == (EXTENDED[served.kind], 64, 64, 3) and fps == FPS
    assert_starts_with(frames, source, served.tolerance("codec"))

    mp4 = client.videos.download_content(src.id).content  # the same source, uploaded
    up = client.videos.extend(video=("clip.mp4", mp4, "video/mp4"), prompt=PROMPT, seconds="1")
    wait(client, up.id)
    uploaded, _ = download(client, up.id)
    assert uploaded.shape == frames.shape
    assert_starts_with(uploaded, source, served.tolerance("codec"))

    edit = client.videos.edit(video=("clip.mp4", mp4, "video/mp4"), prompt="a green circle")
    wait(client, edit.id)
    assert download(client, edit.id)[0].shape == source.shape
    if served.kind == "fake":
        assert served.engine.calls[-1].task == "restyle"

    deleted = client.videos.delete(remix.id)
    assert deleted.deleted and deleted.id == remix.id and deleted.object == "video.deleted"
    with pytest.raises(openai.NotFoundError) as e:
        client.videos.retrieve(remix.id)
    assert (e.value.status_code, e.value.code, e.value.param) == (404, "not_found", "video_id")
    assert remix.id in e.value.message


def test_list_pagination_both_orders(served):
    client = served.client
    ids = [client.videos.create(prompt=f"p{i}", size="16x16", seconds="0.5").id for i in range(5)]
    page = client.videos.list(limit=2)  # newest first
    assert [v.id for v in page.data] == ids[::-1][:2] and page.has_more
    everything = [v.id for v in client.videos.list(limit=2, order="asc")]  # auto-paginates
    assert everything[-5:] == ids
    assert len(everything) == len(set(everything))
    second = client.videos.list(limit=2, after=ids[-2])
    assert [v.id for v in second.data] == [ids[-3], ids[-4]]
    for i in ids:
        wait(client, i)
    assert download(client, ids[0])[0].shape == (served.frames("0.5"), 16, 16, 3)


def test_errors_in_the_sdks_shape(served):
    client = served.client
    with pytest.raises(openai.BadRequestError) as e:  # on neither engine's size grid
        client.videos.create(prompt=PROMPT, size="60x44", seconds="1")
    error = (e.value.code, e.value.param, e.value.type)
    assert error == ("invalid_value", "size", "invalid_request_error")
    with pytest.raises(openai.NotFoundError) as e:
        client.videos.download_content("video_" + "0" * 32)
    assert e.value.param == "video_id"
    first = client.videos.create(prompt=PROMPT, size="16x16", seconds="0.5")
    second = client.videos.create(prompt=PROMPT, size="16x16", seconds="0.5")
    with pytest.raises(openai.BadRequestError) as e:  # queued behind the first: not ready yet
        client.videos.download_content(second.id)
    assert e.value.code == "video_not_ready"
    with pytest.raises(openai.BadRequestError) as e:
        client.videos.download_content(first.id, variant="poster")  # type: ignore[arg-type]
    assert e.value.param == "variant"
    wait(client, second.id)


@pytest.mark.parametrize("served", ["real"], indirect=True)  # the fake draws no object
def test_the_video_shows_the_prompts_color_and_motion(served):
    """Seeds 0-4, fixed, every one counted, a majority required. The bundled model follows color
    reliably and motion about 3 times in 4 over the eval. For this prompt (one object, uniform
    motion, its training wording, 64x64, 1 s, the server's defaults) it drew red in 12 of 12
    seeds (0-11) and moved right in 11 of 12, both in bf16 (this CPU's autocast) and in fp32
    (the same seed, 1, failed in both). Seeds 0-4 were not picked: they are the first five, and
    score 5/5 and 4/5 here. A majority (3 of 5) leaves room for another CPU's kernels (at 0.9
    per seed it fails < 1 % of the time), while a model or a server that drops the prompt
    fails it (red is 1 of 8 colors; a motion left to chance matches about 1 in 7)."""
    client = served.client
    ids = [
        client.videos.create(prompt=PROMPT, size=SIZE, seconds="1", extra_body={"seed": s}).id
        for s in range(5)
    ]
    scores = []
    for video_id in ids:
        wait(client, video_id)
        frames, fps = download(client, video_id)
        assert frames.shape == (9, 64, 64, 3) and fps == FPS
        scores.append(scored(PROMPT, frames))
    assert sum(s["color"] for s in scores) >= 3, scores
    assert sum(s["motion"] for s in scores) >= 3, scores
    # the same request is the same video: seed 0 again gives the bytes of the first
    again = client.videos.create(prompt=PROMPT, size=SIZE, seconds="1", extra_body={"seed": 0})
    wait(client, again.id)
    first = client.videos.download_content(ids[0]).content
    assert client.videos.download_content(again.id).content == first


def test_a_loop_wraps_its_last_frame_into_its_first(served):
    """`loop` (this server's extension of the API; the page's Loop tab sends it): the request
    that reaches the engine is a loop, it survives the store (the worker rebuilds it), and on
    the model the wrap (last frame -> first) is a step like the others, while the same prompt
    and seed without `loop` jumps back at the wrap. A bad value is refused naming `loop`."""
    client = served.client
    made = {}
    for loop in (True, False):
        video = client.videos.create(
            prompt=PROMPT, size=SIZE, seconds="1", extra_body={"seed": 0, "loop": loop}
        )
        wait(client, video.id)
        made[loop], _ = download(client, video.id)
    if served.kind == "fake":
        assert [c.task for c in served.engine.calls[-2:]] == ["loop", "text_to_video"]
    else:

        def wrap_to_step(frames):
            steps = np.median([mean_diff(a, b) for a, b in zip(frames[:-1], frames[1:])])
            return mean_diff(frames[-1], frames[0]) / steps

        assert wrap_to_step(made[True]) < 2.0 < wrap_to_step(made[False])
    with pytest.raises(openai.BadRequestError) as e:
        client.videos.create(prompt=PROMPT, size=SIZE, seconds="1", extra_body={"loop": "maybe"})
    assert e.value.body["param"] == "loop"
