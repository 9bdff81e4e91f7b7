import pytest
import torch

from chronotope.errors import UsageError
from chronotope.tokens import Segments


def test_segments_fields():
    s = Segments((3, 1, 4))
    assert s.total == 8 and s.max_seqlen == 4 and len(s) == 3
    assert s.cu_seqlens.dtype == torch.int32
    assert s.cu_seqlens.tolist() == [0, 3, 4, 8]
    assert s.segment_ids().tolist() == [0, 0, 0, 1, 2, 2, 2, 2]
    assert [t.tolist() for t in s.split(torch.arange(8))] == [[0, 1, 2], [3], [4, 5, 6, 7]]
    assert s.num_samples == 3 and Segments((3, 5), padding=True).num_samples == 1


def test_segments_are_values():
    assert Segments((2, 3)) == Segments([2, 3])
    assert hash(Segments((2, 3))) == hash(Segments((2, 3)))
    assert Segments((2, 3)) != Segments((2, 3), padding=True)


@pytest.mark.parametrize("bad", [(), (3, 0), (-1,)])
def test_bad_segments_raise(bad):
    with pytest.raises(UsageError):
        Segments(bad)
