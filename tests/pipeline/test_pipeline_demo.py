from chronotope.data import read_video
from chronotope.demo import ITEMS, run_demo


def test_demo_covers_every_task():
    names = {item.name for item in ITEMS}
    assert {
        "text_to_video",
        "vertical",
        "image",
        "image_to_video",
        "extend_forward",
        "extend_backward",
        "connect",
        "loop",
        "restyle",
        "multi_shot",
    } <= names


def test_demo_writes_videos_and_a_page(tiny_pipe, tmp_path):
    items = [i for i in ITEMS if i.name in ("image", "text_to_video", "vertical", "connect")]
    page = run_demo(tiny_pipe, tmp_path, items=items, log=lambda *_: None)
    html = page.read_text()
    for item in items:
        f = tmp_path / f"{item.name}{item.ext}"
        assert f.exists() and f.name in html and item.prompt in html
    assert read_video(tmp_path / "image.png").frames.shape[0] == 1
    vertical = read_video(tmp_path / "vertical.mp4").frames
    wide = read_video(tmp_path / "text_to_video.mp4").frames
    assert vertical.shape[1] > vertical.shape[2]  # 9:16, whatever the native size
    assert wide.shape[2] > wide.shape[1] and wide.shape[1:3] == vertical.shape[2:0:-1]  # 16:9


def test_world_demo_without_a_model(tmp_path):
    from chronotope.demo import WORLD_DEMO, run_world_demo

    page = run_world_demo(tmp_path, log=lambda *_: None)
    for name, prompt, (w, h) in WORLD_DEMO:
        assert read_video(tmp_path / f"{name}.mp4").frames.shape == (33, h, w, 3)
        assert prompt in page.read_text()
