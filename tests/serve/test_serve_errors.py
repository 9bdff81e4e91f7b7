"""Raw HTTP: every error is the OpenAI shape with the right status; limits hold."""

import io
import struct
import time
import zlib

import httpx
import numpy as np
import pytest
from PIL import Image
from serve_fakes import FakeEngine


def assert_error(r: httpx.Response, status: int, param: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"] and "Traceback" not in r.text
    if param is not None:
        assert body["error"]["param"] == param
    return body["error"]


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height, with a tiny (truncated) body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


@pytest.mark.parametrize(
    "fields, param",
    [
        ({"prompt": "x", "size": "64by48"}, "size"),
        ({"prompt": "x", "size": "60x48"}, "size"),  # not a multiple the engine accepts
        ({"prompt": "x", "size": "64x48", "seconds": "-1"}, "seconds"),
        ({"prompt": "x", "size": "64x48", "seconds": "ten"}, "seconds"),
        ({"prompt": "x", "size": "64x48", "seconds": "30"}, "seconds"),  # engine: at most 12
        ({"prompt": "x", "size": "512x512", "seconds": "12"}, "size"),  # memory budget
        ({"prompt": "", "size": "64x48"}, "prompt"),
        ({"prompt": "x", "model": "gpt-9"}, "model"),
        ({"prompt": "x", "colour": "red"}, "colour"),  # unknown options are errors
    ],
)
def test_bad_create_is_400_in_the_error_shape(server, fields, param):
    r = httpx.post(server + "/v1/videos", data=fields)
    assert_error(r, 400, param)


def test_json_body_and_sizes_beyond_openais_list(server):
    r = httpx.post(
        server + "/v1/videos", json={"prompt": "wide", "size": "96x32", "seconds": "1.5"}
    )
    assert r.status_code == 200 and r.json()["size"] == "96x32" and r.json()["seconds"] == "1.5"


def test_not_found_and_bad_variants(server):
    for path in (
        "/v1/videos/video_" + "0" * 32,
        "/v1/videos/../../etc/passwd",
        "/v1/videos/x/content",
    ):
        assert_error(httpx.get(server + path), 404)
    assert_error(httpx.delete(server + "/v1/videos/nope"), 404)
    assert_error(httpx.post(server + "/v1/videos/nope/remix", json={"prompt": "p"}), 404)
    assert_error(httpx.get(server + "/v1/videos", params={"limit": 0}), 400, "limit")
    assert_error(httpx.get(server + "/v1/videos", params={"limit": "many"}), 400, "limit")
    assert_error(httpx.get(server + "/v1/videos", params={"order": "up"}), 400, "order")
    assert_error(httpx.get(server + "/v1/nothing-here"), 404)
    v = httpx.post(
        server + "/v1/videos", data={"prompt": "p", "size": "16x16", "seconds": "0.5"}
    ).json()
    r = httpx.get(server + f"/v1/videos/{v['id']}/content", params={"variant": "poster"})
    assert_error(r, 400, "variant")


def test_extend_needs_exactly_one_video_and_a_completed_one(server, engine):
    assert_error(
        httpx.post(server + "/v1/videos/extensions", data={"prompt": "p", "seconds": "1"}),
        400,
        "video",
    )
    engine.hold.clear()  # keep the next job unfinished
    try:
        v = httpx.post(
            server + "/v1/videos", data={"prompt": "p", "size": "16x16", "seconds": "0.5"}
        ).json()
        r = httpx.post(
            server + "/v1/videos/extensions",
            data={"prompt": "p", "seconds": "1", "video[id]": v["id"]},
        )
        assert assert_error(r, 400, "video")["code"] == "video_not_ready"
        assert_error(httpx.get(server + f"/v1/videos/{v['id']}/content"), 400)
    finally:
        engine.hold.set()


def test_api_key(make_server):
    url = make_server(FakeEngine(), api_key="s3cret")
    assert assert_error(httpx.get(url + "/v1/videos"), 401)["code"] == "invalid_api_key"
    wrong = {"Authorization": "Bearer nope"}
    assert_error(httpx.get(url + "/v1/videos", headers=wrong), 401)
    assert_error(httpx.post(url + "/v1/videos", headers=wrong, data={"prompt": "p"}), 401)
    ok = {"Authorization": "Bearer s3cret"}
    assert httpx.get(url + "/v1/videos", headers=ok).status_code == 200
    assert httpx.get(url + "/").status_code == 200  # the page itself is public; its calls are not


def test_queue_full_is_429_with_retry_after(make_server):
    engine = FakeEngine()
    engine.hold.clear()  # the worker takes one job and blocks on it
    url = make_server(engine, max_queue=2)
    form = {"prompt": "p", "size": "16x16", "seconds": "0.5"}
    first = httpx.post(url + "/v1/videos", data=form).json()
    deadline = time.monotonic() + 5
    while httpx.get(url + f"/v1/videos/{first['id']}").json()["status"] != "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    codes = [httpx.post(url + "/v1/videos", data=form).status_code for _ in range(4)]
    assert codes == [200, 200, 429, 429]  # 1 running + 2 queued
    r = httpx.post(url + "/v1/videos", data=form)
    assert assert_error(r, 429)["code"] == "queue_full"
    assert int(r.headers["Retry-After"]) >= 1
    listed = httpx.get(url + "/v1/videos").json()["data"]
    assert len(listed) == 3  # refused jobs left nothing behind
    engine.hold.set()


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_upload_limits(make_server):
    engine = FakeEngine()
    url = make_server(engine, max_upload_bytes=200_000, max_upload_pixels=256 * 256)
    form = {"prompt": "p", "size": "64x48", "seconds": "1"}

    big = np.random.default_rng(0).integers(0, 255, (300, 300, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, format="PNG")  # ~270 kB of noise
    r = httpx.post(
        url + "/v1/videos",
        data=form,
        files={"input_reference": ("a.png", buf.getvalue(), "image/png")},
    )
    assert_error(r, 413)

    # a 100000 x 100000 PNG header in 100 bytes: refused from the header, nothing decoded
    bomb = bomb_png(100_000, 100_000)
    r = httpx.post(
        url + "/v1/videos", data=form, files={"input_reference": ("b.png", bomb, "image/png")}
    )
    assert "refused before decoding" in assert_error(r, 400, "input_reference")["message"]
    bomb = bomb_png(12_000, 10_000)  # under PIL's own bomb guard, over ours
    r = httpx.post(
        url + "/v1/videos", data=form, files={"input_reference": ("b.png", bomb, "image/png")}
    )
    assert "12000x10000" in assert_error(r, 400, "input_reference")["message"]

    def chunks():  # no Content-Length: counted while streaming
        yield b'--b\r\nContent-Disposition: form-data; name="input_reference"; filename="a"\r\n\r\n'
        for _ in range(30):
            yield b"x" * 10_000

    r = httpx.post(
        url + "/v1/videos",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert_error(r, 413)

    r = httpx.post(
        url + "/v1/videos",
        data=form,
        files={"input_reference": ("c.png", png(300, 300), "image/png")},
    )
    assert_error(r, 400, "input_reference")  # 90000 px > 65536 allowed

    r = httpx.post(
        url + "/v1/videos",
        data=form,
        files={"input_reference": ("d.txt", b"not an image", "text/plain")},
    )
    assert_error(r, 400, "input_reference")

    r = httpx.post(
        url + "/v1/videos",
        data=form,
        files={"input_reference": ("../../evil.png", png(64, 48), "image/png")},
    )
    assert r.status_code == 200  # the client's file name is never used


def test_undecodable_upload_names_no_server_path(make_server, tmp_path):
    url = make_server(FakeEngine())
    r = httpx.post(
        url + "/v1/videos/edits",
        data={"prompt": "p"},
        files={"video": ("v.mp4", b"this is not a video", "video/mp4")},
    )
    message = assert_error(r, 400, "video")["message"]
    assert "cannot decode" in message and str(tmp_path) not in message and ".upload" not in message


def test_max_seconds_bounds_the_whole_output(make_server):
    engine = FakeEngine()
    url = make_server(engine, max_seconds=2)
    r = httpx.post(url + "/v1/videos", data={"prompt": "p", "size": "64x48", "seconds": "3"})
    assert "at most 2 s" in assert_error(r, 400, "seconds")["message"]
    ok = httpx.post(url + "/v1/videos", data={"prompt": "p", "size": "64x48", "seconds": "1"})
    assert ok.status_code == 200
    while httpx.get(f"{url}/v1/videos/{ok.json()['id']}").json()["status"] != "completed":
        time.sleep(0.05)
    # an extension counts the source too: 1 s + 1.5 s is over 2 s
    r = httpx.post(
        url + "/v1/videos/extensions",
        json={"prompt": "p", "video": {"id": ok.json()["id"]}, "seconds": "1.5"},
    )
    assert_error(r, 400, "seconds")
    assert len(engine.calls) == 1


def test_16_bit_reference_image_is_scaled_not_clipped_to_white():
    from chronotope.serve.media import decode_image

    levels = np.arange(0, 256, 4, dtype=np.uint16).reshape(8, 8)
    buf = io.BytesIO()
    Image.fromarray(levels * 257).save(buf, format="PNG")  # 16-bit grayscale
    image = decode_image(buf.getvalue(), max_pixels=64)
    assert np.array_equal(image, np.repeat(levels.astype(np.uint8)[..., None], 3, axis=-1))


def test_unknown_query_parameters_are_refused(server):
    r = httpx.get(server + "/v1/videos", params={"limit": 5, "status": "completed"})
    assert assert_error(r, 400, "status")["code"] == "unknown_parameter"
    v = httpx.post(server + "/v1/videos", data={"prompt": "p", "size": "16x16", "seconds": "0.5"})
    r = httpx.get(server + f"/v1/videos/{v.json()['id']}/content", params={"format": "webm"})
    assert_error(r, 400, "format")
    assert httpx.get(server + "/v1/videos", params={"limit": 5, "order": "asc"}).status_code == 200
