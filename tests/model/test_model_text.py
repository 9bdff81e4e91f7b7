import pytest
import torch

from chronotope.errors import CorruptFileError, UsageError
from chronotope.model import TextEncoder
from chronotope.model.text import default_encoder_path


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder()


def test_per_token_states_deterministic_and_distinct(encoder):
    left, right = encoder.encode(["a red circle moves left", "a red circle moves right"])
    assert left.shape[1] == encoder.width == 384 and left.dtype == torch.float32
    fresh = encoder.with_cache(cache_size=0).encode(["x", "a red circle moves left"])[1]
    assert torch.equal(fresh, left)  # bitwise, whatever it was encoded with
    assert left.shape == right.shape
    diff = (left - right).norm(dim=-1)
    assert diff[-2] > 1.0  # the motion word's own state differs
    assert diff[1] < diff[-2]  # and the shared words are less affected


def test_padding_removed_and_mask_honored(encoder):
    batched = encoder.with_cache()
    batched.batch_size = 8
    short, long = batched.encode(["a cat", "a blue square falls and bounces off the floor"])
    alone = encoder.encode(["a cat"])[0]
    assert short.shape[0] < long.shape[0]
    torch.testing.assert_close(short, alone, rtol=1e-4, atol=1e-4)


def test_empty_prompt(encoder):
    (empty,) = encoder.encode([""])
    assert empty.shape == (2, 384)  # [CLS] [SEP]: never zero-length, so attention is defined
    assert torch.isfinite(empty).all()
    with pytest.raises(UsageError):
        encoder.encode("not a list")


def test_memory_and_disk_cache(encoder, tmp_path):
    enc = encoder.with_cache(cache_dir=tmp_path)
    first = enc.encode(["a ball", "a box", "a ball"])
    assert enc.misses == 2 and torch.equal(first[0], first[2])
    again = enc.encode(["a box"])
    assert enc.hits == 2 and again[0] is first[1]
    files = list(tmp_path.rglob("*.safetensors"))
    assert len(files) == 2
    other = encoder.with_cache(cache_dir=tmp_path)  # another process's view: served from disk
    from_disk = other.encode(["a ball"])[0]
    assert other.misses == 0 and torch.equal(from_disk, first[0])
    for f in files:
        f.write_bytes(b"garbage")
    with pytest.raises(CorruptFileError):
        encoder.with_cache(cache_dir=tmp_path).encode(["a box"])


def test_from_path_and_key(encoder):
    enc = TextEncoder.from_path(default_encoder_path(), name="minilm-copy", cache_size=2)
    assert torch.equal(enc.encode(["hello"])[0], encoder.encode(["hello"])[0])
    assert enc.key("hello") != encoder.key("hello")  # the key names the encoder
    enc.encode(["a", "b", "c"])
    assert len(enc._memory) == 2  # LRU bound
    with pytest.raises(UsageError):
        TextEncoder.from_path("/nonexistent")
