import time

import pytest
from data_media_helpers import BAD, GOOD
from data_probe_doubles import crashing_probe, slow_probe

from chronotope.data import read_manifest, scan_folder, write_manifest
from chronotope.errors import UsageError


def test_scan_keeps_good_files_and_reports_each_bad_one(media_folder):
    result = scan_folder(media_folder, progress=False)
    assert {r.path.split("/")[-1] for r in result.rows} == GOOD
    failures = {f.path.name: f.reason for f in result.failures}
    assert set(failures) == BAD
    assert failures["zero.mp4"] == "empty file (0 bytes)"
    assert "truncated" in failures["cut_faststart.mp4"]
    assert "not a readable video" in failures["text.mp4"]
    assert "too large" in failures["huge.png"]
    assert result.num_files == len(GOOD) + len(BAD)  # hidden and non-media files are skipped


def test_scan_rows_carry_size_frames_fps_and_captions(media_folder):
    rows = {r.path.split("/")[-1]: r for r in scan_folder(media_folder, progress=False).rows}
    good = rows["good.mp4"]
    assert (good.num_frames, good.height, good.width, good.fps) == (12, 32, 48, 8.0)
    assert good.text == "a red circle moves right"  # sidecar .txt
    assert rows["anim.gif"].text == "a blue square falls"  # the folder's captions.csv
    assert rows["anim.gif"].num_frames == 6 and rows["anim.gif"].fps == 5.0
    assert (rows["still.png"].num_frames, rows["still.png"].fps) == (1, 0.0)
    assert rows["one_frame.mp4"].num_frames == 1 and rows["one_frame.mp4"].text == ""


def test_scan_real_clips(real_clips, tmp_path):
    result = scan_folder(real_clips, progress=False)
    rows = {r.path.split("/")[-1]: r for r in result.rows}
    assert (rows["bikes.mp4"].width, rows["bikes.mp4"].height) == (640, 272)
    assert (rows["bikes.mp4"].num_frames, rows["bikes.mp4"].fps) == (250, 25.0)
    phone = rows["carphone_pristine.mp4"]
    assert (phone.width, phone.height, phone.num_frames) == (176, 144, 120)
    assert phone.fps == pytest.approx(29.97, abs=0.001)
    manifest = read_manifest(write_manifest(tmp_path / "m.csv", result.rows))
    assert manifest.resolve(manifest[0]).exists()  # outside the manifest folder: kept absolute


def test_a_hanging_file_times_out_and_the_scan_goes_on(media_folder):
    (media_folder / "slow.mp4").write_bytes((media_folder / "good.mp4").read_bytes())
    start = time.monotonic()
    result = scan_folder(media_folder, timeout=2, progress=False, probe_fn=slow_probe)
    assert time.monotonic() - start < 20
    failures = {f.path.name: f.reason for f in result.failures}
    assert failures["slow.mp4"] == "probe timed out after 2 s"
    assert {r.path.split("/")[-1] for r in result.rows} == GOOD  # files after it still scanned


def test_a_crashing_probe_costs_one_file(media_folder):
    (media_folder / "crash.mp4").write_bytes(b"x")
    result = scan_folder(media_folder, workers=2, progress=False, probe_fn=crashing_probe)
    failures = {f.path.name: f.reason for f in result.failures}
    assert "crashed (exit code 3)" in failures["crash.mp4"]
    assert {r.path.split("/")[-1] for r in result.rows} == GOOD


def test_scan_bad_arguments(tmp_path):
    with pytest.raises(UsageError, match="not a folder"):
        scan_folder(tmp_path / "missing")
    with pytest.raises(UsageError, match="timeout"):
        scan_folder(tmp_path, timeout=0)
