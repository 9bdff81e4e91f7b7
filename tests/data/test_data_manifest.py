import pytest

from chronotope.data import ManifestRow, read_manifest, write_manifest
from chronotope.errors import CorruptFileError


def test_round_trip_keeps_values_and_extra_columns(tmp_path):
    rows = [
        ManifestRow(
            "a.mp4", 'a "quoted", comma text', 33, 64, 112, 8.0, {"aes": "5.5", "src": "x"}
        ),
        ManifestRow("sub/b.png", "still", 1, 144, 176, 0.0, {"aes": "", "src": "y"}),
        ManifestRow("c.mp4", "no numbers", extra={"aes": "", "src": ""}),
    ]
    path = write_manifest(tmp_path / "m.csv", rows)
    assert path.read_text().splitlines()[0] == "path,text,num_frames,height,width,fps,aes,src"
    manifest = read_manifest(path)
    assert manifest.rows == rows
    assert manifest.extra_columns == ["aes", "src"]
    again = write_manifest(tmp_path / "m2.csv", manifest.rows)
    assert again.read_text() == path.read_text()


def test_relative_paths_resolve_against_the_manifest_folder(tmp_path):
    (tmp_path / "data").mkdir()
    clip = tmp_path / "data" / "clip.mp4"
    path = write_manifest(tmp_path / "data" / "m.csv", [ManifestRow(str(clip), "t")])
    assert path.read_text().splitlines()[1].startswith("clip.mp4,")  # stored relative
    manifest = read_manifest(path)
    assert manifest.resolve(manifest[0]) == clip
    # rows moved into a manifest elsewhere keep pointing at the same file
    moved = write_manifest(tmp_path / "m.csv", manifest.rows, source_root=manifest.root)
    assert moved.read_text().splitlines()[1].startswith("data/clip.mp4,")
    assert read_manifest(moved).resolve(read_manifest(moved)[0]) == clip


def test_open_sora_minimal_and_float_frames(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("path,text,num_frames,aspect_ratio\nx.mp4,hello,33.0,0.5\n")
    row = read_manifest(path)[0]
    assert (row.path, row.text, row.num_frames, row.fps) == ("x.mp4", "hello", 33, None)
    assert row.extra == {"aspect_ratio": "0.5"}


@pytest.mark.parametrize(
    "text, match",
    [
        ("text\nhello\n", "no 'path' column"),
        ("path,num_frames\nx.mp4,many\n", r"m.csv:2: bad number"),
        ("path,text\nx.mp4,a,b\n", "more fields"),
        ("path,text\n,a\n", "empty path"),
    ],
)
def test_malformed_manifests_name_the_problem(tmp_path, text, match):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(CorruptFileError, match=match):
        read_manifest(path)
