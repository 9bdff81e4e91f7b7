import pytest
import torch

from chronotope.errors import UsageError
from chronotope.model.rope import apply_rope, axis_dims, rope_angles, rope_cos_sin


@pytest.mark.parametrize("d", [6, 32, 64, 128])
def test_axis_dims_even_and_complete(d):
    dims = axis_dims(d)
    assert sum(dims) == d and all(x % 2 == 0 for x in dims)
    with pytest.raises(UsageError):
        axis_dims(d + 1)


def test_apply_rope_matches_complex_rotation():
    g = torch.Generator().manual_seed(0)
    pos = torch.randint(0, 20, (10, 3), generator=g)
    x = torch.randn(10, 2, 3, 12, generator=g, dtype=torch.float64)
    cos, sin = rope_cos_sin(pos, 12, dtype=torch.float64)
    out = apply_rope(x, cos[:, None], sin[:, None])
    ang = rope_angles(pos, 12).double()[:, None, None]  # (L, 1, 1, 6)
    z = torch.complex(x[..., :6], x[..., 6:]) * torch.polar(torch.ones_like(ang), ang)
    torch.testing.assert_close(out, torch.cat([z.real, z.imag], dim=-1), rtol=0, atol=1e-5)


def test_scores_depend_only_on_relative_position():
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(2, 1, 2, 24, generator=g, dtype=torch.float64).unbind(0)

    def score(pq, pk):
        pos = torch.tensor([pq, pk])
        cos, sin = rope_cos_sin(pos, 24, dtype=torch.float64)
        rq = apply_rope(q.expand(2, 2, 24), cos, sin)[0]  # x (L, h, d), cos (L, 1, d)
        rk = apply_rope(k.expand(2, 2, 24), cos, sin)[1]
        return (rq * rk).sum(-1)

    base = score([1, 2, 3], [4, 0, 7])
    torch.testing.assert_close(
        score([11, 7, 5], [14, 5, 9]), base, rtol=0, atol=1e-5
    )  # fp32 angles
    assert not torch.allclose(score([1, 2, 3], [5, 0, 7]), base)
