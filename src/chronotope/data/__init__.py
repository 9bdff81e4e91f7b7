"""The data path's first stage: decode at native size, manifests, folder scans, datasets.

Names load on first use (PEP 562) so that importing `chronotope.data.probing` in a scan's
worker process does not import torch through `datasets` and `video_io`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chronotope.utils.lazy import lazy_exports

_EXPORTS = {
    "Video": "video_io",
    "VideoFrames": "video_io",
    "read_video": "video_io",
    "write_video": "video_io",
    "VideoWriter": "video_io",
    "to_tensor": "video_io",
    "to_uint8": "video_io",
    "fit_frames": "video_io",
    "VideoInfo": "probing",
    "probe": "probing",
    "MAX_PIXELS": "probing",
    "Manifest": "manifest",
    "ManifestRow": "manifest",
    "read_manifest": "manifest",
    "write_manifest": "manifest",
    "ScanResult": "scan",
    "ScanFailure": "scan",
    "scan_folder": "scan",
    "Sample": "datasets",
    "WorldStream": "datasets",
    "ManifestDataset": "datasets",
    "native_size": "sizes",
    "valid_num_frames": "sizes",
}

__all__ = [
    "MAX_PIXELS",
    "Manifest",
    "ManifestDataset",
    "ManifestRow",
    "Sample",
    "ScanFailure",
    "ScanResult",
    "Video",
    "VideoFrames",
    "VideoInfo",
    "WorldStream",
    "fit_frames",
    "native_size",
    "probe",
    "read_manifest",
    "read_video",
    "scan_folder",
    "to_tensor",
    "to_uint8",
    "valid_num_frames",
    "write_manifest",
    "write_video",
]

if TYPE_CHECKING:
    from chronotope.data.datasets import ManifestDataset, Sample, WorldStream
    from chronotope.data.manifest import Manifest, ManifestRow, read_manifest, write_manifest
    from chronotope.data.probing import MAX_PIXELS, VideoInfo, probe
    from chronotope.data.scan import ScanFailure, ScanResult, scan_folder
    from chronotope.data.sizes import native_size, valid_num_frames
    from chronotope.data.video_io import (
        Video,
        VideoFrames,
        VideoWriter,  # noqa: F401
        read_video,
        to_tensor,
        to_uint8,
        write_video,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
