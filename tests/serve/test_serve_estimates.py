"""What the server tells before the work: the words a model never learned and the size it chose
(`warnings` on the video object, kept across restarts), and the time limit (a 400 giving the
estimate). The real engine over a tiny random-weights pipeline that declares a vocabulary."""

import io
import json
import sqlite3

import httpx
import numpy as np
import pytest
from PIL import Image
from serve_fakes import server_in_thread

from chronotope.serve import PipelineEngine, ServeConfig
from chronotope.serve.store import Job, JobStore, new_video_id

VOCABULARY = ["red", "circle", "moves", "left", "right"]


@pytest.fixture(scope="module")
def engine():
    from chronotope.pipeline import ChronotopePipeline

    pipe = ChronotopePipeline.from_random(
        seed=0, width=64, depth=1, heads=1, fps=8.0, seconds=1.0, steps=1,
        text={"vocabulary": VOCABULARY},
    )  # fmt: skip
    return PipelineEngine(pipe)


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    image = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def test_unknown_words_are_named_on_the_video_object(engine, tmp_path):
    with server_in_thread(ServeConfig(data_dir=tmp_path), engine) as url:
        r = httpx.post(url + "/v1/videos", data={"prompt": "a red cat plays the piano"})
        assert r.status_code == 200, r.text
        (warning,) = r.json()["warnings"]
        assert "'cat', 'plays', 'piano'" in warning and "red" not in warning
        again = httpx.get(url + f"/v1/videos/{r.json()['id']}").json()
        assert again["warnings"] == [warning]  # stored with the job
        known = httpx.post(url + "/v1/videos", data={"prompt": "A red circle moves left."})
        assert known.status_code == 200 and known.json()["warnings"] == []


def test_an_image_of_another_scale_takes_the_models_and_says_so(engine, tmp_path):
    with server_in_thread(ServeConfig(data_dir=tmp_path), engine) as url:
        files = {"input_reference": ("a.png", png(320, 180), "image/png")}
        r = httpx.post(url + "/v1/videos", data={"prompt": "a red circle"}, files=files)
        assert r.status_code == 200, r.text
        video = r.json()
        assert video["size"] == "112x64"  # 112x64 = the tiny model's 7168 pixels at 16:9
        assert any("size 112x64 chosen: the image is 320x180" in w for w in video["warnings"])
        files = {"input_reference": ("a.png", png(320, 180), "image/png")}
        given = httpx.post(
            url + "/v1/videos", data={"prompt": "a red circle", "size": "320x176"}, files=files
        ).json()
        assert given["size"] == "320x176" and given["warnings"] == []  # a size given wins


def test_over_the_time_limit_is_a_400_giving_the_estimate(engine, tmp_path):
    config = ServeConfig(data_dir=tmp_path, time_limit_minutes=1e-6)
    with server_in_thread(config, engine) as url:
        r = httpx.post(url + "/v1/videos", data={"prompt": "a red circle", "seconds": "1"})
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "time_limit_exceeded" and error["param"] == "size"
        assert (
            "would take an estimated" in error["message"]
            and "limit of 1e-06 min" in error["message"]
        )
        assert httpx.get(url + "/v1/videos").json()["data"] == []  # nothing was queued
    with pytest.raises(Exception, match="time limit"):
        ServeConfig(data_dir=tmp_path, time_limit_minutes=0)


def test_the_estimate_counts_the_length_asked_for(engine):
    from chronotope.tasks.request import GenerationRequest

    short, long = (
        engine.estimate_seconds(GenerationRequest("x", width=64, height=64, seconds=s), s)
        for s in (1.0, 30.0)
    )
    assert long > 3 * short > 0  # a 30 s video is sampled window after window


def test_warnings_survive_a_restart_and_an_old_database_gains_the_column(tmp_path):
    db = tmp_path / "jobs.sqlite3"
    old = sqlite3.connect(db)  # the schema before warnings
    old.executescript(
        "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, "
        "status TEXT NOT NULL, progress INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, "
        "completed_at INTEGER, expires_at INTEGER, model TEXT NOT NULL, prompt TEXT, "
        "seconds TEXT NOT NULL, size TEXT NOT NULL, remixed_from_video_id TEXT, "
        "error_code TEXT, error_message TEXT, attempts INTEGER NOT NULL DEFAULT 0, "
        "spec TEXT NOT NULL);"
    )
    old.execute(
        "INSERT INTO jobs (id, status, created_at, model, prompt, seconds, size, spec) "
        "VALUES ('video_old', 'completed', 1, 'chronotope', 'p', '4', '64x64', ?)",
        (json.dumps({"task": "text_to_video"}),),
    )
    old.commit()
    old.close()
    store = JobStore(db)
    assert store.get("video_old").warnings == []  # the old job, readable, told nothing
    job = Job(id=new_video_id(), model="m", prompt="a cat", seconds="1", size="64x64", spec={})
    job.warnings = ["the model never learned 'cat'"]
    assert store.insert(job)
    store.close()
    reopened = JobStore(db)
    assert reopened.get(job.id).to_video()["warnings"] == ["the model never learned 'cat'"]
    assert reopened.get("video_old").to_video()["warnings"] == []
    reopened.close()
