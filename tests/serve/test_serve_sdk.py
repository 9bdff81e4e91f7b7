"""The official `openai` SDK's `client.videos.*`, unmodified, against a local server."""

import io

import av
import numpy as np
import pytest
from openai import OpenAI, omit
from PIL import Image
from serve_fakes import prompt_color

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # "Sora API shuts down"


@pytest.fixture(scope="module")
def client(server) -> OpenAI:
    return OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0, timeout=30)


def decode_mp4(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def wait(client: OpenAI, video_id: str):
    video = client.videos.poll(video_id, poll_interval_ms=50)
    assert video.status == "completed", video.error
    return video


def test_text_to_video_create_poll_download(client):
    video = client.videos.create(prompt="a red ball", size="64x48", seconds="4", model="sora-2")
    assert video.status == "queued" and video.object == "video" and video.progress == 0
    assert (video.size, video.seconds, video.model, video.prompt) == (
        "64x48",
        "4",
        "sora-2",
        "a red ball",
    )

    seen = set()
    while (v := client.videos.retrieve(video.id)).status in ("queued", "in_progress"):
        seen.add(v.progress)
    assert v.status == "completed" and v.progress == 100
    assert v.completed_at >= v.created_at and v.expires_at > v.completed_at
    assert any(0 < p < 100 for p in seen)  # progress moves in between (8 steps of 30 ms)

    frames = decode_mp4(client.videos.download_content(video.id).content)
    assert frames.shape == (32, 48, 64, 3)  # 4 s at the engine's 8 fps, native size
    # the background color is the prompt's (lossy codec: a tolerance)
    assert np.abs(frames[:, 30:, :].reshape(-1, 3).mean(0) - prompt_color("a red ball")).max() < 6

    thumb = client.videos.download_content(video.id, variant="thumbnail").content
    with Image.open(io.BytesIO(thumb)) as img:
        assert (img.format, img.size) == ("WEBP", (64, 48))
    sheet = client.videos.download_content(video.id, variant="spritesheet").content
    with Image.open(io.BytesIO(sheet)) as img:
        assert img.format == "JPEG" and img.size == (4 * 64, 4 * 48)  # 16 tiles, 4x4


def test_image_to_video_starts_from_the_image(client, engine):
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = (250, 10, 10)
    image[:, 32:] = (10, 10, 250)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    video = client.videos.create(
        prompt="a picture comes alive", size="64x48", seconds="2",
        input_reference=("first.png", buf.getvalue(), "image/png"),
    )  # fmt: skip
    wait(client, video.id)
    assert engine.calls[-1].task == "image_to_video"
    assert np.array_equal(engine.calls[-1].image, image)  # same size: passed through exactly
    first = decode_mp4(client.videos.download_content(video.id).content)[0].astype(int)
    assert np.abs(first[10:40, 4:28] - (250, 10, 10)).max() < 12
    assert np.abs(first[10:40, 36:60] - (10, 10, 250)).max() < 12


def test_remix_extend_edit_and_delete(client, engine):
    src = client.videos.create(prompt="a green field", size="64x48", seconds="2")
    wait(client, src.id)

    remix = client.videos.remix(src.id, prompt="the same field at night")
    assert remix.remixed_from_video_id == src.id and remix.size == "64x48" and remix.seconds == "2"
    wait(client, remix.id)
    assert engine.calls[-1].task == "restyle" and engine.calls[-1].video.shape == (16, 48, 64, 3)

    # openai 3.57 rejects `video={"id": ...}` client-side (extract_files wants a file), so a
    # reference by id goes through extra_body; the wire form is the same multipart `video[id]`
    ext = client.videos.extend(
        video=omit, extra_body={"video": {"id": src.id}}, prompt="and then it rains", seconds="1"
    )
    assert ext.seconds == "3"  # the stitched total
    wait(client, ext.id)
    frames = decode_mp4(client.videos.download_content(ext.id).content)
    assert frames.shape[0] == 16 + 8
    original = decode_mp4(client.videos.download_content(src.id).content)
    assert np.abs(frames[:16].astype(int) - original).mean() < 3  # the source comes first

    # edit with an uploaded file rather than an id
    mp4 = client.videos.download_content(src.id).content
    edit = client.videos.edit(video=("clip.mp4", mp4, "video/mp4"), prompt="make it autumn")
    wait(client, edit.id)
    assert engine.calls[-1].task == "restyle" and engine.calls[-1].video.shape == (16, 48, 64, 3)

    deleted = client.videos.delete(remix.id)
    assert deleted.deleted and deleted.id == remix.id and deleted.object == "video.deleted"
    with pytest.raises(Exception) as e:
        client.videos.retrieve(remix.id)
    assert getattr(e.value, "status_code", None) == 404


def test_list_pagination_both_orders(client):
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
