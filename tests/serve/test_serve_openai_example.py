"""examples/openai_videos.py, the migration page's script, runs unchanged against a server."""

import importlib.util
from pathlib import Path

import av
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "openai_videos.py"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's "Sora API shuts down"
def test_the_migration_script_runs_against_a_local_server(server, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("openai_videos", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.main(["--base-url", server + "/v1", "--out", str(tmp_path), "--seconds", "1"])
    lines = capsys.readouterr().out.splitlines()
    created = lines[0].split()[1].rstrip(":")
    remixed, extended = lines[1].split()[1], lines[2].split()[1].rstrip(":")
    assert lines[0].endswith("64x64, 1 s") and lines[2].endswith("3 s")  # 1 s + 2 s
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted(
        [f"{created}.mp4", f"{created}.webp", f"{created}.jpg", f"{remixed}.mp4",
         f"{extended}.mp4"]
    )  # fmt: skip
    with av.open(str(tmp_path / f"{extended}.mp4")) as c:
        assert c.streams.video[0].frames == 24  # the fake's 8 fps: 8 + 16 frames
    assert lines[-1] == f"deleted  {remixed}"
    listed = [line.split()[1] for line in lines if line.startswith("listed")]
    assert {created, remixed, extended} <= set(listed)
