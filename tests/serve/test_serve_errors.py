"""Raw HTTP: every error is the OpenAI shape with the right status; limits hold."""

import io
import socket
import struct
import time
import zlib

import httpx
import numpy as np
import pytest
from PIL import Image
from serve_fakes import FakeEngine

from chronotope.tasks.request import GenerationRequest


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


# The bundled model's rules (a VAE of spatial factor 8, sides 16..4096, a 16 GiB memory budget)
# and the server's (at most 60 s): each case names what the message must say.
@pytest.mark.parametrize(
    "fields, param, says",
    [
        ({"prompt": "x", "size": "64by48"}, "size", "WIDTHxHEIGHT"),
        ({"prompt": "x", "size": "60x48"}, "size", "nearest valid: 56x48, 64x48"),
        ({"prompt": "x", "size": "8x64"}, "size", "width must be in 16..4096"),
        ({"prompt": "x", "size": "64x4104"}, "size", "height must be in 16..4096"),
        ({"prompt": "x", "size": "64x48", "seconds": "-1"}, "seconds", "positive"),
        ({"prompt": "x", "size": "64x48", "seconds": "ten"}, "seconds", "positive"),
        ({"prompt": "x", "size": "64x48", "seconds": "61"}, "seconds", "at most 60 s"),
        ({"prompt": "x", "size": "64x48", "seconds": "1e9"}, "seconds", "at most 60 s"),
        # 2048x2048 for 4 s needs an estimated 16.4 GiB: refused before anything is allocated
        ({"prompt": "x", "size": "2048x2048", "seconds": "4"}, "size", "memory budget of 16 GiB"),
        ({"prompt": "", "size": "64x48"}, "prompt", "required"),
        ({"prompt": "x", "model": "gpt-9"}, "model", "gpt-9"),
        ({"prompt": "x", "colour": "red"}, "colour", "colour"),  # unknown options are errors
    ],
)
def test_bad_create_is_400_in_the_error_shape(real_server, fields, param, says):
    r = httpx.post(real_server + "/v1/videos", data=fields)
    assert says in assert_error(r, 400, param)["message"]


def test_the_memory_budget_is_the_models_not_a_refusal_of_everything(real_server, bundled_engine):
    r = httpx.post(real_server + "/v1/videos", data={"prompt": "x", "size": "2048x2048"})
    assert assert_error(r, 400, "size")["code"] == "memory_budget_exceeded"
    # 1920x1080 for 4 s fits (an estimated 15.x GiB); checked without running it (hours on a CPU)
    bundled_engine.validate(GenerationRequest(prompt="x", width=1920, height=1080, seconds=4), 4)
    assert httpx.get(real_server + "/v1/videos").json()["data"] == []  # nothing was queued


def test_json_body_and_sizes_beyond_openais_list(real_server):
    r = httpx.post(
        real_server + "/v1/videos", json={"prompt": "wide", "size": "96x32", "seconds": "1.5"}
    )
    assert r.status_code == 200 and r.json()["size"] == "96x32" and r.json()["seconds"] == "1.5"
    httpx.delete(real_server + f"/v1/videos/{r.json()['id']}")  # not run: only its acceptance


def test_not_found_and_bad_variants(server):
    assert_error(httpx.get(server + "/v1/videos/video_" + "0" * 32), 404, "video_id")
    assert_error(httpx.get(server + "/v1/videos/x/content"), 404, "video_id")
    assert_error(httpx.delete(server + "/v1/videos/nope"), 404, "video_id")
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


def raw_get(url: str, target: str) -> tuple[int, bytes]:
    """`GET target` sent byte for byte on a socket: no client normalises `..` or decodes `%2e`
    before it leaves (httpx and the SDK turn `/v1/videos/../../etc/passwd` into `/etc/passwd`)."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def raw_error(url: str, target: str, status: int) -> dict:
    code, body = raw_get(url, target)
    return assert_error(httpx.Response(code, content=body), status)


@pytest.mark.parametrize(
    "target, seen",
    [  # the path as the router matched it (percent-decoded once, never normalised)
        ("/v1/videos/../../etc/passwd", "/v1/videos/../../etc/passwd"),
        ("/v1/videos/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/v1/videos/../../etc/passwd"),
        ("/v1/videos/../../etc/passwd/content", "/v1/videos/../../etc/passwd/content"),
        ("/v1/../../etc/passwd", "/v1/../../etc/passwd"),
    ],
)
def test_traversal_paths_reach_the_router_and_match_no_route(server, target, seen):
    """The refusal names the path that arrived: a client that normalised it would make the
    router refuse '/etc/passwd' instead, and this test fail."""
    error = raw_error(server, target, 404)
    assert error["message"] == f"Invalid URL (GET {seen})" and error["code"] == "not_found"


@pytest.mark.parametrize(
    "target, video_id",
    [  # one path segment: the route matches and its handler refuses the id it was given
        ("/v1/videos/%2e%2e", ".."),
        ("/v1/videos/%2E%2E/content", ".."),
        ("/v1/videos/..%5c..%5cetc%5cpasswd", "..\\..\\etc\\passwd"),
        ("/v1/videos/video_%00/content?variant=video", "video_\x00"),
        ("/v1/videos/%252e%252e", "%2e%2e"),  # decoded once, never twice
    ],
)
def test_odd_ids_reach_the_handler_and_are_not_found(server, target, video_id):
    error = raw_error(server, target, 404)
    assert error["param"] == "video_id" and error["code"] == "not_found"
    assert error["message"] == f"Video with id '{video_id}' not found."


@pytest.mark.parametrize(
    "target",
    ["/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/..%5capp.py"],
)
def test_static_files_do_not_escape_their_folder(server, target):
    """`app.py` sits beside the static folder: a traversal that worked would serve its source."""
    assert raw_get(server, "/static/app.js")[0] == 200  # the mount does serve files
    code, body = raw_get(server, target)
    assert code == 404 and b"create_app" not in body
    assert raw_error(server, target, 404)["code"] == "not_found"


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
