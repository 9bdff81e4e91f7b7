"""Open-Sora compatible CSV manifests: `path,text,num_frames,height,width,fps` (+ any columns).

Only `path` is required when reading (Open-Sora's minimal CSVs are `path` or `path,text`);
missing numbers read as None. Unknown columns are kept, in their order, on a round trip.
A relative `path` resolves against the manifest's folder, and `write_manifest` stores paths
under that folder relative to it, so a dataset folder can be moved as a whole.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chronotope.errors import CorruptFileError

COLUMNS = ("path", "text", "num_frames", "height", "width", "fps")


@dataclass
class ManifestRow:
    """One clip or image. `path` is as written in the file; `Manifest.resolve` makes it usable."""

    path: str
    text: str = ""
    num_frames: int | None = None
    height: int | None = None
    width: int | None = None
    fps: float | None = None
    extra: dict[str, str] = field(default_factory=dict)  # unknown columns, kept verbatim


@dataclass
class Manifest:
    rows: list[ManifestRow]
    root: Path  # folder that relative paths resolve against
    extra_columns: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[ManifestRow]:
        return iter(self.rows)

    def __getitem__(self, i: int) -> ManifestRow:
        return self.rows[i]

    def resolve(self, row: ManifestRow) -> Path:
        path = Path(row.path)
        return path if path.is_absolute() else self.root / path


def read_manifest(path: str | os.PathLike) -> Manifest:
    """Read a manifest CSV; raise `CorruptFileError` naming the line of a malformed row."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            if "path" not in header:
                raise CorruptFileError(f"{path}: manifest has no 'path' column (header {header})")
            extras = [c for c in header if c not in COLUMNS]
            rows = [_parse_row(r, extras, path, reader.line_num) for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise CorruptFileError(f"{path}: cannot read manifest ({e})") from None
    return Manifest(rows=rows, root=path.resolve().parent, extra_columns=extras)


def _parse_row(record: dict, extras: list[str], path: Path, line: int) -> ManifestRow:
    if None in record:  # more fields than the header names
        raise CorruptFileError(f"{path}:{line}: more fields than the header has")
    if not record.get("path"):
        raise CorruptFileError(f"{path}:{line}: empty path")
    try:
        return ManifestRow(
            path=record["path"],
            text=record.get("text") or "",
            num_frames=_number(record.get("num_frames"), int),
            height=_number(record.get("height"), int),
            width=_number(record.get("width"), int),
            fps=_number(record.get("fps"), float),
            extra={c: record.get(c) or "" for c in extras},
        )
    except ValueError as e:
        raise CorruptFileError(f"{path}:{line}: bad number ({e})") from None


def _number(text: str | None, kind: type):
    if text is None or text.strip() == "":
        return None
    # Open-Sora writes num_frames as "33.0" when pandas saw a NaN in the column
    return int(float(text)) if kind is int else float(text)


def write_manifest(
    path: str | os.PathLike,
    rows: Iterable[ManifestRow],
    *,
    extra_columns: Iterable[str] = (),
    source_root: str | os.PathLike | None = None,
) -> Path:
    """Write rows (atomically); paths under the manifest's folder are stored relative to it.

    Relative row paths are taken relative to `source_root` (a `Manifest.root`), by default the
    output folder itself, so rows read from one manifest can be written into another folder.
    """
    path = Path(path)
    rows = list(rows)
    extras = list(dict.fromkeys([*extra_columns, *(k for r in rows for k in r.extra)]))
    root = path.resolve().parent
    source = Path(source_root).resolve() if source_root is not None else root
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow([*COLUMNS, *extras])
            for r in rows:
                numbers = [_text(r.num_frames), _text(r.height), _text(r.width), _text(r.fps)]
                extra = [r.extra.get(c, "") for c in extras]
                writer.writerow([_relative(r.path, source, root), r.text, *numbers, *extra])
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _relative(path: str, source: Path, root: Path) -> str:
    p = Path(path)
    if not p.is_absolute():
        if source == root:
            return p.as_posix()
        p = source / p
    try:
        return p.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(p)


def _text(value) -> str:
    return "" if value is None else str(value)
