"""End to end through `PipelineEngine`: the real pipeline (tiny random weights) behind the API."""

import io

import av
import numpy as np
import pytest
from openai import OpenAI, omit
from serve_fakes import server_in_thread

from chronotope.serve import PipelineEngine, ServeConfig

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def tiny_pipeline():
    pipeline = pytest.importorskip("chronotope.pipeline")
    return pipeline.ChronotopePipeline.from_random(
        seed=0, width=64, depth=1, heads=1, fps=8.0, seconds=1.0, steps=2
    )


def frames_of(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_text_to_video_and_extend_through_the_pipeline(tmp_path):
    engine = PipelineEngine(tiny_pipeline())
    with server_in_thread(ServeConfig(data_dir=tmp_path), engine) as url:
        client = OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=120)
        video = client.videos.create(prompt="a red ball", seconds="1")  # the pipeline's size
        assert video.size == "112x64"
        done = client.videos.poll(video.id, poll_interval_ms=100)
        assert done.status == "completed", done.error
        frames = frames_of(client.videos.download_content(video.id).content)
        assert frames.shape == (9, 64, 112, 3)  # 1 s at 8 fps, snapped to T = 1 + 4k

        with pytest.raises(Exception) as e:
            client.videos.create(prompt="x", size="30x30", seconds="1")
        assert getattr(e.value, "status_code", None) == 400

        ext = client.videos.extend(
            video=omit, extra_body={"video": {"id": video.id}}, prompt="it rolls on", seconds="1"
        )
        done = client.videos.poll(ext.id, poll_interval_ms=100)
        assert done.status == "completed", done.error
        longer = frames_of(client.videos.download_content(ext.id).content)
        assert longer.shape == (17, 64, 112, 3)  # the source's 9 frames + 8 new
        assert np.abs(longer[:9].astype(int) - frames).mean() < 4  # the source comes first
        # submitted as the source's "1" + 1 s; done, the file's 17 frames at 8 fps
        assert ext.seconds == "2" and done.seconds == "2.125"
        assert client.videos.retrieve(video.id).seconds == "1"  # a create keeps its request


def test_huge_seconds_are_refused_at_submit_not_run_forever(tmp_path):
    import httpx

    engine = PipelineEngine(tiny_pipeline())
    with server_in_thread(ServeConfig(data_dir=tmp_path), engine) as url:
        # the pipeline's own check covers one sampling window, so 1e9 s passed it and the
        # job then held the worker (and grew its frames in memory) without end
        for seconds in ("1e9", "61"):
            r = httpx.post(url + "/v1/videos", json={"prompt": "x", "seconds": seconds})
            assert r.status_code == 400, r.text
            assert r.json()["error"]["param"] == "seconds"
        r = httpx.get(url + "/v1/videos")
        assert r.json()["data"] == []  # nothing was queued


def test_uploaded_clip_of_odd_size_is_edited_at_the_models_scale(tmp_path):
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:  # 175x143: odd sides need 4:4:4 in H.264
        s = c.add_stream("libx264", rate=8)
        s.width, s.height, s.pix_fmt = 175, 143, "yuv444p"
        for _ in range(5):
            frame = rng.integers(0, 255, (143, 175, 3), dtype=np.uint8)
            c.mux(s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        c.mux(s.encode())
    engine = PipelineEngine(tiny_pipeline())
    with server_in_thread(ServeConfig(data_dir=tmp_path), engine) as url:
        client = OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=120)
        video = client.videos.edit(prompt="x", video=("clip.mp4", buf.getvalue(), "video/mp4"))
        # was a 400 ("size 175x143 is not a multiple of 8"), then its size on the grid
        # (168x136); 3.5x the model's 112x64 pixels, it takes that scale at its aspect ratio
        assert video.size == "96x80"
        assert "size 96x80 chosen: the video is 175x143" in video.model_extra["warnings"][0]
        done = client.videos.poll(video.id, poll_interval_ms=100)
        assert done.status == "completed", done.error
        frames = frames_of(client.videos.download_content(video.id).content)
        assert frames.shape == (5, 80, 96, 3)
        assert done.seconds == "0.625"  # 5 frames at the pipeline's 8 fps


def test_a_cancelled_job_stops_within_a_solver_step():
    from chronotope.tasks.request import GenerationRequest

    pipe = pytest.importorskip("chronotope.pipeline").ChronotopePipeline.from_random(
        seed=0, width=64, depth=2, heads=1, fps=8.0, seconds=1.0, steps=2
    )
    engine = PipelineEngine(pipe)
    calls: list[tuple[int, int]] = []

    class Cancelled(Exception):
        pass

    def progress(step: int, total: int) -> None:  # the worker's callback: raises once deleted
        calls.append((step, total))
        if len(calls) == 2:
            raise Cancelled

    request = GenerationRequest(prompt="x", width=64, height=64, seconds=1.0)
    with pytest.raises(Cancelled):
        engine.generate(request, progress)
    assert calls == [(0, 1), (0, 1)]  # stopped before the second block of the first step
    hooks = [m._forward_pre_hooks for m in (*pipe.transformer.blocks, pipe.vae.decoder)]
    assert not any(hooks)  # nothing left behind on the shared pipeline
    steps: list[tuple[int, int]] = []
    frames, _ = engine.generate(request, lambda i, n: steps.append((i, n)))
    assert frames.shape == (9, 64, 64, 3)
    assert steps[-1] == (2, 2) and (1, 2) in steps
    assert len(steps) > 2 * 2  # 2 solver steps of 2 blocks, and the VAE: checked between them
