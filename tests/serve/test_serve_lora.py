"""LoRA adapters served as models: GET /v1/models lists them, a video's `model` picks one."""

import time

import httpx
import pytest
from serve_fakes import FakeEngine

from chronotope.errors import UsageError
from chronotope.serve import ServeConfig


def test_models_list_the_base_and_each_adapter_and_the_model_field_reaches_the_engine(
    make_server, tmp_path
):
    engine = FakeEngine(steps=1, step_sleep=0.0)
    lora = {"pink": (tmp_path / "a.safetensors", 1.0), "star-2": (tmp_path / "b", 0.5)}
    url = make_server(engine, lora=lora)
    listed = httpx.get(f"{url}/v1/models").json()
    assert listed["object"] == "list"
    assert [(m["id"], m["owned_by"]) for m in listed["data"]] == [
        ("chronotope", "chronotope"),
        ("pink", "lora"),
        ("star-2", "lora"),
    ]
    assert all(m["object"] == "model" and isinstance(m["created"], int) for m in listed["data"])
    assert httpx.get(f"{url}/v1/models/pink").json()["id"] == "pink"
    missing = httpx.get(f"{url}/v1/models/blue")
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "model"

    for model in ("pink", "chronotope", "sora-2"):
        r = httpx.post(f"{url}/v1/videos", json={"prompt": "a pink circle", "model": model})
        assert r.status_code == 200, r.text
        video_id = r.json()["id"]
        for _ in range(200):
            if httpx.get(f"{url}/v1/videos/{video_id}").json()["status"] == "completed":
                break
            time.sleep(0.02)
        assert httpx.get(f"{url}/v1/videos/{video_id}").json()["model"] == model
    assert engine.models == ["pink", "chronotope", "sora-2"]  # the engine maps names to adapters
    bad = httpx.post(f"{url}/v1/videos", json={"prompt": "a circle", "model": "blue"})
    assert bad.status_code == 400 and "pink" in bad.json()["error"]["message"]


@pytest.mark.parametrize("name", ["chronotope", "sora-2", "two words", ""])
def test_an_adapter_cannot_take_the_base_models_name_or_a_bad_one(tmp_path, name):
    with pytest.raises(UsageError, match="--lora"):
        ServeConfig(data_dir=tmp_path, lora={name: (tmp_path, 1.0)})
