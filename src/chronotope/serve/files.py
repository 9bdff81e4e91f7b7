"""Where a job's files live: `<data_dir>/jobs/<video_id>/<fixed name>`.

No path from a request ever reaches the file system: ids are ones this server generated
(checked against their exact pattern before use) and file names come from a fixed table.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

VIDEO_ID = re.compile(r"video_[0-9a-f]{32}")

# variant or input name -> (file name, media type)
OUTPUTS = {
    "video": ("video.mp4", "video/mp4"),
    "thumbnail": ("thumbnail.webp", "image/webp"),
    "spritesheet": ("spritesheet.jpg", "image/jpeg"),
}
INPUTS = {"image": "input.png", "video": "input.mp4"}


def is_video_id(value: str) -> bool:
    return VIDEO_ID.fullmatch(value) is not None


class JobFiles:
    def __init__(self, data_dir: Path):
        self.root = Path(data_dir) / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)

    def dir(self, video_id: str) -> Path:
        if not is_video_id(video_id):  # defence in depth: callers already checked
            raise ValueError(f"not a video id: {video_id!r}")
        return self.root / video_id

    def output(self, video_id: str, variant: str) -> Path:
        return self.dir(video_id) / OUTPUTS[variant][0]

    def input(self, video_id: str, kind: str) -> Path:
        return self.dir(video_id) / INPUTS[kind]

    def make(self, video_id: str) -> Path:
        d = self.dir(video_id)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def remove(self, video_id: str) -> None:
        shutil.rmtree(self.dir(video_id), ignore_errors=True)
