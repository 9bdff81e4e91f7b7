"""Size rules of the VAE: T = 1 + k*ft frames, H and W multiples of fs; errors name the nearest
valid size so a user can fix the request in one go."""

from __future__ import annotations

from chronotope.errors import UsageError


def nearest_valid_size(
    num_frames: int, height: int, width: int, *, temporal_factor: int, spatial_factor: int
) -> tuple[int, int, int]:
    """The closest (T, H, W) with T = 1 + k*ft (k >= 0) and H, W positive multiples of fs."""
    k = max(0, round((num_frames - 1) / temporal_factor))
    h = max(1, round(height / spatial_factor)) * spatial_factor
    w = max(1, round(width / spatial_factor)) * spatial_factor
    return 1 + k * temporal_factor, h, w


def check_video_size(
    num_frames: int, height: int, width: int, *, temporal_factor: int, spatial_factor: int
) -> None:
    """Raise `UsageError` naming the nearest valid size unless (T, H, W) is encodable."""
    ok = (
        num_frames >= 1
        and (num_frames - 1) % temporal_factor == 0
        and height > 0
        and width > 0
        and height % spatial_factor == 0
        and width % spatial_factor == 0
    )
    if not ok:
        t, h, w = nearest_valid_size(
            num_frames,
            height,
            width,
            temporal_factor=temporal_factor,
            spatial_factor=spatial_factor,
        )
        raise UsageError(
            f"video size {num_frames} frames x {height}x{width} (HxW) is not encodable: frames must "
            f"be 1 + k*{temporal_factor} and height, width positive multiples of {spatial_factor}; "
            f"nearest valid size is {t} frames x {h}x{w}",
            param="size",
        )


def latent_size(
    num_frames: int, height: int, width: int, *, temporal_factor: int, spatial_factor: int
) -> tuple[int, int, int]:
    """(T, H, W) -> (1 + (T-1)/ft, H/fs, W/fs), after checking the size."""
    check_video_size(
        num_frames, height, width, temporal_factor=temporal_factor, spatial_factor=spatial_factor
    )
    return (
        1 + (num_frames - 1) // temporal_factor,
        height // spatial_factor,
        width // spatial_factor,
    )
