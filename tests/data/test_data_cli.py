import json

import pytest

from chronotope.cli.main import main
from chronotope.data import probe, read_manifest


def test_world_writes_clips_manifest_and_ground_truth(tmp_path, capsys):
    out = tmp_path / "world"
    args = ["data", "world", "--n", "3", "--out", str(out), "--sizes", "32x32,48x32"]
    code = main([*args, "--seconds", "1,2", "--fps", "8", "--seed", "5", "--no-progress"])
    assert code == 0
    manifest = read_manifest(out / "manifest.csv")
    assert len(manifest) == 3
    for row in manifest:
        path = manifest.resolve(row)
        info = probe(path)
        assert (info.width, info.height, info.num_frames) == (row.width, row.height, row.num_frames)
        assert info.fps == row.fps == 8.0 and (row.num_frames - 1) % 4 == 0
        truth = json.loads(path.with_suffix(".json").read_text())
        assert truth["caption"] == row.text
        assert truth["ground_truth"]["num_frames"] == row.num_frames
    assert "wrote 3 clips" in capsys.readouterr().out


def test_world_gif_format(tmp_path):
    out = tmp_path / "g"
    code = main(
        [
            "data",
            "world",
            "--n",
            "1",
            "--out",
            str(out),
            "--format",
            "gif",
            "--no-progress",
            "--sizes",
            "32x32",
            "--seconds",
            "1",
        ]
    )
    assert code == 0 and (out / "clip_000000.gif").is_file()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--n", "0"], "--n must be >= 1"),
        (["--n", "1", "--sizes=-64x64"], "is not WxH"),
        (["--n", "1", "--sizes", "64by64"], "is not WxH"),
        (["--n", "1", "--sizes", "0x64"], "[8, 4096]"),
        (["--n", "1", "--seconds", "0"], "0 < lo <= hi"),
        (["--n", "1", "--seconds", "4,2"], "0 < lo <= hi"),
        (["--n", "1", "--fps", "0"], "--fps must be in (0, 120]"),
        (["--n", "1", "--seed", "-1"], "--seed must be >= 0"),
    ],
)
def test_world_bad_arguments_exit_2_with_one_line(tmp_path, capsys, extra, message):
    assert main(["data", "world", "--out", str(tmp_path / "w"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "w").exists()  # validated before anything is written


def test_scan_reports_failures_and_exits_0(media_folder, tmp_path, capsys):
    out = tmp_path / "m.csv"
    assert main(["data", "scan", str(media_folder), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "scanned 9 files: 4 ok, 5 failed" in text
    assert "zero.mp4: empty file (0 bytes)" in text
    assert len(read_manifest(out)) == 4


def test_scan_bad_arguments_exit_2(tmp_path, capsys):
    assert main(["data", "scan", str(tmp_path / "nope"), "--out", str(tmp_path / "m.csv")]) == 2
    assert main(["data", "scan", str(tmp_path), "--out", str(tmp_path / "x" / "m.csv")]) == 2
    assert main(["data", "scan", str(tmp_path), "--out", "m.csv", "--timeout", "0"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 3


def test_probe_prints_json_or_exits_2(tmp_path, capsys, real_clips):
    assert main(["data", "probe", str(real_clips / "bikes.mp4")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["width"], info["height"], info["num_frames"]) == (640, 272, 250)
    (tmp_path / "x.mp4").write_text("no")
    assert main(["data", "probe", str(tmp_path / "x.mp4")]) == 2


def test_unknown_format_is_an_argparse_error(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["data", "world", "--n", "1", "--out", str(tmp_path), "--format", "avi"])
    assert e.value.code == 2
