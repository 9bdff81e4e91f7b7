import json

import pytest
import torch

from chronotope.autoencoder import CausalVAE
from chronotope.autoencoder.vae import WEIGHTS_NAME
from chronotope.errors import CorruptFileError, UsageError


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    vae = CausalVAE.from_preset("tiny")
    vae.set_latent_stats(torch.arange(4.0), torch.ones(4) * 2)
    vae.save_pretrained(tmp_path / "vae")
    return vae, tmp_path / "vae"


def test_save_load_round_trip_exact(saved):
    vae, path = saved
    assert (path / WEIGHTS_NAME).is_file()
    loaded = CausalVAE.from_pretrained(path)
    a, b = vae.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert loaded.config.latent_stats == {"mean": [0.0, 1.0, 2.0, 3.0], "std": [2.0] * 4}
    assert json.loads((path / "config.json").read_text())["latent_channels"] == 4
    x = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(vae.eval().encode(x)[0], loaded.eval().encode(x)[0])


def test_a_config_in_the_old_layout_is_refused_in_one_line(saved):
    _, path = saved
    config = json.loads((path / "config.json").read_text())
    stats = config.pop("latent_stats")
    config.update(latents_mean=stats["mean"], latents_std=stats["std"])
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(UsageError, match="latents_mean, latents_std .*latent_stats") as err:
        CausalVAE.from_pretrained(path)
    assert "\n" not in str(err.value)


def test_latent_stats_must_have_a_mean_and_std_per_channel():
    with pytest.raises(UsageError, match="mean"):
        CausalVAE.from_preset("tiny").set_latent_stats(torch.zeros(3), torch.ones(3))
    with pytest.raises(UsageError, match="latent_stats must be"):
        CausalVAE(latent_channels=4, latent_stats={"mean": [0.0] * 4})


def test_corrupted_weights_refused(saved):
    _, path = saved
    data = bytearray((path / WEIGHTS_NAME).read_bytes())
    (path / WEIGHTS_NAME).write_bytes(bytes(data[: len(data) // 2]))  # truncated
    with pytest.raises(CorruptFileError, match="corrupt"):
        CausalVAE.from_pretrained(path)


def test_pickle_named_safetensors_refused(saved, monkeypatch):
    _, path = saved
    torch.save(CausalVAE.from_preset("tiny").state_dict(), path / WEIGHTS_NAME)  # a zip pickle

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", no_unpickling)
    with pytest.raises(CorruptFileError, match="not a safetensors file"):
        CausalVAE.from_pretrained(path)


def test_bin_weights_only_refused(saved):
    _, path = saved
    (path / WEIGHTS_NAME).unlink()
    torch.save({}, path / "diffusion_pytorch_model.bin")
    with pytest.raises(CorruptFileError, match="never loaded"):
        CausalVAE.from_pretrained(path)
    with pytest.raises(UsageError):
        CausalVAE.from_pretrained(path, use_safetensors=False)


def test_header_length_starting_with_0x80_is_not_mistaken_for_a_pickle(saved):
    # a safetensors header of 128 mod 256 bytes starts with byte 0x80, like a pickle does
    from safetensors.torch import save_file

    vae, path = saved
    state = {k: v.contiguous() for k, v in vae.state_dict().items()}
    for pad in range(256):
        save_file(state, str(path / WEIGHTS_NAME), metadata={"format": "pt", "pad": "x" * pad})
        if (path / WEIGHTS_NAME).read_bytes()[0] == 0x80:
            break
    assert (path / WEIGHTS_NAME).read_bytes()[0] == 0x80
    loaded = CausalVAE.from_pretrained(path)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in state.items())
