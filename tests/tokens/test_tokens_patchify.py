import pytest
import torch

from chronotope.errors import UsageError
from chronotope.tokens import frame_to_tokens, num_tokens, patch_grid, patchify, unpatchify

SHAPES = [  # (C, T, H, W): images and videos, 16:9, 1:1, 9:16
    (4, 1, 8, 14),
    (4, 1, 8, 8),
    (4, 1, 14, 8),
    (16, 5, 8, 14),
    (16, 9, 16, 16),
    (8, 3, 14, 8),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("patch", [(1, 2, 2), (1, 1, 1)])
def test_round_trip_is_exact(shape, patch):
    z = torch.randn(shape)
    tokens, positions = patchify(z, patch)
    grid = patch_grid(shape, patch)
    assert tokens.shape == (num_tokens(shape, patch), shape[0] * patch[0] * patch[1] * patch[2])
    assert torch.equal(unpatchify(tokens, grid, patch, shape[0]), z)
    assert torch.equal(unpatchify(tokens, grid, patch), z)  # channels inferred


def test_temporal_patch_round_trip():
    z = torch.randn(4, 6, 8, 6)
    tokens, _ = patchify(z, (2, 2, 2))
    assert torch.equal(unpatchify(tokens, (3, 4, 3), (2, 2, 2), 4), z)


def test_token_order_and_content():
    c, pt, ph, pw = 3, 2, 2, 2
    z = torch.randn(c, 4, 6, 4)
    tokens, positions = patchify(z, (pt, ph, pw))
    # t-major, then h, then w; positions start at 0
    expect = [(t, h, w) for t in range(2) for h in range(3) for w in range(2)]
    assert positions.tolist() == [list(p) for p in expect]
    assert positions.dtype == torch.long
    for i, (t, h, w) in enumerate(expect):
        block = z[:, t * pt : (t + 1) * pt, h * ph : (h + 1) * ph, w * pw : (w + 1) * pw]
        assert torch.equal(tokens[i], block.reshape(-1))  # (c pt ph pw) order


def test_indivisible_sizes_raise_with_nearest_valid():
    with pytest.raises(UsageError, match="nearest valid: 8 or 10"):
        patchify(torch.randn(4, 1, 9, 8), (1, 2, 2))
    with pytest.raises(UsageError):
        num_tokens((4, 3, 8, 8), (2, 2, 2))
    with pytest.raises(UsageError):
        patchify(torch.randn(1, 4, 2, 8, 8))  # batch dim
    with pytest.raises(UsageError):
        unpatchify(torch.randn(10, 16), (1, 2, 4), (1, 2, 2), 4)  # 10 tokens, grid of 8


def test_frame_to_tokens_follows_token_order():
    z = torch.randn(2, 3, 4, 6)
    _, positions = patchify(z)
    per_frame = torch.tensor([0.0, 0.5, 1.0])
    per_token = frame_to_tokens(per_frame, (3, 2, 3))
    assert torch.equal(per_token, per_frame[positions[:, 0]])
    with pytest.raises(UsageError):
        frame_to_tokens(per_frame, (2, 2, 3))
